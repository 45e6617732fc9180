public import Foundation

/// What a member of an unbalanced PSI learns: which of its items the hub holds, or only how many.
///
/// A hub key serves exactly one answer mode (it is fixed when the key is generated): answering
/// an intersection-mode request against a cardinality-mode setup would let the member unblind
/// its items one by one and learn which of them match.
public enum UnbalancedAnswerMode: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The member learns which of its items are in the hub's list.
    case intersection = 1
    /// The member learns only how many of its items are in the hub's list.
    case cardinalityOnly = 2

    /// The mode's name as the `psi` command spells it.
    public var description: String {
        switch self {
        case .intersection: return "intersection"
        case .cardinalityOnly: return "cardinality-only"
        }
    }
}

/// A hub key's public identifier: the first 16 bytes of
/// `SHA-256("SodiumPSI-V1-hub-key-id" || pkS)`.
///
/// Derived from the public key, so a setup, request or response cannot carry a key identifier
/// that belongs to another key by mistake. Every unbalanced message carries it in its header.
public struct HubKeyID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Size of a key identifier.
    public static let byteCount = 16
    static let label = Array("SodiumPSI-V1-hub-key-id".utf8)

    /// The identifier's bytes.
    public let bytes: [UInt8]

    /// The identifier of a public key.
    ///
    /// - Parameter publicKey: the hub's public key pkS.
    public init(publicKey: GroupElement) {
        bytes = Array(sha256(Self.label + publicKey.rawRepresentation).prefix(Self.byteCount))
    }

    /// Wraps 16 received bytes.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` unless exactly 16 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "hub key identifier", length: bytes.count, expected: Self.byteCount)
        }
        self.bytes = bytes
    }

    /// Lower-case hex.
    public var description: String { bytes.hexString }

    private enum CodingKeys: String, CodingKey { case bytes }

    /// Decodes an identifier (a state file's), refusing any length but 16 bytes.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)``.
    public init(from decoder: any Decoder) throws {
        try self.init(bytes: decoder.container(keyedBy: CodingKeys.self).decode([UInt8].self, forKey: .bytes))
    }
}

/// A hub's OPRF key, the answer mode it serves, and its key identifier.
///
/// Load it once (``load(from:)``) and share it: it is immutable and `Sendable`.
///
/// The key file is a ``SecretContainer`` (mode 0600, refused when group or others may access
/// it or another user owns it, digest-checked) of content 4, layout version 2, exactly 116
/// bytes: the secret is the 32-byte scalar skS; the body is the answer-mode byte and the 16-byte
/// key identifier (checked against the scalar on load); the description is empty.
///
/// Rotation: generate a new key (``generate(answerMode:)``) and save it over the old file with
/// `replacing: true`, then publish a new setup. Requests made from setups under the old key
/// are refused by the hub (``UnbalancedPSIError/requestUnderOtherKey(path:requestKeyID:hubKeyID:)``).
public struct HubKey: Sendable {
    /// The key file's body: the answer mode and the key identifier.
    static let bodyByteCount = 1 + HubKeyID.byteCount

    /// The OPRF private key.
    public let privateKey: OPRF.PrivateKey
    /// The answer mode this key serves.
    public let answerMode: UnbalancedAnswerMode
    /// The key identifier carried in every setup, request and response.
    public let keyID: HubKeyID

    /// Wraps an existing OPRF key.
    ///
    /// - Parameters:
    ///   - privateKey: the OPRF key.
    ///   - answerMode: the one answer mode this key serves.
    public init(privateKey: OPRF.PrivateKey, answerMode: UnbalancedAnswerMode) {
        self.privateKey = privateKey
        self.answerMode = answerMode
        self.keyID = HubKeyID(publicKey: privateKey.publicKey)
    }

    /// A fresh random key.
    ///
    /// - Parameter answerMode: the one answer mode the key serves.
    public static func generate(answerMode: UnbalancedAnswerMode) -> HubKey {
        HubKey(privateKey: .random(), answerMode: answerMode)
    }

    /// Writes the key file atomically with mode 0600.
    ///
    /// - Parameters:
    ///   - url: the key file.
    ///   - replacing: replace an existing file (key rotation). Without it an existing file is
    ///     never overwritten: the file is linked under its name, which fails if anything is
    ///     there, so no file that appears meanwhile is overwritten either.
    /// - Throws: ``UnbalancedPSIError/keyFileExists(path:)``, ``OutputFileError``.
    public func save(to url: URL, replacing: Bool = false) throws {
        let writer = try privateKey.scalar.secret.withUnsafeBytes {
            try SecretContainer.Writer(url: url, content: .hubKey, secret: $0)
        }
        try writer.write([answerMode.rawValue] + keyID.bytes)
        try writer.seal(description: [])
        do { try writer.commit(replacing: replacing) } catch OutputFileError.exists(let path) {
            throw UnbalancedPSIError.keyFileExists(path: path)
        }
    }

    /// Reads a key file.
    ///
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` when others may access the
    ///   file, ``StateFileError/foreignOwner(path:owner:)`` for another user's file,
    ///   ``StateFileError/io(path:reason:)`` when it cannot be read, and
    ///   ``UnbalancedPSIError/invalidKeyFile(path:reason:)`` when it is not a valid key file
    ///   (its size, checked before anything is read, is exactly 116 bytes).
    public static func load(from url: URL) throws -> HubKey {
        try load(from: url, expectedOwner: geteuid())
    }

    static func load(from url: URL, expectedOwner: uid_t) throws -> HubKey {
        func invalid(_ reason: String) -> UnbalancedPSIError { .invalidKeyFile(path: url.path, reason: reason) }
        let container = try SecretContainer.Reader(url: url, content: .hubKey, invalid: invalid, expectedOwner: expectedOwner)
        guard container.bodyByteCount == bodyByteCount, container.description.isEmpty else {
            throw invalid("its body is \(container.bodyByteCount) bytes and its description \(container.description.count); expected \(bodyByteCount) and 0")
        }
        let body = try container.bodyBytes(at: 0, count: bodyByteCount)
        guard let mode = UnbalancedAnswerMode(rawValue: body[0]) else {
            throw invalid("unknown answer mode \(body[0]); expected 1 (intersection) or 2 (cardinality-only)")
        }
        let scalar: Scalar
        do { scalar = try container.secret.withUnsafeBytes { try Scalar(rawRepresentation: $0) } } catch {
            throw invalid("the key is not a valid non-zero scalar")
        }
        let key = HubKey(privateKey: try OPRF.PrivateKey(scalar: scalar), answerMode: mode)
        guard key.keyID.bytes == Array(body[1...]) else {
            throw invalid("the stored key identifier does not match the key; the file is damaged")
        }
        return key
    }
}
