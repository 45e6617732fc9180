import Foundation

/// Settings both parties of a mutual PSI must agree on, plus local policy.
public struct MutualPSIConfiguration: Sendable {
    /// The default ``maximumPeerSetSize``: one million items.
    public static let defaultMaximumPeerSetSize = 1_000_000

    /// The purpose label; both sides must use the same one.
    public var purpose: PurposeLabel
    /// What each side learns; both sides must use the same one.
    public var outcome: MutualPSIOutcome
    /// This party's identity: it signs every message this party writes.
    public var identity: PartyIdentity
    /// The counterparty's identity key: every message read must come from it, and every
    /// message written names it as recipient.
    public var peer: PartyPublicKey
    /// The identifier type both sides declared; every item must be of it.
    public var identifierType: IdentifierType
    /// The cryptographic suite; both sides must use the same one.
    public var suite: PSISuite
    /// The largest peer set this party agrees to re-blind (local policy).
    ///
    /// - Warning: PSI cannot stop a peer from putting every possible phone number in its set
    ///   and so learning this party's whole list. This limit is the only defence; set it to the
    ///   largest list a legitimate peer would hold.
    public var maximumPeerSetSize: Int
    /// How many threads blinding and re-blinding use.
    public var parallelism: Parallelism
    /// Called as blinding and re-blinding progress (from worker threads); nil for none.
    public var progress: ProgressHandler?
    /// How ``MutualPSIFileExchange`` bounds its memory (chunks, buckets, work folder).
    public var streaming: StreamingOptions

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - purpose: the agreed purpose label.
    ///   - outcome: the agreed outcome.
    ///   - identity: this party's signing identity.
    ///   - peer: the counterparty's identity key.
    ///   - identifierType: the identifier type both sides declared.
    ///   - suite: the agreed suite, default ristretto255-SHA512.
    ///   - maximumPeerSetSize: local policy, default ``defaultMaximumPeerSetSize``.
    ///   - parallelism: default all cores.
    ///   - progress: called as the long steps progress, default none.
    ///   - streaming: memory bounds of the file exchange, default ``StreamingOptions/default``.
    public init(purpose: PurposeLabel, outcome: MutualPSIOutcome, identity: PartyIdentity, peer: PartyPublicKey,
                identifierType: IdentifierType, suite: PSISuite = .ristretto255SHA512,
                maximumPeerSetSize: Int = defaultMaximumPeerSetSize, parallelism: Parallelism = .allCores,
                progress: ProgressHandler? = nil, streaming: StreamingOptions = .default) {
        self.identity = identity
        self.peer = peer
        self.identifierType = identifierType
        self.progress = progress
        self.streaming = streaming
        self.purpose = purpose
        self.outcome = outcome
        self.suite = suite
        self.maximumPeerSetSize = maximumPeerSetSize
        self.parallelism = parallelism
    }
}

extension MutualPSIConfiguration {
    /// The exchange context of a session in which this party plays `role`.
    func context(sessionID: SessionID, role: PartyStateFile.Role) -> ExchangeContext {
        let own = identity.publicKey
        return ExchangeContext(suite: suite, outcome: outcome, purposeDigest: purpose.digest, sessionID: sessionID,
                               initiator: role == .initiator ? own : peer, responder: role == .initiator ? peer : own,
                               identifierType: identifierType)
    }
}

/// How a party's own input was reduced before blinding.
public struct InputSummary: Sendable, Equatable, Codable {
    /// Items given.
    public let given: Int
    /// Distinct items blinded.
    public let distinct: Int
    /// Items dropped because they repeated an earlier item (`given - distinct`).
    public var duplicatesCollapsed: Int { given - distinct }
}

/// What a party learned at the end of a mutual PSI.
public enum MutualPSIResult: Sendable, Equatable {
    /// The items both sides hold.
    case intersection(Intersection)
    /// Only how many items both sides hold.
    case cardinality(Cardinality)

    /// The items both sides hold, from this party's own list.
    public struct Intersection: Sendable, Equatable {
        /// Positions of the shared items in this party's distinct items (ascending).
        public let indices: [Int]
        /// The shared items.
        public let items: [Identifier]
        /// This party's distinct item count.
        public let ownSetSize: Int
        /// The peer's set size.
        public let peerSetSize: Int
    }

    /// How many items both sides hold.
    public struct Cardinality: Sendable, Equatable {
        /// The size of the intersection.
        public let count: Int
        /// This party's distinct item count.
        public let ownSetSize: Int
        /// The peer's set size.
        public let peerSetSize: Int
    }

