import Foundation

/// The protocol a message file belongs to.
public enum PSIProtocol: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Mutual PSI by commutative blinding.
    case mutual = 1
    /// Unbalanced PSI over the RFC 9497 OPRF.
    case unbalanced = 2
    /// Incremental daily runs of a mutual relationship (``IncrementalPSI``).
    case incremental = 3

    /// The protocol's name.
    public var description: String {
        switch self {
        case .mutual: return "mutual"
        case .unbalanced: return "unbalanced"
        case .incremental: return "incremental"
        }
    }
}

/// The header of a message file: 156 fixed bytes, then the extension block (see
/// `Docs/file-format.md`). The file ends with a trailer of 96 bytes: the SHA-256 of everything
/// before it and the sender's Ed25519 signature of that digest.
public struct MessageHeader: Sendable, Equatable {
    /// Size of the fixed part of the header (before the extension block).
    public static let fixedByteCount = 156
    /// The format version this library writes and reads.
    public static let currentVersion: UInt16 = 3
    /// The file magic: `SPSI\r\n\u{1a}\n`; the CR LF and SUB bytes catch text-mode transfers.
    public static let magic: [UInt8] = [0x53, 0x50, 0x53, 0x49, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Size of the trailing SHA-256 digest.
    public static let digestByteCount = 32
    /// Size of the trailer: the digest and the sender's Ed25519 signature.
    public static let trailerByteCount = digestByteCount + PartyIdentity.signatureByteCount
    /// Largest element size the format allows.
    public static let maximumElementSize = 1024
    /// What the sender signs before the digest (domain separation from any other Ed25519 use).
    static let signatureContext = Array("SodiumPSI-V2-message".utf8)

    /// Format version.
    public var version: UInt16
    /// Cryptographic suite.
    public var suite: PSISuite
    /// Protocol.
    public var protocolID: PSIProtocol
    /// Protocol step (for mutual PSI, a ``MutualPSIMessage/Kind`` raw value).
    public var kind: UInt8
    /// Protocol mode (for mutual PSI, a ``MutualPSIOutcome`` raw value).
    public var mode: UInt8
    /// Bytes per element.
    public var elementSize: Int
    /// The identifier type the elements were made from; nil where none applies.
    public var identifierType: IdentifierType?
    /// SHA-256 of the purpose label.
    public var purposeDigest: [UInt8]
    /// Session identifier.
    public var sessionID: SessionID
    /// Key identifier (all zero for mutual PSI).
    public var keyID: [UInt8]
    /// The party that signs the message.
    public var sender: PartyPublicKey
    /// The party the message is for; nil (all zero on the wire) for any reader, which only a
    /// published hub setup or delta may use.
    public var recipient: PartyPublicKey?
    /// Number of elements.
    public var count: Int
    /// The extension block.
    public var extensions: MessageExtensions

    /// Creates a header for the current format version.
    public init(suite: PSISuite, protocolID: PSIProtocol, kind: UInt8, mode: UInt8, elementSize: Int,
                identifierType: IdentifierType?, purposeDigest: [UInt8], sessionID: SessionID,
                keyID: [UInt8] = [UInt8](repeating: 0, count: 16), sender: PartyPublicKey, recipient: PartyPublicKey?,
                count: Int, extensions: MessageExtensions = MessageExtensions()) {
        self.version = Self.currentVersion
        self.suite = suite
        self.protocolID = protocolID
        self.kind = kind
        self.mode = mode
        self.elementSize = elementSize
        self.identifierType = identifierType
        self.purposeDigest = purposeDigest
        self.sessionID = sessionID
        self.keyID = keyID
        self.sender = sender
        self.recipient = recipient
        self.count = count
        self.extensions = extensions
    }

    /// Size of the encoded header: the fixed part and the extension block.
    public var byteCount: Int { Self.fixedByteCount + extensions.byteCount }

    /// The encoded header: the 156 fixed bytes and the extension block.
    package func encoded() -> [UInt8] {
        let block = extensions.encoded()
        var bytes = Self.magic
        bytes.reserveCapacity(Self.fixedByteCount + block.count)
        bytes += [UInt8(version >> 8), UInt8(version & 0xff), suite.rawValue, protocolID.rawValue, kind, mode,
                  UInt8(elementSize >> 8), UInt8(elementSize & 0xff),
                  identifierType?.kind.rawValue ?? 0, identifierType?.flags ?? 0,
                  UInt8(block.count >> 8), UInt8(block.count & 0xff)]
        bytes += purposeDigest
        bytes += sessionID.bytes
        bytes += keyID
        bytes += sender.bytes
        bytes += (recipient ?? .nobody).bytes
        bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(count) >> (8 * UInt64($0))) }
        precondition(bytes.count == Self.fixedByteCount)
        return bytes + block
    }

    /// The step, in words (``MutualPSIMessage/Kind`` names for mutual PSI,
    /// ``UnbalancedMessageKind`` names for unbalanced PSI).
    public var kindDescription: String {
        if protocolID == .mutual, let kind = MutualPSIMessage.Kind(rawValue: kind) { return kind.description }
        if protocolID == .unbalanced, let kind = UnbalancedMessageKind(rawValue: kind) { return kind.description }
        if protocolID == .incremental, let kind = IncrementalPSI.Part(rawValue: kind) { return kind.description }
        return "unknown step \(kind)"
    }

    /// The mode, in words (``MutualPSIOutcome`` names for mutual PSI; the answer mode and
    /// setup encoding for unbalanced PSI).
    public var modeDescription: String {
        if protocolID == .mutual, let mode = MutualPSIOutcome.decode(modeByte: mode) { return mode.outcome.modeDescription(verifiable: mode.verifiable) }
        if protocolID == .unbalanced { return UnbalancedMessageKind.modeDescription(mode) }
        return "mode \(mode)"
    }

    /// Total file length implied by the header: header, elements and trailer.
    /// Nil when the declared count is too large to be a real file.
    var expectedFileLength: Int? {
        MessageFileReader.fileLength(headerBytes: byteCount, count: count, elementSize: elementSize)
    }

    /// The bytes the sender signs: the context string and the digest.
    static func signedBytes(digest: [UInt8]) -> [UInt8] { signatureContext + digest }
}

