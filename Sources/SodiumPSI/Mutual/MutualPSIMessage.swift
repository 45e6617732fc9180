import Foundation

/// One message of a mutual PSI exchange: a set of blinded or re-blinded elements.
///
/// The exchange has at most four messages:
///
/// | step | kind | from → to | content |
/// | --- | --- | --- | --- |
/// | 1 | ``Kind/initiatorBlindedSet`` | A → B | A's items, each `a·H(x)`, shuffled |
/// | 2 | ``Kind/responderBlindedSet`` | B → A | B's items, each `b·H(y)`, shuffled |
/// | 2 | ``Kind/initiatorSetReblinded`` | B → A | step 1 re-blinded, as hashes `H₃(b·a·H(x))`: in received order, or shuffled for cardinality only |
/// | 3 | ``Kind/responderSetReblinded`` | A → B | step 2's B set re-blinded, as hashes `H₄(a·b·H(y))` (not sent when only the initiator learns) |
///
/// The re-blinded sets are only compared by their receiver, so they travel as truncated,
/// domain-separated hashes of the points (see ``valueLength``), never as points the
/// receiver could copy into its own messages.
public struct MutualPSIMessage: Sendable, Equatable {
    /// Which step of the exchange a message is.
    public enum Kind: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
        /// Step 1: the initiator's blinded items.
        case initiatorBlindedSet = 1
        /// Step 2: the responder's blinded items.
        case responderBlindedSet = 2
        /// Step 2: the initiator's blinded items, re-blinded by the responder.
        case initiatorSetReblinded = 3
        /// Step 3: the responder's blinded items, re-blinded by the initiator.
        case responderSetReblinded = 4

        /// The step's name, as used in error messages.
        public var description: String {
            switch self {
            case .initiatorBlindedSet: return "initiator blinded set"
            case .responderBlindedSet: return "responder blinded set"
            case .initiatorSetReblinded: return "initiator set re-blinded by the responder"
            case .responderSetReblinded: return "responder set re-blinded by the initiator"
            }
        }

        /// Whether the initiator sends this step (steps 1 and 3); the responder sends step 2.
        public var isSentByInitiator: Bool { self == .initiatorBlindedSet || self == .responderSetReblinded }
    }

    /// The step.
    public let kind: Kind
    /// The exchange the message belongs to, as its header states it.
    public let context: ExchangeContext
    /// The message as it travels — header, elements, and the trailer with the sender's
    /// signature — byte for byte as in a message file (see `Docs/file-format.md`). Send these
    /// bytes over any transport; the receiver rebuilds the message with
    /// ``init(serializedBytes:)``.
    public let serializedBytes: [UInt8]
    /// The parsed header.
    let header: MessageHeader
    /// The party that sends this message (from the context and the step).
    public var sender: PartyPublicKey { context.parties(of: kind).sender }
    /// The party this message is for.
    public var recipient: PartyPublicKey { context.parties(of: kind).recipient }
    /// Bytes of each element on the wire: 32 for a blinded set, and for a re-blinded set the
    /// hash length both sides derive from the two set sizes (10 bytes for a million items a side).
    public var valueLength: Int { header.elementSize }
    /// Number of elements.
    public var count: Int { header.count }

    /// The elements, decoded from ``serializedBytes``. For the blinded sets, 32-byte points;
    /// for the re-blinded sets, hashes of ``valueLength`` bytes, zero-padded to 32. They are
    /// checked when a protocol step reads the message, not here.
    public var elements: [BlindedElement] {
        serializedBytes.withUnsafeBytes { all in
            let body = UnsafeRawBufferPointer(rebasing: all[header.byteCount..<(header.byteCount + count * valueLength)])
            return ComparisonHash.unpacked(body, length: valueLength)
        }
    }

    /// Rebuilds a message received from a transport.
    ///
    /// This checks the format (magic, version, a mutual-PSI step, lengths) and the sender's
    /// signature; the protocol step that consumes the message checks everything else exactly
    /// as for a file — sender trusted, recipient, suite, purpose, session, outcome, identifier
    /// type, counts, the digest and every element.
    ///
    /// - Throws: ``MessageFileError`` for bytes that are not a signed mutual-PSI message.
    public init(serializedBytes bytes: [UInt8]) throws {
        try self.init(serializedBytes: bytes, name: "a mutual PSI message")
    }

    init(serializedBytes bytes: [UInt8], name: String) throws {
        let reader = try MessageFileReader(serializedBytes: bytes, name: name, expecting: MessageExpectation(
            protocolID: .mutual, kinds: Set(Kind.allCases.map(\.rawValue))))
        try self.init(verified: bytes, header: reader.header, name: reader.path)
    }

    /// A message whose format and signature were checked (by a reader, or because this library
    /// wrote it).
    init(verified bytes: [UInt8], header: MessageHeader, name: String) throws {
        guard let kind = Kind(rawValue: header.kind) else {
            throw MessageFileError.wrongStep(path: name, found: header.kindDescription, expected: "a mutual PSI step")
        }
        guard let outcome = MutualPSIOutcome(rawValue: header.mode) else {
            throw MessageFileError.modeMismatch(path: name, found: header.modeDescription, expected: "a mutual PSI outcome")
        }
        guard let identifierType = header.identifierType else {
            throw MessageFileError.identifierTypeMismatch(path: name, found: "no identifier type", expected: "an identifier type")
        }
        guard let recipient = header.recipient else {
            throw MessageFileError.wrongRecipient(path: name, found: "any reader", expected: "the peer")
        }
        self.kind = kind
        self.header = header
        self.serializedBytes = bytes
        self.context = ExchangeContext(suite: header.suite, outcome: outcome, purposeDigest: header.purposeDigest,
                                       sessionID: header.sessionID,
                                       initiator: kind.isSentByInitiator ? header.sender : recipient,
                                       responder: kind.isSentByInitiator ? recipient : header.sender,
                                       identifierType: identifierType)
    }

    /// A message written by a step in memory.
    init(written writer: MessageFileWriter) {
        try! self.init(verified: writer.serializedBytes!, header: writer.header, name: writer.path)
    }

    /// Builds and signs a message, for example to test how a peer refuses a forged one.
    ///
    /// - Parameters:
    ///   - valueLength: bytes of each element on the wire (see ``valueLength``); for a
    ///     re-blinded set the bytes past it are dropped.
    ///   - identity: the sender's identity (the context's party who sends step `kind`).
    /// - Precondition: `identity` is the message's sender.
    public init(kind: Kind, context: ExchangeContext, elements: [BlindedElement], valueLength: Int = BlindedElement.byteCount,
                signedBy identity: PartyIdentity) {
        let writer = MessageFileWriter(header: .mutual(kind, context: context, count: elements.count, elementSize: valueLength),
                                       signer: identity)
        try! ComparisonHash.packed(elements, length: valueLength).withUnsafeBytes { try writer.append(elements: $0) }
        try! writer.seal()
        self.init(written: writer)
    }

    /// Messages are equal when their bytes are (signatures are deterministic).
    public static func == (lhs: MutualPSIMessage, rhs: MutualPSIMessage) -> Bool {
        lhs.serializedBytes == rhs.serializedBytes
    }
}
