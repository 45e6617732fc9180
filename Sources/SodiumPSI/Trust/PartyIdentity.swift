public import Foundation

/// An institution's public signing key (Ed25519, libsodium `crypto_sign`): it names a party
/// in message headers, is bound into every hashed item, and verifies the party's signatures.
public struct PartyPublicKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Size of an Ed25519 public key.
    public static let byteCount = 32
    /// The key's 32 bytes.
    public let bytes: [UInt8]

    /// The all-zero value a header carries as recipient when a message is for anyone (a
    /// published hub setup). It is never a party's key.
    static let nobody = PartyPublicKey(uncheckedBytes: [UInt8](repeating: 0, count: byteCount))

    init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// Wraps received key bytes.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` unless exactly 32 bytes,
    ///   ``PSIError/invalidPublicKey`` for the all-zero value or bytes that are not a valid
    ///   Ed25519 point of the prime-order subgroup.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "Ed25519 public key", length: bytes.count, expected: Self.byteCount)
        }
        guard Ed25519.isValidPublicKey(bytes) else { throw PSIError.invalidPublicKey }
        self.bytes = bytes
    }

    /// The key in hex, as peers files write it.
    public var hex: String { bytes.hexString }

    /// Parses the hex form (``hex``).
    ///
    /// - Throws: ``PSIError/invalidPublicKey`` for text that is not 64 hex digits of a valid key.
    public init(hex: String) throws {
        guard let bytes = [UInt8](hexString: hex), bytes.count == Self.byteCount else { throw PSIError.invalidPublicKey }
        try self.init(bytes: bytes)
    }

    /// A short name people compare when they exchange keys: `ed25519:` and the first 16 bytes
    /// of SHA-256 of the key, in hex groups of four.
    public var fingerprint: String {
        let digest = sha256(Array("SodiumPSI-V2-fingerprint".utf8) + bytes).prefix(16).hexString
        var groups = [Substring]()
        var rest = Substring(digest)
        while !rest.isEmpty {
            groups.append(rest.prefix(4))
            rest = rest.dropFirst(4)
        }
        return "ed25519:" + groups.joined(separator: "-")
    }

    /// The fingerprint.
    public var description: String { fingerprint }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    public func isValidSignature(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        Ed25519.verify(signature, of: message, publicKey: bytes)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(hex: decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// An institution's signing identity: an Ed25519 key pair whose secret half stays in wiped
/// memory. Services keep the 32-byte seed in their own key store and pass it to
/// ``init(seed:)``; the `psi` command keeps it in an identity file (mode 0600).
///
/// `@unchecked Sendable` is safe: the secret key is written once in `init` and read-only after.
public final class PartyIdentity: @unchecked Sendable {
    /// Size of an Ed25519 signature.
    public static let signatureByteCount = 64
    /// Size of the seed an identity is derived from.
    public static let seedByteCount = 32

    /// The public half, shared with counterparties.
    public let publicKey: PartyPublicKey
    /// libsodium's 64-byte secret key (seed and public key).
    private let secretKey: SecretBytes
    /// The seed, for saving the identity.
    let seed: SecretBytes

    /// A new random identity.
    public convenience init() {
        let seed = SecretBytes(count: Self.seedByteCount) { fillRandom($0) }
        self.init(validSeed: seed)
    }

    /// The identity derived from a 32-byte seed (as `crypto_sign_seed_keypair`).
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` unless exactly 32 bytes.
    public convenience init(seed bytes: some ContiguousBytes) throws {
        let seed = try bytes.withUnsafeBytes { raw in
            guard raw.count == Self.seedByteCount else {
                throw PSIError.invalidLength(what: "identity seed", length: raw.count, expected: Self.seedByteCount)
            }
            return SecretBytes(count: Self.seedByteCount) { $0.copyMemory(from: raw) }
        }
        self.init(validSeed: seed)
    }

    init(validSeed seed: SecretBytes) {
        var publicBytes = [UInt8]()
        self.secretKey = SecretBytes(count: Ed25519.secretKeyByteCount) { secret in
            publicBytes = seed.withUnsafeBytes { Ed25519.keyPair(seed: $0.baseAddress!, secretKey: secret.baseAddress!) }
        }
        self.seed = seed
        self.publicKey = PartyPublicKey(uncheckedBytes: publicBytes)
    }

    /// The seed's bytes, for callers that store the identity in their own key store.
    ///
    /// - Warning: the seed is the identity's secret: keep it encrypted at rest.
    public func withSeedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try seed.withUnsafeBytes(body)
    }

    /// This identity's Ed25519 signature of `message` (64 bytes).
    public func signature(of message: [UInt8]) -> [UInt8] {
        secretKey.withUnsafeBytes { Ed25519.sign(message, secretKey: $0.baseAddress!) }
    }
}