/// What a reader requires of a message file; nil means "any".
public struct MessageExpectation: Sendable {
    /// The suite required.
    public var suite: PSISuite?
    /// The protocol required.
    public var protocolID: PSIProtocol?
    /// The steps accepted (message kind bytes).
    public var kinds: Set<UInt8>?
    /// The mode required (for mutual PSI, the outcome).
    public var mode: UInt8?
    /// The element size required.
    public var elementSize: Int?
    /// The identifier type required.
    public var identifierType: IdentifierType?
    /// The purpose-label digest required.
    public var purposeDigest: [UInt8]?
    /// The session required.
    public var sessionID: SessionID?
    /// The key identifier required.
    public var keyID: [UInt8]?
    /// The senders accepted; nil accepts any sender whose signature verifies (only for
    /// inspecting a file, never for acting on one).
    public var trustedSenders: Set<PartyPublicKey>?
    /// The reader's own key: a message for another party is refused. Nil: no check.
    public var recipient: PartyPublicKey?
    /// Also accept a message for any reader (recipient all zero): a published hub setup or delta.
    public var acceptsAnyReader: Bool
    /// The exact element count required.
    public var count: Int?
    /// The largest element count accepted.
    public var maximumCount: Int?

    /// Creates an expectation; every requirement is optional.
    public init(suite: PSISuite? = nil, protocolID: PSIProtocol? = nil, kinds: Set<UInt8>? = nil, mode: UInt8? = nil,
                elementSize: Int? = nil, identifierType: IdentifierType? = nil, purposeDigest: [UInt8]? = nil,
                sessionID: SessionID? = nil, keyID: [UInt8]? = nil, trustedSenders: Set<PartyPublicKey>? = nil,
                recipient: PartyPublicKey? = nil, acceptsAnyReader: Bool = false, count: Int? = nil, maximumCount: Int? = nil) {
        self.suite = suite
        self.protocolID = protocolID
        self.kinds = kinds
        self.mode = mode
        self.elementSize = elementSize
        self.identifierType = identifierType
        self.purposeDigest = purposeDigest
        self.sessionID = sessionID
        self.keyID = keyID
        self.trustedSenders = trustedSenders
        self.recipient = recipient
        self.acceptsAnyReader = acceptsAnyReader
        self.count = count
        self.maximumCount = maximumCount
    }
}
