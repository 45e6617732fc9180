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
    }

    /// The step.
    public let kind: Kind
    /// The exchange the message belongs to.
    public let context: ExchangeContext
    /// The elements. For the blinded sets, 32-byte points; for the re-blinded sets, hashes of
    /// ``valueLength`` bytes, zero-padded to 32 in memory.
    public let elements: [BlindedElement]
    /// Bytes of each element on the wire: 32 for a blinded set, and for a re-blinded set the
    /// hash length both sides derive from the two set sizes (10 bytes for a million items a side).
    public let valueLength: Int
    /// True when the elements were already checked for all-zero values and repeats (by the
    /// file reader), so ``check(kind:context:count:maximumCount:)`` need not do it again.
    let elementsChecked: Bool

    /// Assembles a message, for example after reading it from a transport.
    ///
    /// - Parameters:
    ///   - valueLength: bytes of each element on the wire (see ``valueLength``); for a
    ///     re-blinded set the bytes past it must be zero.
    public init(kind: Kind, context: ExchangeContext, elements: [BlindedElement], valueLength: Int = BlindedElement.byteCount) {
        self.init(kind: kind, context: context, elements: elements, valueLength: valueLength,
                  elementsChecked: false)
    }

    init(kind: Kind, context: ExchangeContext, elements: [BlindedElement], valueLength: Int = BlindedElement.byteCount,
         elementsChecked: Bool) {
        self.kind = kind
        self.context = context
        self.elements = elements
        self.valueLength = valueLength
        self.elementsChecked = elementsChecked
    }

    /// Whether the step's elements are hashes that are only compared (the re-blinded sets).
    var isCompared: Bool { kind == .initiatorSetReblinded || kind == .responderSetReblinded }

    /// Messages are equal when their step, exchange and elements are.
    public static func == (lhs: MutualPSIMessage, rhs: MutualPSIMessage) -> Bool {
        lhs.kind == rhs.kind && lhs.context == rhs.context && lhs.valueLength == rhs.valueLength && lhs.elements == rhs.elements
    }

    /// Checks a received message: its step, its exchange, its size, and that no element repeats.
    ///
    /// - Parameters:
    ///   - kind: the step expected now.
    ///   - context: the exchange expected.
    ///   - count: the exact element count expected, when known.
    ///   - maximumCount: the largest peer set accepted by policy.
    ///   - hash: for a re-blinded set, the hash its values must be of (its length is checked).
    func check(kind expectedKind: Kind, context expected: ExchangeContext, count: Int? = nil, maximumCount: Int? = nil,
               hash: ComparisonHash? = nil) throws {
        guard kind == expectedKind else {
            throw PSIError.unexpectedMessage(expected: expectedKind.description, found: kind.description)
        }
        try expected.check(received: context)
        if let count, elements.count != count {
            throw PSIError.countMismatch(what: kind.description, count: elements.count, expected: count)
        }
        let expectedLength = hash?.length ?? BlindedElement.byteCount
        guard valueLength == expectedLength else {
            throw PSIError.invalidLength(what: "each value of the \(kind)", length: valueLength, expected: expectedLength)
        }
        if valueLength < BlindedElement.byteCount,
           let index = elements.firstIndex(where: { $0.withUnsafeBytes { $0[valueLength...].contains { $0 != 0 } } }) {
            throw PSIError.invalidLength(what: "value at position \(index) of the \(kind)", length: BlindedElement.byteCount,
                                         expected: valueLength)
        }
        if let maximumCount, elements.count > maximumCount {
            throw PSIError.peerSetTooLarge(count: elements.count, limit: maximumCount)
        }
        guard !elementsChecked else { return }
        try MutualSuite(context.suite).checkNonZeroAndDistinct(elements)
    }
}