    /// The size of the intersection, whichever the outcome.
    public var count: Int {
        switch self {
        case .intersection(let i): return i.items.count
        case .cardinality(let c): return c.count
        }
    }
}

/// Blinds a party's distinct items in `context` and shuffles them; returns the elements to
/// send and, for each position, the index of the item sent there.
func blindAndShuffle(_ items: [Identifier], configuration: MutualPSIConfiguration, context: ExchangeContext,
                     secret: SecretBytes) throws -> (elements: [BlindedElement], sentOrder: [Int]) {
    var elements = try MutualSuite(configuration.suite)
        .blind(items, context: context, secret: secret, parallelism: configuration.parallelism,
               progress: configuration.progress)
    let sentOrder = cryptographicShuffle(&elements)
    return (elements, sentOrder)
}

/// What a party learns from its own set re-blinded by the peer (`returned`, in the order this
/// party sent it unless the outcome is cardinality-only) and the peer's set re-blinded by this
/// party (`peerDoubly`).
func intersect(returned: [BlindedElement], peerDoubly: [BlindedElement], outcome: MutualPSIOutcome,
               items: [Identifier], sentOrder: [Int]) -> MutualPSIResult {
    let peerSet = Set(peerDoubly)
    switch outcome {
    case .cardinalityOnly:
        // The peer shuffled `returned`, so only a count is possible.
        let count = returned.reduce(0) { $0 + (peerSet.contains($1) ? 1 : 0) }
        return .cardinality(.init(count: count, ownSetSize: items.count, peerSetSize: peerDoubly.count))
    case .bothLearn, .initiatorLearns:
        let indices = returned.indices.filter { peerSet.contains(returned[$0]) }.map { sentOrder[$0] }.sorted()
        return .intersection(.init(indices: indices, items: indices.map { items[$0] },
                                   ownSetSize: items.count, peerSetSize: peerDoubly.count))
    }
}

/// Collapses repeated identifiers, keeping the first occurrence and the input order.
func distinctItems(_ items: [Identifier]) -> ([Identifier], InputSummary) {
    var seen = Set<Identifier>(minimumCapacity: items.count)
    let distinct = items.filter { seen.insert($0).inserted }
    return (distinct, InputSummary(given: items.count, distinct: distinct.count))
}

// MARK: - Initiator

/// The party that starts a mutual PSI (party A).
///
/// ```swift
/// let a = try MutualPSIInitiator(items: myItems, configuration: config)
/// send(a.blindedSet)                                       // step 1
/// let done = try a.finish(responderBlindedSet: m1, initiatorSetReblinded: m2)
/// if let m3 = done.responderSetReblinded { send(m3) }      // step 3
/// ```
public struct MutualPSIInitiator: Sendable {
    /// The agreed settings and local policy.
    public let configuration: MutualPSIConfiguration
    /// The exchange this party started (fresh session identifier).
    public let context: ExchangeContext
    /// This party's distinct items, in input order.
    public let items: [Identifier]
    /// How the input was reduced.
    public let inputSummary: InputSummary
    /// Step 1, to send to the responder.
    public let blindedSet: MutualPSIMessage

    let secret: SecretBytes
    /// `sentOrder[position]` is the index in ``items`` of the element sent at `position`.
    let sentOrder: [Int]

    /// Rebuilds a saved initiator (see `PartyState.swift`).
    init(restoring configuration: MutualPSIConfiguration, context: ExchangeContext, items: [Identifier],
         inputSummary: InputSummary, blindedSet: MutualPSIMessage, secret: SecretBytes, sentOrder: [Int]) {
        self.configuration = configuration
        self.context = context
        self.items = items
        self.inputSummary = inputSummary
        self.blindedSet = blindedSet
        self.secret = secret
        self.sentOrder = sentOrder
    }

    /// Blinds and shuffles this party's items under a fresh random secret.
    ///
    /// - Parameters:
    ///   - items: this party's items; repeats are collapsed (see ``inputSummary``).
    ///   - configuration: the agreed settings.
    public init(items: [Identifier], configuration: MutualPSIConfiguration) throws {
        try self.init(items: items, configuration: configuration, secret: MutualSuite(configuration.suite).newSecret())
    }

    /// Blinds with a given secret and session (known-answer tests only).
    init(items: [Identifier], configuration: MutualPSIConfiguration, secret: SecretBytes,
         sessionID: SessionID = .random()) throws {
        try configuration.identifierType.check(items)
        (self.items, self.inputSummary) = distinctItems(items)
        self.configuration = configuration
        self.secret = secret
        self.context = configuration.context(sessionID: sessionID, role: .initiator)
        let (elements, sentOrder) = try blindAndShuffle(self.items, configuration: configuration, context: context, secret: secret)
        self.sentOrder = sentOrder
        self.blindedSet = MutualPSIMessage(kind: .initiatorBlindedSet, context: context, elements: elements)
    }

