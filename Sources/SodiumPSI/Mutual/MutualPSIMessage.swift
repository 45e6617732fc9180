import Foundation

/// One message of a mutual PSI exchange: a set of blinded or re-blinded elements.
///
/// The exchange has at most four messages:
///
/// | step | kind | from → to | content |
/// | --- | --- | --- | --- |
/// | 1 | ``Kind/initiatorBlindedSet`` | A → B | A's items, each `a·H(x)`, shuffled |
/// | 2 | ``Kind/responderBlindedSet`` | B → A | B's items, each `b·H(y)`, shuffled |
/// | 2 | ``Kind/initiatorSetReblinded`` | B → A | step 1 re-blinded, `b·a·H(x)`: in received order, or shuffled for cardinality only |
/// | 3 | ``Kind/responderSetReblinded`` | A → B | step 2's B set re-blinded, `a·b·H(y)` (not sent when only the initiator learns) |
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
    /// The exchange the message belongs to.
    public let context: ExchangeContext
    /// The elements, 32 bytes each on the wire.
    public let elements: [BlindedElement]
    /// The party that sends this message (from the context and the step).
    public var sender: PartyPublicKey { context.parties(of: kind).sender }
    /// The party this message is for.
    public var recipient: PartyPublicKey { context.parties(of: kind).recipient }
    /// True when the elements were already checked for all-zero values and repeats (by the
    /// file reader), so ``check(kind:context:count:maximumCount:)`` need not do it again.
    let elementsChecked: Bool
    /// True when every element's encoding was also checked against the suite (by the file
    /// reader), so a set that is only compared need not be checked again.
    let encodingsChecked: Bool

    /// Assembles a message, for example after reading it from a transport.
    public init(kind: Kind, context: ExchangeContext, elements: [BlindedElement]) {
        self.init(kind: kind, context: context, elements: elements, elementsChecked: false, encodingsChecked: false)
    }

    init(kind: Kind, context: ExchangeContext, elements: [BlindedElement], elementsChecked: Bool, encodingsChecked: Bool) {
        self.kind = kind
        self.context = context
        self.elements = elements
        self.elementsChecked = elementsChecked
        self.encodingsChecked = encodingsChecked
    }

    /// Checks every element's encoding against the suite, unless the reader already did.
    func checkEncodings(parallelism: Parallelism) throws {
        guard !encodingsChecked else { return }
        try MutualSuite(context.suite).check(elements, parallelism: parallelism)
    }

    /// Messages are equal when their step, exchange and elements are.
    public static func == (lhs: MutualPSIMessage, rhs: MutualPSIMessage) -> Bool {
        lhs.kind == rhs.kind && lhs.context == rhs.context && lhs.elements == rhs.elements
    }

    /// Checks a received message: its step, its exchange (parties, suite, identifier type,
    /// purpose, session, outcome), its size, and that no element repeats.
    ///
    /// - Parameters:
    ///   - kind: the step expected now.
    ///   - context: the exchange expected.
    ///   - count: the exact element count expected, when known.
    ///   - maximumCount: the largest peer set accepted by policy.
    func check(kind expectedKind: Kind, context expected: ExchangeContext, count: Int? = nil, maximumCount: Int? = nil) throws {
        guard kind == expectedKind else {
            throw PSIError.unexpectedMessage(expected: expectedKind.description, found: kind.description)
        }
        try expected.check(received: context, kind: kind)
        if let count, elements.count != count {
            throw PSIError.countMismatch(what: kind.description, count: elements.count, expected: count)
        }
        if let maximumCount, elements.count > maximumCount {
            throw PSIError.peerSetTooLarge(count: elements.count, limit: maximumCount)
        }
        guard !elementsChecked else { return }
        try MutualSuite(context.suite).checkNonZeroAndDistinct(elements)
    }
}
