public import Foundation
internal import CSodium

/// RFC 9380 `expand_message_xmd` with SHA-512, and hash-to-group for ristretto255
/// (`hash_to_ristretto255`, RFC 9380 §6.8 / RFC 9496 §4.3.4).
///
/// A context absorbs the 128-byte zero block and a fixed message prefix once; hashing an item
/// then copies that SHA-512 state instead of recomputing it, which matters on the hot path.
public struct HashToGroup: Sendable {
    /// SHA-512 output and block sizes (RFC 9380 `b_in_bytes`, `s_in_bytes`).
    static let hashBytes = 64
    static let blockBytes = 128

    /// `DST || I2OSP(len(DST), 1)`, after the oversize-DST rule.
    let dstPrime: [UInt8]
    /// SHA-512 state after absorbing `Z_pad || messagePrefix`.
    private let prefixState: crypto_hash_sha512_state

    /// A context for one DST and message prefix.
    ///
    /// - Parameters:
    ///   - domainSeparationTag: the DST. Tags longer than 255 bytes are first hashed as
    ///     RFC 9380 §5.3.3 prescribes.
    ///   - messagePrefix: bytes that every hashed message starts with (may be empty).
    public init(domainSeparationTag: some Sequence<UInt8>, messagePrefix: some Sequence<UInt8> = [UInt8]()) {
        var dst = Array(domainSeparationTag)
        if dst.count > 255 {
            dst = sha512(Array("H2C-OVERSIZE-DST-".utf8) + dst)
        }
        self.dstPrime = dst + [UInt8(dst.count)]
        var state = crypto_hash_sha512_state()
        crypto_hash_sha512_init(&state)
        let zeroPad = [UInt8](repeating: 0, count: Self.blockBytes)
        crypto_hash_sha512_update(&state, zeroPad, UInt64(zeroPad.count))
        let prefix = Array(messagePrefix)
        crypto_hash_sha512_update(&state, prefix, UInt64(prefix.count))
        self.prefixState = state
    }

    /// `expand_message_xmd(prefix || message, DST, length)` with SHA-512.
    ///
    /// - Parameters:
    ///   - message: the message, after the context's prefix.
    ///   - length: output length, 1...16320 (at most 255 SHA-512 blocks).
    public func expandMessage(_ message: some DataProtocol, length: Int) -> [UInt8] {
        precondition(length > 0 && length <= 255 * Self.hashBytes, "expand_message_xmd length out of range")
        let contiguous = Array(message)
        var output = [UInt8](repeating: 0, count: length)
        contiguous.withUnsafeBytes { msg in
            output.withUnsafeMutableBytes { out in expandMessage(msg, into: out) }
        }
        return output
    }

    /// Hashes `prefix || message` to a ristretto255 element.
    ///
    /// The result is the identity only with negligible probability; protocol code checks.
    public func element(for message: some DataProtocol) -> GroupElement {
        Array(message).withUnsafeBytes { element(for: $0) }
    }

    /// Hot-path form of ``element(for:)`` over raw bytes.
    func element(for message: UnsafeRawBufferPointer) -> GroupElement {
        withUnsafeTemporaryAllocation(byteCount: Self.hashBytes, alignment: 16) { uniform in
            expandMessage(message, into: uniform)
            let element = GroupElement.fromUniformBytes(uniform.baseAddress!)
            return element
        }
    }

    /// RFC 9497 `HashToScalar` for ristretto255: `expand_message_xmd(prefix || message, DST, 64)`
    /// read as a little-endian integer and reduced modulo ℓ, into 32 bytes at `output`.
    ///
    /// The context's DST must be the caller's `"HashToScalar-" || contextString`.
    func scalar(for message: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(byteCount: Self.hashBytes, alignment: 16) { uniform in
            expandMessage(message, into: uniform)
            crypto_core_ristretto255_scalar_reduce(output, uniform.baseAddress!)
            sodium_memzero(uniform.baseAddress!, Self.hashBytes)
        }
    }

    /// Hot-path form of ``expandMessage(_:length:)``: `output.count` bytes (1...16320) into `output`,
    /// keeping no copy: the scratch blocks are wiped, and libsodium wipes the hash states it finalises.
    func expandMessage(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        let length = output.count
        let blocks = (length + Self.hashBytes - 1) / Self.hashBytes
        var state = prefixState
        if let base = message.baseAddress, message.count > 0 {
            crypto_hash_sha512_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(message.count))
        }
        // Scratch on the stack, not three arrays an item: b_0, b_(i-1), and the next input block.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 3 * Self.hashBytes + 3) { scratch in
            let b0 = scratch.baseAddress!
            let previous = b0 + Self.hashBytes
            let chunk = previous + Self.hashBytes
            let trailer = chunk + Self.hashBytes
            // l_i_b_str || I2OSP(0, 1) || DST_prime
            trailer[0] = UInt8(length >> 8)
            trailer[1] = UInt8(length & 0xff)
            trailer[2] = 0
            crypto_hash_sha512_update(&state, trailer, 3)
            crypto_hash_sha512_update(&state, dstPrime, UInt64(dstPrime.count))
            crypto_hash_sha512_final(&state, b0)
            for i in 1...blocks {
                // b_1 = H(b_0 || 1 || DST'); b_i = H((b_0 XOR b_(i-1)) || i || DST')
                for j in 0..<Self.hashBytes { chunk[j] = i == 1 ? b0[j] : b0[j] ^ previous[j] }
                var block = crypto_hash_sha512_state()
                crypto_hash_sha512_init(&block)
                crypto_hash_sha512_update(&block, chunk, UInt64(Self.hashBytes))
                var counter = UInt8(i)
                crypto_hash_sha512_update(&block, &counter, 1)
                crypto_hash_sha512_update(&block, dstPrime, UInt64(dstPrime.count))
                crypto_hash_sha512_final(&block, previous)
                let start = (i - 1) * Self.hashBytes
                let count = min(Self.hashBytes, length - start)
                (output.baseAddress! + start).copyMemory(from: previous, byteCount: count)
            }
            // The blocks determine the output, which may be a secret (DeriveKeyPair).
            sodium_memzero(b0, 3 * Self.hashBytes + 3)
        }
    }
}

/// `I2OSP(value, 2)`, big-endian.
func i2osp2(_ value: Int) -> [UInt8] { [UInt8((value >> 8) & 0xff), UInt8(value & 0xff)] }