    /// The end of the initiator's part: the result and, unless only the initiator learns,
    /// step 3 for the responder.
    public struct Completion: Sendable {
        /// What the initiator learned.
        public let result: MutualPSIResult
        /// Step 3, to send to the responder; nil when the outcome is ``MutualPSIOutcome/initiatorLearns``.
        public let responderSetReblinded: MutualPSIMessage?
    }

    /// Consumes step 2 and computes the result.
    ///
    /// - Parameters:
    ///   - responderBlindedSet: the responder's blinded items.
    ///   - initiatorSetReblinded: this party's step 1, re-blinded by the responder.
    /// - Throws: a ``PSIError`` naming the problem when a message is of the wrong step, another
    ///   exchange, too large, of the wrong count, or holds a repeated element.
    public func finish(responderBlindedSet: MutualPSIMessage, initiatorSetReblinded: MutualPSIMessage) throws -> Completion {
        try responderBlindedSet.check(kind: .responderBlindedSet, context: context,
                                      maximumCount: configuration.maximumPeerSetSize)
        let sizes = (initiator: blindedSet.elements.count, responder: responderBlindedSet.elements.count)
        let compared = ComparisonHash(.initiatorSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let sent = ComparisonHash(.responderSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        try initiatorSetReblinded.check(kind: .initiatorSetReblinded, context: context, count: sizes.initiator, hash: compared)
        let peerDoubly = try MutualSuite(configuration.suite).reblind(responderBlindedSet.elements, secret: secret,
                                                                      parallelism: configuration.parallelism,
                                                                      progress: configuration.progress)
        let result = intersect(returned: initiatorSetReblinded.elements,
                               peerDoubly: try compared.values(of: peerDoubly, parallelism: configuration.parallelism),
                               outcome: configuration.outcome, items: items, sentOrder: sentOrder)
        guard configuration.outcome != .initiatorLearns else { return Completion(result: result, responderSetReblinded: nil) }
        var reply = try sent.values(of: peerDoubly, parallelism: configuration.parallelism)
        if configuration.outcome == .cardinalityOnly { cryptographicShuffle(&reply) }
        return Completion(result: result, responderSetReblinded:
            MutualPSIMessage(kind: .responderSetReblinded, context: context, elements: reply, valueLength: sent.length))
    }
}

// MARK: - Responder

/// The party that answers a mutual PSI (party B).
///
/// ```swift
/// var b = try MutualPSIResponder(items: myItems, configuration: config)
/// let reply = try b.respond(to: step1)        // send reply.responderBlindedSet and reply.initiatorSetReblinded
/// let result = try b.finish(responderSetReblinded: step3)   // unless only the initiator learns
/// ```
public struct MutualPSIResponder: Sendable {
    /// The agreed settings and local policy.
    public let configuration: MutualPSIConfiguration
    /// This party's distinct items, in input order.
    public let items: [Identifier]
    /// How the input was reduced.
    public let inputSummary: InputSummary

    let secret: SecretBytes
    /// Set by ``respond(to:)``.
    private(set) var exchange: Exchange?

    /// The exchange a responder answered.
    struct Exchange: Sendable {
        /// The initiator's session, adopted.
        let context: ExchangeContext
        /// This party's items blinded under the context, in the order sent.
        let blindedElements: [BlindedElement]
        /// `sentOrder[position]` is the index in ``MutualPSIResponder/items`` of the element sent at `position`.
        let sentOrder: [Int]
        /// The initiator's set re-blinded, as the hashes step 3 must match.
        let initiatorDoubly: [BlindedElement]
    }

    /// Rebuilds a saved responder (see `PartyState.swift`).
    init(restoring configuration: MutualPSIConfiguration, items: [Identifier], inputSummary: InputSummary, secret: SecretBytes,
         exchange: Exchange) {
        self.configuration = configuration
        self.items = items
        self.inputSummary = inputSummary
        self.secret = secret
        self.exchange = exchange
    }

    /// Checks and collapses this party's items under a fresh random secret. They are blinded
    /// when step 1 arrives: every item is hashed under the initiator's session and both
    /// parties' identities (``respond(to:)``).
    public init(items: [Identifier], configuration: MutualPSIConfiguration) throws {
        try self.init(items: items, configuration: configuration, secret: MutualSuite(configuration.suite).newSecret())
    }

    /// With a given secret (known-answer tests only).
    init(items: [Identifier], configuration: MutualPSIConfiguration, secret: SecretBytes) throws {
        try configuration.identifierType.check(items)
        (self.items, self.inputSummary) = distinctItems(items)
        self.configuration = configuration
        self.secret = secret
    }

    /// Step 2: the responder's messages.
    public struct Reply: Sendable {
        /// The responder's blinded items.
        public let responderBlindedSet: MutualPSIMessage
        /// The initiator's items re-blinded: in received order, or shuffled for cardinality only.
        public let initiatorSetReblinded: MutualPSIMessage
        /// The initiator's set size, which the responder always learns.
        public let peerSetSize: Int
    }

    /// Checks step 1, re-blinds it, blinds this party's items in its exchange and returns step 2.
    ///
    /// The responder adopts the initiator's session identifier; the sender (the configured
    /// peer), the recipient (this party), the identifier type, the purpose digest and the
    /// outcome must match its own configuration.
    ///
    /// - Throws: ``PSIError/unexpectedMessage(expected:found:)`` when this responder has answered
    ///   a step 1 already (its secret answers one exchange only),
    ///   ``PSIError/peerSetTooLarge(count:limit:)`` before any work when the initiator's
    ///   set exceeds ``MutualPSIConfiguration/maximumPeerSetSize``, and the errors of a received
    ///   message otherwise.
    public mutating func respond(to initiatorBlindedSet: MutualPSIMessage) throws -> Reply {
        // One step 1 per secret: answering a second would re-blind a second peer set with it.
        if let exchange {
            throw PSIError.unexpectedMessage(expected: "no second step 1 (this responder answered session \(exchange.context.sessionID) already; blind again for another exchange)",
                                             found: "a step 1 of session \(initiatorBlindedSet.context.sessionID)")
        }
        let context = configuration.context(sessionID: initiatorBlindedSet.context.sessionID, role: .responder)
        try initiatorBlindedSet.check(kind: .initiatorBlindedSet, context: context,
                                      maximumCount: configuration.maximumPeerSetSize)
        let doubly = try MutualSuite(configuration.suite)
            .reblind(initiatorBlindedSet.elements, secret: secret, parallelism: configuration.parallelism,
                     progress: configuration.progress)
        let (blindedElements, sentOrder) = try blindAndShuffle(items, configuration: configuration, context: context, secret: secret)
        let sizes = (initiator: initiatorBlindedSet.elements.count, responder: blindedElements.count)
        let sent = ComparisonHash(.initiatorSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let kept = ComparisonHash(.responderSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        var returned = try sent.values(of: doubly, parallelism: configuration.parallelism)
        if configuration.outcome == .cardinalityOnly { cryptographicShuffle(&returned) }
        exchange = Exchange(context: context, blindedElements: blindedElements, sentOrder: sentOrder,
                            initiatorDoubly: try kept.values(of: doubly, parallelism: configuration.parallelism))
        return Reply(
            responderBlindedSet: MutualPSIMessage(kind: .responderBlindedSet, context: context, elements: blindedElements),
            initiatorSetReblinded: MutualPSIMessage(kind: .initiatorSetReblinded, context: context, elements: returned,
                                                    valueLength: sent.length),
            peerSetSize: initiatorBlindedSet.elements.count)
    }

    /// Consumes step 3 and computes the result.
    ///
    /// - Throws: ``PSIError/unexpectedMessage(expected:found:)`` if called before
    ///   ``respond(to:)`` or when only the initiator learns, and the errors of a received
    ///   message otherwise.
    public func finish(responderSetReblinded: MutualPSIMessage) throws -> MutualPSIResult {
        guard let exchange else {
            throw PSIError.unexpectedMessage(expected: MutualPSIMessage.Kind.initiatorBlindedSet.description,
                                             found: responderSetReblinded.kind.description)
        }
        guard configuration.outcome != .initiatorLearns else {
            throw PSIError.outcomeMismatch(expected: configuration.outcome.description,
                                           found: "a step 3 message, which only \(MutualPSIOutcome.bothLearn) and \(MutualPSIOutcome.cardinalityOnly) send")
        }
        let hash = ComparisonHash(.responderSetReblinded, initiatorCount: exchange.initiatorDoubly.count,
                                  responderCount: exchange.blindedElements.count)
        try responderSetReblinded.check(kind: .responderSetReblinded, context: exchange.context,
                                        count: exchange.blindedElements.count, hash: hash)
        return intersect(returned: responderSetReblinded.elements, peerDoubly: exchange.initiatorDoubly,
                         outcome: configuration.outcome, items: items, sentOrder: exchange.sentOrder)
    }
}
