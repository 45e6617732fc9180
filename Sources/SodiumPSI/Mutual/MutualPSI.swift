public import Foundation

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
    /// How the steps bound their memory (chunks, buckets, work folder).
    public var streaming: StreamingOptions
    /// Set by ``PSIExecutor`` for an `async` step: cancelled with the step's task.
    var cancellation: CancellationFlag?

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
        ensureSodiumInitialized()
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

/// Collapses repeated identifiers, keeping the first occurrence and the input order (the hub
/// and the member; mutual PSI collapses repeats by blinded value in ``blindList``, which is the
/// same rule: equal identifiers, and only they, blind to equal values).
func distinctItems(_ items: [Identifier]) -> ([Identifier], InputSummary) {
    var seen = Set<Identifier>(minimumCapacity: items.count)
    let distinct = items.filter { seen.insert($0).inserted }
    return (distinct, InputSummary(given: items.count, distinct: distinct.count))
}

/// A party's state between the steps of the in-memory API: the state a file exchange would
/// save, kept in memory (see ``PartyStateFile``).
///
/// `@unchecked Sendable` is safe: the state is complete when this is made and never changes;
/// reading it (from a buffer in memory) mutates nothing.
final class KeptState: @unchecked Sendable {
    let reader: PartyStateFile.Reader
    init(_ reader: PartyStateFile.Reader) { self.reader = reader }

    /// The records, in input order.
    func items() throws -> [Identifier] {
        var items = [Identifier]()
        items.reserveCapacity(reader.metadata.itemCount)
        try reader.forEachRecord { _, record in items.append(record.identifier) }
        return items
    }

    /// Saves this state to a file (mode 0600) with the one state writer.
    func save(to url: URL, role: PartyStateFile.Role) throws {
        let writer = try PartyStateFile.Writer(.file(url), role: role, secret: reader.secret)
        try reader.copyBody(count: reader.ownSectionsByteCount + 32 * (reader.metadata.peerCount ?? 0), to: writer)
        try writer.seal(reader.metadata)
        try writer.commit(replacing: true)
    }

    /// Restores a state saved to a file into memory; a finished state is refused (restored, it
    /// could finish a second time).
    static func restore(from url: URL, role: PartyStateFile.Role) throws -> KeptState {
        let file = try PartyStateFile.Reader(url: url, role: role)
        guard file.metadata.finishedWith == nil else { throw StateFileError.alreadyFinished(path: url.path) }
        // Checked now, as a finish step checks them while it reads: a forged order could
        // otherwise report the wrong records, a damaged record fail a later step.
        try file.forEachSentOrderChunk(1 << 16) { _, _ in }
        try file.forEachRecord { _, _ in }
        let writer = try PartyStateFile.Writer(.memory, role: role, secret: file.secret)
        try file.copyBody(count: file.ownSectionsByteCount + 32 * (file.metadata.peerCount ?? 0), to: writer)
        try writer.seal(file.metadata)
        return KeptState(try writer.memoryState())
    }
}

extension MutualPSIMessage.Kind {
    /// What a step calls a message of this kind given in memory, in errors.
    var nameInMemory: String { "the \(description) given in memory" }
}

/// Records for items given as an array (no line numbers; the original text is the canonical form).
private func records(of items: [Identifier]) -> RecordSource {
    RecordSource(count: items.count) { body in
        for item in items { try body(ListRecord(identifier: item, original: item.canonical, lineNumber: 0)) }
    }
}

// MARK: - Initiator

