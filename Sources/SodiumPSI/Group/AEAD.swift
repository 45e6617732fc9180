internal import CSodium

/// XChaCha20-Poly1305 (libsodium's `crypto_aead_xchacha20poly1305_ietf_*`) with 32-byte keys,
/// and libsodium's BLAKE2b key derivation (`crypto_kdf_derive_from_key`): the hub's labels.
enum XChaCha20Poly1305 {
    /// The authentication tag appended to every ciphertext.
    static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// The nonce size (24 bytes).
    static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)

    /// Encrypts `plaintext` into `plaintext.count + tagByteCount` bytes at `output`.
    static func seal(_ plaintext: [UInt8], additionalData: [UInt8], nonce: [UInt8], key: UnsafeRawPointer,
                     into output: UnsafeMutableRawPointer) {
        precondition(nonce.count == nonceByteCount)
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(output.assumingMemoryBound(to: UInt8.self), nil, plaintext, UInt64(plaintext.count),
                                                       additionalData, UInt64(additionalData.count), nil, nonce,
                                                       key.assumingMemoryBound(to: UInt8.self))
    }

    /// Decrypts and authenticates `sealed` (ciphertext then tag); nil when it does not authenticate.
    static func open(_ sealed: UnsafeRawBufferPointer, additionalData: [UInt8], nonce: [UInt8], key: UnsafeRawPointer) -> [UInt8]? {
        precondition(nonce.count == nonceByteCount && sealed.count >= tagByteCount)
        var plaintext = [UInt8](repeating: 0, count: sealed.count - tagByteCount)
        let status = crypto_aead_xchacha20poly1305_ietf_decrypt(&plaintext, nil, nil, sealed.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                                UInt64(sealed.count), additionalData, UInt64(additionalData.count), nonce,
                                                                key.assumingMemoryBound(to: UInt8.self))
        return status == 0 ? plaintext : nil
    }

    /// `crypto_kdf_derive_from_key`: subkey `subkeyID` of the 32-byte `masterKey` under an
    /// 8-byte `context`, into `count` bytes at `output`.
    static func deriveKey(into output: UnsafeMutableRawPointer, count: Int, subkeyID: UInt64, context: [UInt8], masterKey: UnsafeRawPointer) {
        precondition(context.count == Int(crypto_kdf_CONTEXTBYTES))
        _ = context.withUnsafeBufferPointer { ctx in
            ctx.withMemoryRebound(to: CChar.self) { ctx in
                crypto_kdf_derive_from_key(output.assumingMemoryBound(to: UInt8.self), count, subkeyID, ctx.baseAddress!,
                                           masterKey.assumingMemoryBound(to: UInt8.self))
            }
        }
    }
}
