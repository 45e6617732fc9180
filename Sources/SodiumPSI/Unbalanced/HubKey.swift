public import Foundation
internal import CSodium

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
}

/// A hub's OPRF key, the answer mode it serves, and its key identifier.
///
/// Load it once (``load(from:)``) and share it: it is immutable and `Sendable`.
///
/// The key file (mode 0600, refused when group or others may access it) holds:
/// the magic `SPSIHKEY`, a version byte (1), the answer-mode byte, the 32-byte scalar skS, and
/// the 16-byte key identifier (checked against the scalar on load, which catches damage).
///
/// Rotation: generate a new key (``generate(answerMode:)``) and save it over the old file with
/// `replacing: true`, then publish a new setup. Requests made from setups under the old key
/// are refused by the hub (``UnbalancedPSIError/requestUnderOtherKey(path:requestKeyID:hubKeyID:)``).
public struct HubKey: Sendable {
    static let magic = Array("SPSIHKEY".utf8)
    static let version: UInt8 = 1
    static let fileByteCount = 8 + 1 + 1 + Scalar.byteCount + HubKeyID.byteCount

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
    ///     never overwritten.
    /// - Throws: ``UnbalancedPSIError/keyFileExists(path:)``, ``StateFileError/io(path:reason:)``.
    public func save(to url: URL, replacing: Bool = false) throws {
        if !replacing, FileManager.default.fileExists(atPath: url.path) {
            throw UnbalancedPSIError.keyFileExists(path: url.path)
        }
        // Reserved up front so that no reallocation leaves an unwiped copy of the scalar behind.
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.fileByteCount)
        defer { sodium_memzero(&bytes, bytes.count) }
        bytes += Self.magic + [Self.version, answerMode.rawValue]
        privateKey.scalar.secret.withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes += keyID.bytes
        try SecretFile.write(bytes, to: url)
    }

    /// Reads a key file.
    ///
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` when others may access the
    ///   file, ``StateFileError/io(path:reason:)`` when it cannot be read, and
    ///   ``UnbalancedPSIError/invalidKeyFile(path:reason:)`` when it is not a valid key file.
    public static func load(from url: URL) throws -> HubKey {
        var bytes = try SecretFile.read(from: url)
        defer { sodium_memzero(&bytes, bytes.count) }
        func invalid(_ reason: String) -> UnbalancedPSIError { .invalidKeyFile(path: url.path, reason: reason) }
        guard bytes.count >= 10, Array(bytes[0..<8]) == magic else {
            throw invalid("it does not start with the hub key magic SPSIHKEY")
        }
        guard bytes[8] == version else { throw invalid("format version \(bytes[8]); expected \(version)") }
        guard bytes.count == fileByteCount else { throw invalid("it is \(bytes.count) bytes long; expected \(fileByteCount)") }
        guard let mode = UnbalancedAnswerMode(rawValue: bytes[9]) else {
            throw invalid("unknown answer mode \(bytes[9]); expected 1 (intersection) or 2 (cardinality-only)")
        }
        let scalar: Scalar
        do { scalar = try Scalar(rawRepresentation: bytes[10..<42]) } catch {
            throw invalid("the key is not a valid non-zero scalar")
        }
        let key = HubKey(privateKey: try OPRF.PrivateKey(scalar: scalar), answerMode: mode)
        guard key.keyID.bytes == Array(bytes[42..<58]) else {
            throw invalid("the stored key identifier does not match the key; the file is damaged")
        }
        return key
    }
}