/// The party that starts a mutual PSI (party A), with everything in memory.
///
/// It runs the same steps as ``MutualPSIFileExchange`` (the streaming engine, with its
/// temporary files and its state in memory), and its messages are the bytes of message files
/// (``MutualPSIMessage/serializedBytes``), read with the same checks.
///
/// ```swift
/// let a = try MutualPSIInitiator(items: myItems, configuration: config)
/// send(a.blindedSet.serializedBytes)                       // step 1
/// let done = try a.finish(responderBlindedSet: m1, initiatorSetReblinded: m2)
/// if let m3 = done.responderSetReblinded { send(m3.serializedBytes) }   // step 3
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

    let state: KeptState

    /// Blinds and shuffles this party's items under a fresh random secret.
    ///
    /// - Parameters:
    ///   - items: this party's items; repeats are collapsed (see ``inputSummary``).
    ///   - configuration: the agreed settings.
    /// - Throws: ``PSIError/itemTypeMismatch(index:found:expected:)`` for an item of another
    ///   identifier type than the configuration's.
    public init(items: [Identifier], configuration: MutualPSIConfiguration) throws {
        try self.init(items: items, configuration: configuration, secret: nil)
    }

    /// Blinds with a given secret (known-answer tests only).
    init(items: [Identifier], configuration: MutualPSIConfiguration, secret: SecretBytes?) throws {
        try self.init(source: records(of: items), configuration: configuration, secret: secret)
    }

    /// Step 1 from any record source (an array, an `AsyncSequence`).
    init(source: RecordSource, configuration: MutualPSIConfiguration, secret: SecretBytes?) throws {
        let step = try MutualSteps.initiate(source, configuration: configuration, secret: secret,
                                            work: .inMemory(), state: .memory,
                                            message: .memory(name: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory))
        try self.init(configuration: configuration, state: KeptState(step.state.memoryState()),
                      blindedSet: MutualPSIMessage(written: step.message))
    }

    private init(configuration: MutualPSIConfiguration, state: KeptState, blindedSet: MutualPSIMessage) throws {
        self.configuration = configuration
        self.state = state
        self.context = blindedSet.context
        self.items = try state.items()
        self.inputSummary = state.reader.metadata.inputSummary
        self.blindedSet = blindedSet
    }

    /// The end of the initiator's part: the result and, unless only the initiator learns,
    /// step 3 for the responder.
    public struct Completion: Sendable {
        /// What the initiator learned.
        public let result: MutualPSIResult
        /// Step 3, to send to the responder; nil when the outcome is ``MutualPSIOutcome/initiatorLearns``.
        public let responderSetReblinded: MutualPSIMessage?
        /// The run's receipt, signed by this party.
        public let receipt: RunReceipt
    }

    /// Consumes step 2 and computes the result.
    ///
    /// - Parameters:
    ///   - responderBlindedSet: the responder's blinded items.
    ///   - initiatorSetReblinded: this party's step 1, re-blinded by the responder.
    /// - Throws: a ``MessageFileError`` naming the message and the problem when a message is of
    ///   the wrong step, another exchange, not signed by the peer, too large, of the wrong count,
    ///   or holds an invalid or repeated element — the checks of a message file.
    public func finish(responderBlindedSet: MutualPSIMessage, initiatorSetReblinded: MutualPSIMessage) throws -> Completion {
        try finish(responderBlindedSet: responderBlindedSet, initiatorSetReblinded: initiatorSetReblinded, configuration: configuration)
    }

    /// The step with `configuration` (an executor's threads, progress and cancellation).
    func finish(responderBlindedSet: MutualPSIMessage, initiatorSetReblinded: MutualPSIMessage,
                configuration: MutualPSIConfiguration) throws -> Completion {
        let done = try MutualSteps.finishInitiator(
            state: state.reader, configuration: configuration,
            responderSet: .bytes(responderBlindedSet.serializedBytes, name: MutualPSIMessage.Kind.responderBlindedSet.nameInMemory),
            reblinded: .bytes(initiatorSetReblinded.serializedBytes, name: MutualPSIMessage.Kind.initiatorSetReblinded.nameInMemory),
            reply: .memory(name: MutualPSIMessage.Kind.responderSetReblinded.nameInMemory), work: .inMemory())
        let receipt = MutualSteps.receipt(.initiator, state.reader.metadata, identity: configuration.identity, context: done.context,
                                          peerSetSize: done.peerSetSize, resultCount: done.result.count, transcript: done.transcript)
        return Completion(result: done.result, responderSetReblinded: done.reply.map(MutualPSIMessage.init(written:)),
                          receipt: receipt)
    }

    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``finish(responderBlindedSet:initiatorSetReblinded:)`` in a later process (or for
    /// ``MutualPSIFileExchange/finishInitiator(stateURL:identity:peer:responderSetURL:reblindedURL:replyURL:parallelism:progress:streaming:reviewPurpose:)``).
    public func save(to url: URL) throws { try state.save(to: url, role: .initiator) }

    /// Restores an initiator saved with ``save(to:)`` (or by ``MutualPSIFileExchange``).
    ///
    /// - Parameters:
    ///   - url: the state file.
    ///   - identity: this party's identity (the state keeps only its public key).
    ///   - parallelism: threads for later steps.
    /// - Throws: ``StateFileError`` when the file is readable by others or belongs to another
    ///   user, is not an initiator's state, is damaged, or has finished its exchange
    ///   (``StateFileError/alreadyFinished(path:)``); ``PSIError/identityMismatch(found:expected:)``
    ///   for another identity.
    public init(restoringFrom url: URL, identity: PartyIdentity, parallelism: Parallelism = .allCores) throws {
        let state = try KeptState.restore(from: url, role: .initiator)
        let m = state.reader.metadata
        guard let context = m.context else {
            throw StateFileError.invalidStateFile(path: url.path, reason: "the initiator's exchange is incomplete")
        }
        let configuration = try m.configuration(identity: identity, parallelism: parallelism, progress: nil)
        // Step 1 again, from the stored set: the same bytes (Ed25519 signatures are deterministic).
        let message = MutualPSIMessage.Kind.initiatorBlindedSet
        let writer = MessageFileWriter(header: .mutual(message, context: context, count: m.itemCount), signer: identity,
                                       name: message.nameInMemory)
        try state.reader.writeSentElements(to: writer)
        try writer.seal()
        try self.init(configuration: configuration, state: state, blindedSet: MutualPSIMessage(written: writer))
    }
}

