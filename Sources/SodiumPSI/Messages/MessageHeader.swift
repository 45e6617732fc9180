import Foundation

/// The protocol a message file belongs to.
public enum PSIProtocol: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Mutual PSI by commutative blinding.
    case mutual = 1
    /// Unbalanced PSI over the RFC 9497 OPRF.
    case unbalanced = 2

    /// The protocol's name.
    public var description: String {
        switch self {
        case .mutual: return "mutual"
        case .unbalanced: return "unbalanced"
        }
    }
}

/// The fixed 88-byte header of a message file (see `Docs/file-format.md`).
public struct MessageHeader: Sendable, Equatable {
    /// Size of the encoded header.
    public static let byteCount = 88
    /// The format version this library writes and reads.
    public static let currentVersion: UInt16 = 1
    /// The file magic: `SPSI\r\n\u{1a}\n`; the CR LF and SUB bytes catch text-mode transfers.
    public static let magic: [UInt8] = [0x53, 0x50, 0x53, 0x49, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Size of the trailing SHA-256 digest.
    public static let digestByteCount = 32
    /// Largest element size the format allows.
    public static let maximumElementSize = 1024

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
    /// SHA-256 of the purpose label.
    public var purposeDigest: [UInt8]
    /// Session identifier.
    public var sessionID: SessionID
    /// Key identifier (all zero for mutual PSI).
    public var keyID: [UInt8]
    /// Number of elements.
    public var count: Int

    /// Creates a header for the current format version.
    public init(suite: PSISuite, protocolID: PSIProtocol, kind: UInt8, mode: UInt8, elementSize: Int,
                purposeDigest: [UInt8], sessionID: SessionID, keyID: [UInt8] = [UInt8](repeating: 0, count: 16), count: Int) {
        self.version = Self.currentVersion
        self.suite = suite
        self.protocolID = protocolID
        self.kind = kind
        self.mode = mode
        self.elementSize = elementSize
        self.purposeDigest = purposeDigest
        self.sessionID = sessionID
        self.keyID = keyID
        self.count = count
    }

    /// The 88 encoded bytes.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes += [UInt8(version >> 8), UInt8(version & 0xff), suite.rawValue, protocolID.rawValue, kind, mode,
                  UInt8(elementSize >> 8), UInt8(elementSize & 0xff)]
        bytes += purposeDigest
        bytes += sessionID.bytes
        bytes += keyID
        bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(count) >> (8 * UInt64($0))) }
        precondition(bytes.count == Self.byteCount)
        return bytes
    }

    /// The step, in words (``MutualPSIMessage/Kind`` names for mutual PSI,
    /// ``UnbalancedMessageKind`` names for unbalanced PSI).
    public var kindDescription: String {
        if protocolID == .mutual, let kind = MutualPSIMessage.Kind(rawValue: kind) { return kind.description }
        if protocolID == .unbalanced, let kind = UnbalancedMessageKind(rawValue: kind) { return kind.description }
        return "unknown step \(kind)"
    }

    /// The mode, in words (``MutualPSIOutcome`` names for mutual PSI; the answer mode and
    /// setup encoding for unbalanced PSI).
    public var modeDescription: String {
        if protocolID == .mutual, let mode = MutualPSIOutcome(rawValue: mode) { return mode.description }
        if protocolID == .unbalanced { return UnbalancedMessageKind.modeDescription(mode) }
        return "mode \(mode)"
    }

    /// Total file length implied by the header: header, elements and digest.
    /// Nil when the declared count is too large to be a real file.
    var expectedFileLength: Int? {
        let (body, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow, body <= Int.max - Self.byteCount - Self.digestByteCount else { return nil }
        return Self.byteCount + body + Self.digestByteCount
    }
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
    /// The purpose-label digest required.
    public var purposeDigest: [UInt8]?
    /// The session required.
    public var sessionID: SessionID?
    /// The key identifier required.
    public var keyID: [UInt8]?
    /// The exact element count required.
    public var count: Int?
    /// The largest element count accepted.
    public var maximumCount: Int?

    /// Creates an expectation; every requirement is optional.
    public init(suite: PSISuite? = nil, protocolID: PSIProtocol? = nil, kinds: Set<UInt8>? = nil, mode: UInt8? = nil,
                elementSize: Int? = nil, purposeDigest: [UInt8]? = nil, sessionID: SessionID? = nil, keyID: [UInt8]? = nil,
                count: Int? = nil, maximumCount: Int? = nil) {
        self.suite = suite
        self.protocolID = protocolID
        self.kinds = kinds
        self.mode = mode
        self.elementSize = elementSize
        self.purposeDigest = purposeDigest
        self.sessionID = sessionID
        self.keyID = keyID
        self.count = count
        self.maximumCount = maximumCount
    }
}
