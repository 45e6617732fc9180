import Foundation

/// The label both parties agree on for one kind of exchange, such as
/// `"2026 alliance agent phone numbers"`.
///
/// The label is hashed into every item, so values blinded for one purpose are useless for
/// another, and a message made under another label is refused. Messages carry only its
/// SHA-256 digest.
public struct PurposeLabel: Sendable, Hashable, Codable {
    /// Longest label, in UTF-8 bytes.
    public static let maximumByteCount = 255

    /// The label, in Unicode NFC.
    public let value: String

    /// Checks and normalises a label.
    ///
    /// - Throws: ``PSIError/invalidPurposeLabel(reason:)`` for an empty label, one longer
    ///   than 255 UTF-8 bytes, or one containing control characters.
    public init(_ value: String) throws {
        let normalized = value.precomposedStringWithCanonicalMapping
        guard !normalized.isEmpty else { throw PSIError.invalidPurposeLabel(reason: "it is empty; expected 1 to 255 bytes of text") }
        let bytes = normalized.utf8.count
        guard bytes <= Self.maximumByteCount else {
            throw PSIError.invalidPurposeLabel(reason: "it is \(bytes) UTF-8 bytes long; expected at most \(Self.maximumByteCount)")
        }
        guard !normalized.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw PSIError.invalidPurposeLabel(reason: "it contains control characters; expected printable text")
        }
        self.value = normalized
    }

    /// The UTF-8 bytes of the label.
    public var bytes: [UInt8] { Array(value.utf8) }

    /// SHA-256 of the label's UTF-8 bytes, as carried in message headers.
    public var digest: [UInt8] { sha256(bytes) }

    private enum CodingKeys: String, CodingKey { case value }

    /// Decodes a label (a state file's) with the same checks as ``init(_:)``.
    public init(from decoder: any Decoder) throws {
        try self.init(decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .value))
    }
}

/// A random 16-byte identifier for one exchange, chosen by the initiator.
public struct SessionID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Size of a session identifier.
    public static let byteCount = 16
    /// The identifier's bytes.
    public let bytes: [UInt8]

    /// A fresh random identifier.
    public static func random() -> SessionID {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeMutableBytes { fillRandom($0) }
        return SessionID(uncheckedBytes: bytes)
    }

    private init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// Wraps received bytes.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` unless exactly 16 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "session identifier", length: bytes.count, expected: Self.byteCount)
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

/// What the two parties of a mutual PSI learn (see the design brief's table).
public enum MutualPSIOutcome: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Both learn the intersection (and each other's set size).
    case bothLearn = 1
    /// Only the initiator learns the intersection; the responder learns the initiator's set size.
    case initiatorLearns = 2
    /// Both learn only how many items they share: re-blinded sets are returned shuffled, so
    /// neither side can tell which of its items matched.
    case cardinalityOnly = 3

    /// The outcome's name as the `psi` command spells it.
    public var description: String {
        switch self {
        case .bothLearn: return "both-learn"
        case .initiatorLearns: return "initiator-learns"
        case .cardinalityOnly: return "cardinality-only"
        }
    }
}

extension MutualPSIOutcome {
    /// Bit 4 of a mutual message's mode byte: the verifiable mode.
    static let verifiableFlag: UInt8 = 0x10

    /// A mutual message's mode byte: the outcome in the low bits, ``verifiableFlag`` when verifiable.
    func modeByte(verifiable: Bool) -> UInt8 { rawValue | (verifiable ? Self.verifiableFlag : 0) }

    /// Decodes a mutual mode byte; nil for an unknown outcome or another bit set.
    static func decode(modeByte byte: UInt8) -> (outcome: MutualPSIOutcome, verifiable: Bool)? {
        guard byte & ~(verifiableFlag | 0x0f) == 0, let outcome = MutualPSIOutcome(rawValue: byte & 0x0f) else { return nil }
        return (outcome, byte & verifiableFlag != 0)
    }

    /// The mode in words: `both-learn`, `both-learn, verifiable`.
    func modeDescription(verifiable: Bool) -> String { verifiable ? "\(self), verifiable" : description }
}