// MARK: - Responder

/// The party that answers a mutual PSI (party B), with everything in memory (see
/// ``MutualPSIInitiator``).
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

    /// The state: before ``respond(to:)`` without an exchange, after it with the hashes step 3
    /// must match.
    private(set) var state: KeptState

    /// Blinds and shuffles this party's items (before or after step 1 arrives) under a fresh
    /// random secret.
    ///
    /// - Throws: ``PSIError/itemTypeMismatch(index:found:expected:)`` for an item of another
    ///   identifier type than the configuration's.
    public init(items: [Identifier], configuration: MutualPSIConfiguration) throws {
        try self.init(items: items, configuration: configuration, secret: nil)
    }

    /// Blinds with a given secret (known-answer tests only).
    init(items: [Identifier], configuration: MutualPSIConfiguration, secret: SecretBytes?) throws {
        try self.init(source: records(of: items), configuration: configuration, secret: secret)
    }

    /// Blinds records from any source (an array, an `AsyncSequence`).
    init(source: RecordSource, configuration: MutualPSIConfiguration, secret: SecretBytes?) throws {
        let state = try MutualSteps.blindResponder(source, configuration: configuration, secret: secret, work: .inMemory())
        try self.init(configuration: configuration, state: KeptState(state))
    }

    private init(configuration: MutualPSIConfiguration, state: KeptState) throws {
        self.configuration = configuration
        self.state = state
        self.items = try state.items()
        self.inputSummary = state.reader.metadata.inputSummary
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

    /// Checks step 1, re-blinds it and returns step 2.
    ///
    /// The responder adopts the initiator's session identifier; the sender (the configured
    /// peer), the recipient (this party), the identifier type, the purpose digest and the
    /// outcome must match its own configuration.
    ///
    /// - Throws: ``PSIError/unexpectedMessage(expected:found:)`` when this responder has answered
    ///   a step 1 already (its secret answers one exchange only),
    ///   ``MessageFileError/peerSetTooLarge(path:count:limit:)`` before any work when the
    ///   initiator's set exceeds ``MutualPSIConfiguration/maximumPeerSetSize``, and the errors of
    ///   a received message file otherwise.
    public mutating func respond(to initiatorBlindedSet: MutualPSIMessage) throws -> Reply {
        try respond(to: initiatorBlindedSet, configuration: configuration)
    }

    /// The step with `configuration` (an executor's threads, progress and cancellation).
    mutating func respond(to initiatorBlindedSet: MutualPSIMessage, configuration: MutualPSIConfiguration) throws -> Reply {
        let m = state.reader.metadata
        // One step 1 per secret: answering a second would re-blind a second peer set with it.
        if let context = m.context {
            throw PSIError.unexpectedMessage(expected: "no second step 1 (this responder answered session \(context.sessionID) already; blind again for another exchange)",
                                             found: "a step 1 of session \(initiatorBlindedSet.context.sessionID)")
        }
        let request = try MutualSteps.openRequest(
            .bytes(initiatorBlindedSet.serializedBytes, name: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory),
            configuration: configuration)
        try MutualSteps.checkPeerSetSize(request, configuration: configuration)
        let step = try MutualSteps.answer(
            request, own: state.reader, secret: state.reader.secret, configuration: configuration, work: .inMemory(),
            startedAt: m.transcript?.startedAt ?? Date(), state: .memory,
            responderSet: .memory(name: MutualPSIMessage.Kind.responderBlindedSet.nameInMemory),
            reblinded: .memory(name: MutualPSIMessage.Kind.initiatorSetReblinded.nameInMemory))
        state = KeptState(try step.state.memoryState())
        return Reply(responderBlindedSet: MutualPSIMessage(written: step.responderSet),
                     initiatorSetReblinded: MutualPSIMessage(written: step.reblinded), peerSetSize: step.peerCount)
    }

    /// Consumes step 3 and computes the result.
    ///
    /// - Throws: ``PSIError/unexpectedMessage(expected:found:)`` if called before
    ///   ``respond(to:)``, ``PSIError/outcomeMismatch(expected:found:)`` when only the initiator
    ///   learns, and the errors of a received message file otherwise.
    public func finish(responderSetReblinded: MutualPSIMessage) throws -> MutualPSIResult {
        try finish(responderSetReblinded: responderSetReblinded, configuration: configuration)
    }

    /// The step with `configuration` (an executor's threads, progress and cancellation).
    func finish(responderSetReblinded: MutualPSIMessage, configuration: MutualPSIConfiguration) throws -> MutualPSIResult {
        guard state.reader.metadata.context != nil else {
            throw PSIError.unexpectedMessage(expected: MutualPSIMessage.Kind.initiatorBlindedSet.description,
                                             found: responderSetReblinded.kind.description)
        }
        let done = try MutualSteps.finishResponder(
            state: state.reader, configuration: configuration,
            reply: .bytes(responderSetReblinded.serializedBytes, name: MutualPSIMessage.Kind.responderSetReblinded.nameInMemory),
            work: .inMemory())
        return done.result
    }

    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``respond(to:)`` or ``finish(responderSetReblinded:)`` in a later process.
    public func save(to url: URL) throws { try state.save(to: url, role: .responder) }

    /// Restores a responder saved with ``save(to:)`` (or by ``MutualPSIFileExchange``).
    ///
    /// - Parameters:
    ///   - url: the state file.
    ///   - identity: this party's identity (the state keeps only its public key).
    ///   - parallelism: threads for later steps.
    /// - Throws: ``StateFileError`` when the file is readable by others or belongs to another
    ///   user, is not a responder's state, is damaged, or has finished its exchange
    ///   (``StateFileError/alreadyFinished(path:)``); ``PSIError/identityMismatch(found:expected:)``
    ///   for another identity.
    ///
    /// - Warning: a responder saved before it answered step 1 answers one step 1 only (a
    ///   restored responder refuses a second). Restoring the same saved file twice, to answer
    ///   two initiators, would re-blind both sets with one secret: save after ``respond(to:)``,
    ///   or delete the file once it is restored. (``MutualPSIFileExchange`` always blinds with a
    ///   fresh secret.)
    public init(restoringFrom url: URL, identity: PartyIdentity, parallelism: Parallelism = .allCores) throws {
        let state = try KeptState.restore(from: url, role: .responder)
        let configuration = try state.reader.metadata.configuration(identity: identity, parallelism: parallelism, progress: nil)
        try self.init(configuration: configuration, state: state)
    }
}
