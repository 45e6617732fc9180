internal import CSodium

/// Ed25519 signatures (RFC 8032, libsodium's `crypto_sign_*`), behind ``PartyIdentity`` and
/// ``PartyPublicKey``.
enum Ed25519 {
    /// The size of libsodium's expanded secret key (seed and public key).
    static let secretKeyByteCount = Int(crypto_sign_SECRETKEYBYTES)

    /// Whether 32 bytes are a canonical point of the prime-order subgroup: small-order and
    /// non-canonical keys would let a signer claim signatures that verify for several messages.
    static func isValidPublicKey(_ bytes: [UInt8]) -> Bool {
        ensureSodiumInitialized()
        return bytes.count == 32 && crypto_core_ed25519_is_valid_point(bytes) == 1
    }

    /// Whether `signature` (64 bytes) is `publicKey`'s signature of `message`.
    static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        ensureSodiumInitialized()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    /// Derives the key pair of a 32-byte seed: writes the expanded secret key to `secretKey`
    /// (``secretKeyByteCount`` bytes) and returns the public key.
    static func keyPair(seed: UnsafeRawPointer, secretKey: UnsafeMutableRawPointer) -> [UInt8] {
        ensureSodiumInitialized()
        var publicKey = [UInt8](repeating: 0, count: 32)
        _ = crypto_sign_seed_keypair(&publicKey, secretKey, seed)
        return publicKey
    }

    /// The 64-byte signature of `message` under an expanded secret key.
    static func sign(_ message: [UInt8], secretKey: UnsafeRawPointer) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }
}
