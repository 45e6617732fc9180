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

/// Keyed BLAKE2b (`crypto_generichash` with a key of 16 to 64 bytes) of `bytes`, `digest.count`
/// bytes long (16 to 64): the incremental exchange's item fingerprints.
func keyedBLAKE2b(_ bytes: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, into digest: inout [UInt8]) {
    _ = crypto_generichash(&digest, digest.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count),
                           key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
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

/// SipHash keyed with a random per-run key (`crypto_shorthash*`): bucket and block checks of
/// spilled and mapped data, and the binary fuse filter's slots. Not a cryptographic digest.
enum SipHash {
    /// The key size of both variants.
    static let keyByteCount = Int(crypto_shorthash_KEYBYTES)

    /// SipHash-2-4 of `bytes` (64 bits).
    static func hash64(_ bytes: UnsafeRawBufferPointer, key: UnsafeRawPointer) -> UInt64 {
        var out: UInt64 = 0
        withUnsafeMutableBytes(of: &out) { o in
            _ = crypto_shorthash(o.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                 UInt64(bytes.count), key.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }

    /// SipHashx-2-4 of `bytes` (128 bits), as its two little-endian words.
    static func hash128(_ bytes: UnsafeRawBufferPointer, key: UnsafeRawPointer) -> (UInt64, UInt64) {
        var out = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &out) { o in
            _ = crypto_shorthash_siphashx24(o.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                            UInt64(bytes.count), key.assumingMemoryBound(to: UInt8.self))
        }
        return (UInt64(littleEndian: out.0), UInt64(littleEndian: out.1))
    }
}

/// BLAKE2b-256 (`crypto_generichash`) over a stream: the digest of secret files. libsodium's
/// state must be 64-byte aligned, which Swift cannot promise for a stack value, so it lives in
/// its own allocation, wiped when released (it has absorbed secrets).
final class StateDigest {
    private let state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)

    init() { crypto_generichash_init(OpaquePointer(state), nil, 0, 32) }

    deinit {
        sodium_memzero(state, crypto_generichash_statebytes())
        state.deallocate()
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        crypto_generichash_update(OpaquePointer(state), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    func finish() -> [UInt8] {
        var sum = [UInt8](repeating: 0, count: 32)
        crypto_generichash_final(OpaquePointer(state), &sum, 32)
        return sum
    }
}