/// The cryptographic suite of an exchange.
public enum PSISuite: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// ristretto255 with hash-to-group by RFC 9380 `expand_message_xmd`(SHA-512): a
    /// prime-order group, the default.
    case ristretto255SHA512 = 1
    /// X25519 over the RFC 9380 map `curve25519_XMD:SHA-512_ELL2_NU_` (mutual PSI only):
    /// every item maps into Curve25519's prime-order subgroup, and a received value that is to
    /// be re-blinded is refused unless it lies there. See `Docs/protocol.md` for the
    /// construction and `Docs/threat-model.md` for its cost against ristretto255.
    case x25519ELL2SHA512 = 3

    /// Suite 2, x25519-SHA256, mapped items to `SHA-256(…)` with the top bit cleared, so about
    /// half of them landed on the twist and every blinded value told one bit about its item. It
    /// is no longer read or written.
    static let retired: [UInt8: String] = [2: "x25519-SHA256"]

    /// How an unknown suite byte is named in errors: a retired suite by its name and why.
    static func describeUnknown(_ raw: UInt8) -> String {
        if let name = retired[raw] {
            return "the retired suite \(name) (\(raw)), which leaked one bit of every item; use \(PSISuite.x25519ELL2SHA512) or \(PSISuite.ristretto255SHA512)"
        }
        return "unknown suite \(raw)"
    }

    /// The suite with this name, in any case (`ristretto255-sha512`, `x25519-ell2-sha512`).
    public init?(name: String) {
        guard let suite = Self.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else { return nil }
        self = suite
    }

    /// The suite with this name, in any case.
    ///
    /// - Throws: ``PSIError/retiredSuite(id:)`` for a retired suite's name, and
    ///   ``PSIError/unknownSuite(name:known:)`` for any other unknown name.
    public init(validatingName name: String) throws {
        if let suite = PSISuite(name: name) {
            self = suite
            return
        }
        if let old = Self.retired.first(where: { $0.value.lowercased() == name.lowercased() }) {
            throw PSIError.retiredSuite(id: old.key)
        }
        throw PSIError.unknownSuite(name: name, known: Self.allCases.map { $0.description.lowercased() })
    }

    /// Decodes the suite id (a state file's), refusing a retired one with why.
    ///
    /// - Throws: ``PSIError/retiredSuite(id:)``, or a `DecodingError` for an unknown id.
    public init(from decoder: any Decoder) throws {
        let id = try decoder.singleValueContainer().decode(UInt8.self)
        if let suite = PSISuite(rawValue: id) {
            self = suite
            return
        }
        if Self.retired[id] != nil { throw PSIError.retiredSuite(id: id) }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown suite \(id)"))
    }

    /// The suite's name.
    public var description: String {
        switch self {
        case .ristretto255SHA512: return "ristretto255-SHA512"
        case .x25519ELL2SHA512: return "x25519-ELL2-SHA512"
        }
    }
}

/// The public facts that bind a message to one exchange: suite, outcome, purpose, session,
/// the two parties' identity keys and the identifier type both declared.
public struct ExchangeContext: Sendable, Hashable, Codable {
    /// The suite.
    public let suite: PSISuite
    /// What the parties learn.
    public let outcome: MutualPSIOutcome
    /// SHA-256 of the purpose label.
    public let purposeDigest: [UInt8]
    /// The session chosen by the initiator.
    public let sessionID: SessionID
    /// The initiator's identity key (sender of steps 1 and 3).
    public let initiator: PartyPublicKey
    /// The responder's identity key (sender of step 2).
    public let responder: PartyPublicKey
    /// The identifier type both sides declared.
    public let identifierType: IdentifierType
    /// Verifiable mode (``MutualPSIConfiguration/verifiable``), carried in the header's mode byte.
    public let verifiable: Bool

    /// Creates a context (used by transports that rebuild messages from bytes).
    ///
    /// - Precondition: `purposeDigest` is 32 bytes (a ``PurposeLabel/digest``).
    public init(suite: PSISuite, outcome: MutualPSIOutcome, purposeDigest: [UInt8], sessionID: SessionID,
                initiator: PartyPublicKey, responder: PartyPublicKey, identifierType: IdentifierType, verifiable: Bool = false) {
        precondition(purposeDigest.count == MessageHeader.digestByteCount, "a purpose digest is 32 bytes")
        self.verifiable = verifiable
        self.suite = suite
        self.outcome = outcome
        self.purposeDigest = purposeDigest
        self.sessionID = sessionID
        self.initiator = initiator
        self.responder = responder
        self.identifierType = identifierType
    }

    private enum CodingKeys: String, CodingKey {
        case suite, outcome, purposeDigest, sessionID, initiator, responder, identifierType, verifiable
    }

    /// Decodes a context (a state file's), refusing a purpose digest of any length but 32 bytes.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)``, or a `DecodingError`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let digest = try c.decode([UInt8].self, forKey: .purposeDigest)
        guard digest.count == MessageHeader.digestByteCount else {
            throw PSIError.invalidLength(what: "purpose digest", length: digest.count, expected: MessageHeader.digestByteCount)
        }
        self.init(suite: try c.decode(PSISuite.self, forKey: .suite), outcome: try c.decode(MutualPSIOutcome.self, forKey: .outcome),
                  purposeDigest: digest, sessionID: try c.decode(SessionID.self, forKey: .sessionID),
                  initiator: try c.decode(PartyPublicKey.self, forKey: .initiator),
                  responder: try c.decode(PartyPublicKey.self, forKey: .responder),
                  identifierType: try c.decode(IdentifierType.self, forKey: .identifierType),
                  verifiable: try c.decode(Bool.self, forKey: .verifiable))
    }

    /// The party that sends a message of `kind`, and the party it is for.
    func parties(of kind: MutualPSIMessage.Kind) -> (sender: PartyPublicKey, recipient: PartyPublicKey) {
        kind.isSentByInitiator ? (initiator, responder) : (responder, initiator)
    }
}
