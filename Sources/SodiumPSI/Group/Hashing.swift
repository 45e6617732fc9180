internal import CSodium

/// Incremental SHA-256 (libsodium's `crypto_hash_sha256_*`), for digests of streamed bytes:
/// message files, list files, fingerprints.
///
/// A value type: a copy continues independently, so a caller can finish a copy for a
/// running digest and keep feeding the original.
struct SHA256Hasher {
    private var state = crypto_hash_sha256_state()

    init() { crypto_hash_sha256_init(&state) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The 32-byte digest. The hasher must not be updated afterwards.
    mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &digest)
        return digest
    }
}

/// Incremental SHA-512 (libsodium's `crypto_hash_sha512_*`): OPRF finalisation, comparison
/// values, transcript hashes. A value type, like ``SHA256Hasher``.
struct SHA512Hasher {
    private var state = crypto_hash_sha512_state()

    init() { crypto_hash_sha512_init(&state) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        crypto_hash_sha512_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Writes the 64-byte digest to `output`. The hasher must not be updated afterwards.
    mutating func finalize(into output: UnsafeMutableRawPointer) {
        crypto_hash_sha512_final(&state, output.assumingMemoryBound(to: UInt8.self))
    }
}

/// SHA-512 of `bytes`.
func sha512(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 64)
    crypto_hash_sha512(&out, bytes, UInt64(bytes.count))
    return out
}

/// SHA-256 of `bytes` (package access: the service target hashes request bodies with it).
package func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    crypto_hash_sha256(&out, bytes, UInt64(bytes.count))
    return out
}

/// Overwrites `bytes` with zeros in a way the compiler cannot drop (`sodium_memzero`).
func wipe(_ bytes: UnsafeMutableRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    sodium_memzero(base, bytes.count)
}

/// Whether all `count` bytes at `bytes` are zero, in constant time (`sodium_is_zero`).
func isAllZero(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
    sodium_is_zero(bytes.assumingMemoryBound(to: UInt8.self), count) == 1
}
