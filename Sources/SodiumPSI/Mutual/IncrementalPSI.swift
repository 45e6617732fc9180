public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Incremental daily runs between two institutions for one purpose (see `Docs/protocol.md`,
/// "Incremental relationships").
///
/// A relationship keeps, per epoch, each side's long-lived scalar and what it compares: its own
/// items' comparison values and the peer's. A run (a "day") blinds and sends only the items
/// added since the last run, and announces removals by values both sides already hold; a new
/// epoch (fresh scalars, fresh epoch identifier) is a full exchange. Each run has the four
/// messages of mutual PSI: message 1 (initiator), message 2 (responder), message 3 (initiator),
/// then the responder finishes. Each message is a sequence of signed message-container parts
/// (protocol 3), each self-delimiting, so a message streams over any byte stream.
///
/// Each side's state changes only when it finishes a run, by atomic replacement: a run stopped at
/// any point leaves the previous day's state valid, and the run can be repeated from its start.
///
/// - Warning: within an epoch each side learns how many items the other added and removed each
///   day, and recognises an item removed and later re-added (its comparison value is the same);
///   a new epoch restores unlinkability across the boundary. See `Docs/threat-model.md`.
public enum IncrementalPSI {
    /// The parts of the three messages (message header kind byte, protocol 3).
    public enum Part: UInt8, Sendable, CustomStringConvertible {
        /// Message 1: epoch, day and flags (three 8-byte big-endian words).
        case runInfo = 1
        /// Message 1: the initiator's added items, blinded (32 bytes each, shuffled).
        case initiatorAdded = 2
        /// Message 1: the initiator's removed items, as the comparison values the responder holds (16 bytes each, sorted).
        case initiatorRemoved = 3
        /// Message 2: the responder's added items, blinded (32 bytes each, shuffled).
        case responderAdded = 5
        /// Message 2: the responder's removed items, as the removal keys the initiator holds (16 bytes each, sorted).
        case responderRemoved = 6
        /// Message 2: the initiator's added items re-blinded, as comparison values in received order (16 bytes each).
        case initiatorAddedReblinded = 7
        /// Message 3: the responder's added items re-blinded, as comparison values in received order (16 bytes each).
        case responderAddedReblinded = 8

        public var description: String {
            switch self {
            case .runInfo: return "incremental run info"
            case .initiatorAdded: return "initiator's added items"
            case .initiatorRemoved: return "initiator's removed items"
            case .responderAdded: return "responder's added items"
            case .responderRemoved: return "responder's removed items"
            case .initiatorAddedReblinded: return "initiator's added items re-blinded"
            case .responderAddedReblinded: return "responder's added items re-blinded"
            }
        }

        var elementSize: Int {
            switch self {
            case .runInfo: return 8
            case .initiatorAdded, .responderAdded: return BlindedElement.byteCount
            default: return Value16.byteCount
            }
        }
    }

    /// The header's mode byte for incremental messages.
    static let mode: UInt8 = 1
    /// Flag bit 0 of the run info: a full exchange (a new epoch).
    static let fullFlag: UInt64 = 1
    /// Comparison values: SHA-512(len || DST || kind || point), first 16 bytes.
    static let compareTag = Array("SodiumPSI-V1-incremental-compare".utf8)
    /// Kind bytes of the two comparison hashes.
    static let initiatorCompareKind: UInt8 = 0x01
    static let responderCompareKind: UInt8 = 0x02
    /// The fingerprint of an own item (BLAKE2b-128 keyed with the relationship's fingerprint key).
    static let fingerprintBytes = 16

    // MARK: Results

    /// A step that sent a message.
    public struct Sent: Sendable {
        /// The message: send it to the peer (also written to the file given, if any).
        public let message: [UInt8]
        /// The run's day (1 for the relationship's first run) and epoch.
        public let day: UInt64
        public let epoch: UInt64
        /// Whether this run is a full exchange (a new epoch).
        public let full: Bool
        /// How many of this side's items were added and removed since the last run (all items in a full run).
        public let added: Int
        public let removed: Int
        /// For the responder: how many the initiator added and removed (message 1).
        public let peerAdded: Int?
        public let peerRemoved: Int?
    }

    /// A finished run: the intersection of both sides' current lists, and what changed.
    public struct Outcome: Sendable {
        public let day: UInt64
        public let epoch: UInt64
        public let full: Bool
        /// This side's items (canonical forms) that the peer also holds, sorted.
        public let matches: [String]
        /// Matches that were not matches after the previous run, and the reverse, sorted.
        public let newMatches: [String]
        public let vanishedMatches: [String]
        /// Items on each side after the run.
        public let ownCount: Int
        public let peerCount: Int
        /// How many items the peer added and removed in this run.
        public let peerAdded: Int
        public let peerRemoved: Int
        /// The initiator's message 3 (nil for the responder).
        public let reply: [UInt8]?
        /// True when the run had already finished (a finish repeated after a crash): the result
        /// is read from the state, and new and vanished matches are empty.
        public let alreadyFinished: Bool
    }

    /// Writes `lines`, one a line, to a private file (mode 0600, atomic): matches and changes
    /// are this side's own items.
    public static func writePrivateLines(_ lines: [String], to url: URL) throws {
        try SecretFile.write(Array(lines.map { $0 + "\n" }.joined().utf8), to: url)
    }

    /// A point where a test stops a step, to check that the previous state stays valid.
    struct Seam: Sendable {
        let stop: @Sendable (String) throws -> Void
        static let none = Seam { _ in }
    }

    // MARK: Initiator

    /// Message 1 (initiator): diffs `items` against the relationship state, blinds the added
    /// items and announces the removed ones; writes the pending run (beside the state) and, if
    /// `messageURL` is given, message 1. The state itself is not changed.
    ///
    /// - Parameters:
    ///   - items: this side's whole current list (repeats are merged).
    ///   - configuration: the agreed purpose, suite and identifier type, this party's identity
    ///     and the peer (outcome both-learn, not verifiable).
    ///   - state: the relationship state file; created by the first run's finish.
    ///   - epoch: the epoch this run belongs to (nil: the state's, or 1): a larger one than the
    ///     state's starts a new epoch with a full exchange.
    ///   - messageURL: where to write message 1 (atomically), or nil.
    /// - Throws: ``IncrementalPSIError`` for a state of another relationship or a stale epoch.
    public static func initiate(items: [Identifier], configuration: MutualPSIConfiguration, state: URL, epoch: UInt64? = nil,
                                messageURL: URL? = nil) throws -> Sent {
        try initiate(items: items, configuration: configuration, state: state, epoch: epoch, messageURL: messageURL, seam: .none)
    }

    static func initiate(items: [Identifier], configuration c: MutualPSIConfiguration, state url: URL, epoch requested: UInt64?,
                         messageURL: URL?, seam: Seam) throws -> Sent {
        try checkConfiguration(c)
        let current = try RelationshipState.read(from: url, includePeer: false)
        if let current { try checkRelationship(current, role: .initiator, configuration: c, path: url.path) }
        let day = (current?.day ?? 0) + 1
        let epoch = requested ?? current?.epoch ?? 1
        guard epoch >= 1 else { throw IncrementalPSIError.staleEpoch(path: url.path, epoch: epoch, current: 1) }
        if let current, epoch < current.epoch { throw IncrementalPSIError.staleEpoch(path: url.path, epoch: epoch, current: current.epoch) }
        let full = current == nil || epoch > current!.epoch
        let previous = try? PendingRun.read(from: pendingURL(url))
        let reusable = previous.flatMap { p in p.full && full && p.day == day && p.epoch == epoch && p.baseGeneration == (current?.generation ?? .zero) ? p : nil }
        let fingerprintKey = current?.fingerprintKey ?? reusable?.fingerprintKey ?? SecretBytes(count: 32) { fillRandom($0) }
        let scalar = full ? (reusable?.scalar ?? MutualSuite(c.suite).newSecret()) : current!.scalar
        let epochID = full ? (reusable?.epochID ?? SessionID.random()) : current!.epochID
        let session = SessionID.random()
        let diff = try difference(items, configuration: c, key: fingerprintKey, base: full ? [:] : current!.own)
        var added = diff.added
        shuffleInPlace(&added)
        let context = hashingContext(c, role: .initiator, epochID: epochID, epoch: epoch)
        let blinded = try MutualSuite(c.suite).blind(added.map(\.identifier), context: context, secret: scalar, parallelism: c.parallelism)
        let removalKeys = diff.removed.map { current!.own[$0]!.value }.sorted()
        let header = PartHeader(configuration: c, session: session, epochID: epochID)
        var message = try header.part(.runInfo, elements: bigEndian(epoch) + bigEndian(day) + bigEndian(full ? fullFlag : 0), count: 3)
        message += try header.part(.initiatorAdded, elements: blinded.flatMap { $0.withUnsafeBytes(Array.init) }, count: blinded.count)
        message += try header.part(.initiatorRemoved, values: removalKeys)
        let pending = PendingRun(role: .initiator, full: full, day: day, epoch: epoch, epochID: epochID, session: session,
                                 baseGeneration: current?.generation ?? .zero,
                                 secret: RelationshipState.secretBytes(scalar: scalar, fingerprintKey: fingerprintKey),
                                 ownAdded: added.map { ($0.fingerprint, $0.identifier.canonical) }, ownRemoved: diff.removed,
                                 peerAdded: [], peerRemoved: [])
        try pending.write(to: pendingURL(url))
        try seam.stop("initiate: pending run written")
        if let messageURL { try writeMessage(message, to: messageURL) }
        try seam.stop("initiate: message 1 written")
        return Sent(message: message, day: day, epoch: epoch, full: full, added: added.count, removed: diff.removed.count,
                    peerAdded: nil, peerRemoved: nil)
    }

    /// Message 3 and the result (initiator): applies the responder's removals and additions and
    /// this side's own, returns the responder's added items re-blinded (message 3, written
    /// to `replyURL` first), then replaces the state atomically.
    ///
    /// - Throws: ``IncrementalPSIError/noPendingRun(path:)`` without a message 1 made from this
    ///   state, ``MessageFileError`` for a message of another run, peer, purpose or session,
    ///   ``IncrementalPSIError/unknownRemoval(path:index:)`` and
    ///   ``IncrementalPSIError/repeatedItem(path:index:)`` for a message the state contradicts.
    public static func finishInitiator(response: [UInt8], responseName: String = "message 2", configuration: MutualPSIConfiguration,
                                       state: URL, replyURL: URL? = nil) throws -> Outcome {
        try finishInitiator(response: response, responseName: responseName, configuration: configuration, state: state,
                            replyURL: replyURL, seam: .none)
    }

    static func finishInitiator(response: [UInt8], responseName name: String, configuration c: MutualPSIConfiguration,
                                state url: URL, replyURL: URL?, seam: Seam) throws -> Outcome {
        try checkConfiguration(c)
        var current = try RelationshipState.read(from: url)
        if let current { try checkRelationship(current, role: .initiator, configuration: c, path: url.path) }
        let parts = try splitParts(response, name: name, expected: 3)
        guard let pending = try pendingRun(for: url, current: current, message: parts[0], name: name) else {
            return try repeatedFinish(current!, configuration: c)
        }
        let read = PartReader(configuration: c, session: pending.session, epochID: pending.epochID, name: name)
        // Moved out of the state read (not copied): only the run's changes of it are needed later.
        var peer = [Value16: Value16]()
        if !pending.full { swap(&peer, &current!.peerItems) }
        let peerAddedRaw = try read.part(parts[0], .responderAdded, maximumCount: c.maximumPeerSetSize)
        let peerRemoved = try read.values(parts[1], .responderRemoved, maximumCount: peer.count)
        let ownValues = try read.values(parts[2], .initiatorAddedReblinded, count: pending.ownAdded.count)
        let removedValues = try remove(peerRemoved, from: &peer, path: "\(name) (\(Part.responderRemoved))")
        let points = try reblind(peerAddedRaw, configuration: c, scalar: pending.scalar, path: "\(name) (\(Part.responderAdded))")
        let removalKeys = compareValues(points, kind: responderCompareKind, parallelism: c.parallelism)
        let compared = compareValues(points, kind: initiatorCompareKind, parallelism: c.parallelism)
        try add(keys: removalKeys, values: compared, to: &peer, path: "\(name) (\(Part.responderAdded))")
        guard peer.count <= c.maximumPeerSetSize else {
            throw MessageFileError.peerSetTooLarge(path: name, count: peer.count, limit: c.maximumPeerSetSize)
        }
        let reply = try PartHeader(configuration: c, session: pending.session, epochID: pending.epochID)
            .part(.responderAddedReblinded, values: removalKeys)
        let next = applied(pending, to: current, configuration: c, ownValues: ownValues, peer: peer)
        if let replyURL { try writeMessage(reply, to: replyURL) }
        try seam.stop("finish (initiator): message 3 written")
        return try commit(next, previous: current, pending: pending, url: url, addedPeer: compared, removedPeer: removedValues,
                          reply: reply, seam: seam)
    }

    // MARK: Responder

    /// Message 2 (responder): checks message 1 against the relationship (its day follows the
    /// state's, its epoch is the state's or a new one), diffs `items` against the state, applies
    /// nothing yet: writes the pending run and, if `messageURL` is given, message 2.
    ///
    /// - Parameters:
    ///   - request: message 1.
    ///   - epoch: the epoch this side expects (nil: any the initiator starts, never an older one).
    /// - Throws: ``IncrementalPSIError/dayOutOfOrder(path:day:expected:)`` for a message of a
    ///   finished day, ``IncrementalPSIError/missingDays(path:day:expected:)`` for a gap,
    ///   ``IncrementalPSIError/staleEpoch(path:epoch:current:)``,
    ///   ``IncrementalPSIError/epochMismatch(path:found:expected:)``, and the errors of
    ///   ``finishInitiator(response:responseName:configuration:state:replyURL:)``.
    public static func respond(request: [UInt8], requestName: String = "message 1", items: [Identifier],
                               configuration: MutualPSIConfiguration, state: URL, epoch: UInt64? = nil,
                               messageURL: URL? = nil) throws -> Sent {
        try respond(request: request, requestName: requestName, items: items, configuration: configuration, state: state,
                    epoch: epoch, messageURL: messageURL, seam: .none)
    }

    static func respond(request: [UInt8], requestName name: String, items: [Identifier], configuration c: MutualPSIConfiguration,
                        state url: URL, epoch expectedEpoch: UInt64?, messageURL: URL?, seam: Seam) throws -> Sent {
        try checkConfiguration(c)
        var current = try RelationshipState.read(from: url)
        if let current { try checkRelationship(current, role: .responder, configuration: c, path: url.path) }
        let parts = try splitParts(request, name: name, expected: 3)
        let info = try PartReader(configuration: c, session: nil, epochID: nil, name: name).runInfo(parts[0])
        let (epoch, day, full, session, epochID) = info
        let expectedDay = (current?.day ?? 0) + 1
        if day < expectedDay { throw IncrementalPSIError.dayOutOfOrder(path: name, day: day, expected: expectedDay) }
        if day > expectedDay { throw IncrementalPSIError.missingDays(path: name, day: day, expected: expectedDay) }
        if let expectedEpoch, epoch != expectedEpoch {
            throw IncrementalPSIError.epochMismatch(path: name, found: "epoch \(epoch)", expected: "epoch \(expectedEpoch)")
        }
        if let current {
            if epoch < current.epoch || (full && epoch == current.epoch) {
                throw IncrementalPSIError.staleEpoch(path: name, epoch: epoch, current: current.epoch)
            }
            if !full && epoch > current.epoch {
                throw IncrementalPSIError.epochMismatch(path: name, found: "a delta run in epoch \(epoch)",
                                                        expected: "a full exchange to start epoch \(epoch) (this side is in epoch \(current.epoch))")
            }
            if !full && epochID != current.epochID {
                throw IncrementalPSIError.epochMismatch(path: name, found: "epoch identifier \(epochID)", expected: "\(current.epochID)")
            }
        } else if !full {
            throw IncrementalPSIError.epochMismatch(path: name, found: "a delta run", expected: "a full exchange (this side has no relationship state yet)")
        }
        let previous = try? PendingRun.read(from: pendingURL(url))
        let reusable = previous.flatMap { p in p.full && full && p.day == day && p.epochID == epochID && p.baseGeneration == (current?.generation ?? .zero) ? p : nil }
        let fingerprintKey = current?.fingerprintKey ?? reusable?.fingerprintKey ?? SecretBytes(count: 32) { fillRandom($0) }
        let scalar = full ? (reusable?.scalar ?? MutualSuite(c.suite).newSecret()) : current!.scalar
        let read = PartReader(configuration: c, session: session, epochID: epochID, name: name)
        // Moved out of the state read (not copied): the rest of this step uses only its own items.
        var peer = [Value16: Value16]()
        if !full { swap(&peer, &current!.peerItems) }
        let peerAddedRaw = try read.part(parts[1], .initiatorAdded, maximumCount: c.maximumPeerSetSize)
        let peerRemoved = try read.values(parts[2], .initiatorRemoved, maximumCount: peer.count)
        _ = try remove(peerRemoved, from: &peer, path: "\(name) (\(Part.initiatorRemoved))")
        let points = try reblind(peerAddedRaw, configuration: c, scalar: scalar, path: "\(name) (\(Part.initiatorAdded))")
        let removalKeys = compareValues(points, kind: initiatorCompareKind, parallelism: c.parallelism)
        let compared = compareValues(points, kind: responderCompareKind, parallelism: c.parallelism)
        try add(keys: removalKeys, values: compared, to: &peer, path: "\(name) (\(Part.initiatorAdded))")
        guard peer.count <= c.maximumPeerSetSize else {
            throw MessageFileError.peerSetTooLarge(path: name, count: peer.count, limit: c.maximumPeerSetSize)
        }
        let diff = try difference(items, configuration: c, key: fingerprintKey, base: full ? [:] : current!.own)
        var added = diff.added
        shuffleInPlace(&added)
        let context = hashingContext(c, role: .responder, epochID: epochID, epoch: epoch)
        let blinded = try MutualSuite(c.suite).blind(added.map(\.identifier), context: context, secret: scalar, parallelism: c.parallelism)
        let ownRemovalKeys = diff.removed.map { current!.own[$0]!.value }.sorted()
        let header = PartHeader(configuration: c, session: session, epochID: epochID)
        var message = try header.part(.responderAdded, elements: blinded.flatMap { $0.withUnsafeBytes(Array.init) }, count: blinded.count)
        message += try header.part(.responderRemoved, values: ownRemovalKeys)
        message += try header.part(.initiatorAddedReblinded, values: removalKeys)
        let pending = PendingRun(role: .responder, full: full, day: day, epoch: epoch, epochID: epochID, session: session,
                                 baseGeneration: current?.generation ?? .zero,
                                 secret: RelationshipState.secretBytes(scalar: scalar, fingerprintKey: fingerprintKey),
                                 ownAdded: added.map { ($0.fingerprint, $0.identifier.canonical) }, ownRemoved: diff.removed,
                                 peerAdded: Array(zip(removalKeys, compared)), peerRemoved: peerRemoved)
        try pending.write(to: pendingURL(url))
        try seam.stop("respond: pending run written")
        if let messageURL { try writeMessage(message, to: messageURL) }
        try seam.stop("respond: message 2 written")
        return Sent(message: message, day: day, epoch: epoch, full: full, added: added.count, removed: diff.removed.count,
                    peerAdded: points.count, peerRemoved: peerRemoved.count)
    }

    /// The result (responder): this side's added items' comparison values arrive in message 3;
    /// the pending run is applied and the state replaced atomically.
    public static func finishResponder(reply: [UInt8], replyName: String = "message 3", configuration: MutualPSIConfiguration,
                                       state: URL) throws -> Outcome {
        try finishResponder(reply: reply, replyName: replyName, configuration: configuration, state: state, seam: .none)
    }

    static func finishResponder(reply: [UInt8], replyName name: String, configuration c: MutualPSIConfiguration, state url: URL,
                                seam: Seam) throws -> Outcome {
        try checkConfiguration(c)
        var current = try RelationshipState.read(from: url)
        if let current { try checkRelationship(current, role: .responder, configuration: c, path: url.path) }
        let parts = try splitParts(reply, name: name, expected: 1)
        guard let pending = try pendingRun(for: url, current: current, message: parts[0], name: name) else {
            return try repeatedFinish(current!, configuration: c)
        }
        let read = PartReader(configuration: c, session: pending.session, epochID: pending.epochID, name: name)
        let ownValues = try read.values(parts[0], .responderAddedReblinded, count: pending.ownAdded.count)
        var peer = [Value16: Value16]()
        if !pending.full { swap(&peer, &current!.peerItems) }
        var removedValues = [Value16]()
        for key in pending.peerRemoved { if let value = peer.removeValue(forKey: key) { removedValues.append(value) } }
        for (key, value) in pending.peerAdded { peer[key] = value }
        let next = applied(pending, to: current, configuration: c, ownValues: ownValues, peer: peer)
        return try commit(next, previous: current, pending: pending, url: url, addedPeer: pending.peerAdded.map(\.value),
                          removedPeer: removedValues, reply: nil, seam: seam)
    }

    /// Writes a message file atomically (mode 0644: it holds no secret).
    public static func writeMessage(_ bytes: [UInt8], to url: URL) throws {
        let file = try AtomicFile(path: url.path, mode: 0o644)
        try file.write(bytes)
        try file.commit()
    }

    /// The role of a relationship: from its state, or from the pending run of its first day;
    /// nil when neither exists.
    public static func storedRole(state: URL) throws -> RelationshipRole? {
        if let s = try RelationshipState.read(from: state) { return s.role }
        return try PendingRun.read(from: pendingURL(state))?.role
    }

    /// The day the next run of this relationship will be (1 before the first finish).
    public static func nextDay(state: URL) throws -> UInt64 {
        (try RelationshipState.read(from: state)?.day ?? 0) + 1
    }

    /// A whole message file's bytes, for the steps above.
    ///
    /// - Throws: ``MessageFileError/io(path:reason:)``.
    public static func readMessage(_ url: URL) throws -> [UInt8] {
        try readWholeFile(url) { MessageFileError.io(path: url.path, reason: $0) }
    }

    /// The pending run beside a state file: `STATE.pending`.
    public static func pendingURL(_ state: URL) -> URL { URL(fileURLWithPath: state.path + ".pending") }

    // MARK: Shared steps

    private static func checkConfiguration(_ c: MutualPSIConfiguration) throws {
        guard c.outcome == .bothLearn, !c.verifiable else {
            throw PSIError.outcomeMismatch(expected: "\(MutualPSIOutcome.bothLearn) (incremental runs keep both sides' comparison values)",
                                           found: c.outcome.modeDescription(verifiable: c.verifiable))
        }
    }

    /// Refuses a state of another relationship, naming the field that differs.
    static func checkRelationship(_ s: RelationshipState, role: RelationshipRole, configuration c: MutualPSIConfiguration, path: String) throws {
        func refuse(_ field: String, _ found: String, _ expected: String) -> IncrementalPSIError {
            .wrongRelationship(path: path, field: field, found: found, expected: expected)
        }
        if s.role != role { throw refuse("role", s.role.description, role.description) }
        if s.me != c.identity.publicKey { throw refuse("own identity", s.me.fingerprint, c.identity.publicKey.fingerprint) }
        if s.peer != c.peer { throw refuse("peer", s.peer.fingerprint, c.peer.fingerprint) }
        if s.purposeDigest != c.purpose.digest { throw refuse("purpose", hex(s.purposeDigest), hex(c.purpose.digest) + " (\"\(c.purpose.value)\")") }
        if s.suite != c.suite { throw refuse("suite", s.suite.description, c.suite.description) }
        if s.identifierType != c.identifierType { throw refuse("identifier type", s.identifierType.description, c.identifierType.description) }
    }

    /// The context items are hashed under in one epoch: the mutual hashed context (both keys,
    /// suite, purpose, identifier type) with the epoch's hashing session in place of a session.
    static func hashingContext(_ c: MutualPSIConfiguration, role: RelationshipRole, epochID: SessionID, epoch: UInt64) -> ExchangeContext {
        let initiator = role == .initiator ? c.identity.publicKey : c.peer
        let responder = role == .initiator ? c.peer : c.identity.publicKey
        var input = Array("SodiumPSI-incremental-epoch".utf8) + epochID.bytes + bigEndian(epoch)
        let digest = sha256(input)
        input.removeAll()
        let session = try! SessionID(bytes: Array(digest[0..<16]))
        return ExchangeContext(suite: c.suite, outcome: .bothLearn, purposeDigest: c.purpose.digest, sessionID: session,
                               initiator: initiator, responder: responder, identifierType: c.identifierType)
    }

    struct Item {
        let fingerprint: Value16
        let identifier: Identifier
    }

    /// The items of `items` not in `base` (by fingerprint), and the fingerprints of `base` not in `items`.
    static func difference(_ items: [Identifier], configuration c: MutualPSIConfiguration, key: SecretBytes,
                           base: [Value16: OwnEntry]) throws -> (added: [Item], removed: [Value16]) {
        var fingerprints = [Value16](repeating: .zero, count: items.count)
        for (index, item) in items.enumerated() { try c.identifierType.check(item, index: index) }
        try key.withUnsafeBytes { k in
            try fingerprints.withUnsafeMutableBufferPointer { out in
                try forEachRange(count: items.count, parallelism: c.parallelism) { range in
                    var encoding = [UInt8]()
                    var digest = [UInt8](repeating: 0, count: fingerprintBytes)
                    for i in range {
                        items[i].writePSIEncoding(into: &encoding)
                        encoding.withUnsafeBytes { keyedBLAKE2b($0, key: k, into: &digest) }
                        out[i] = Value16(digest)
                    }
                }
            }
        }
        var seen = Set<Value16>(minimumCapacity: items.count)
        var added = [Item]()
        for (index, fingerprint) in fingerprints.enumerated() where seen.insert(fingerprint).inserted {
            if base[fingerprint] == nil { added.append(Item(fingerprint: fingerprint, identifier: items[index])) }
        }
        var removed = [Value16]()
        for fingerprint in base.keys where !seen.contains(fingerprint) { removed.append(fingerprint) }
        return (added, removed.sorted())
    }

    /// `scalar · e` for each received element, each checked first.
    private static func reblind(_ elements: [BlindedElement], configuration c: MutualPSIConfiguration, scalar: SecretBytes,
                                path: String) throws -> [BlindedElement] {
        do { return try MutualSuite(c.suite).reblind(elements, secret: scalar, parallelism: c.parallelism) } catch let error as PSIError {
            throw MessageFileError.wrapping(path: path, elementError: error)
        }
    }

    /// The comparison value of each point under `kind`.
    static func compareValues(_ points: [BlindedElement], kind: UInt8, parallelism: Parallelism) -> [Value16] {
        var result = [Value16](repeating: .zero, count: points.count)
        result.withUnsafeMutableBufferPointer { out in
            // Hashing does not fail: forEachRange rethrows only what its body throws.
            try! ComparisonHash.hashPoints(points, tag: compareTag, kind: kind, parallelism: parallelism) { i, digest in
                out[i] = Value16(digest)
            }
        }
        return result
    }

    /// Removes announced items; each must be held, once.
    @discardableResult
    private static func remove(_ keys: [Value16], from peer: inout [Value16: Value16], path: String) throws -> [Value16] {
        try keys.enumerated().map { index, key in
            guard let value = peer.removeValue(forKey: key) else { throw IncrementalPSIError.unknownRemoval(path: path, index: index) }
            return value
        }
    }

    /// Adds the peer's new items; none may be held already.
    private static func add(keys: [Value16], values: [Value16], to peer: inout [Value16: Value16], path: String) throws {
        for (index, key) in keys.enumerated() {
            guard peer.updateValue(values[index], forKey: key) == nil else { throw IncrementalPSIError.repeatedItem(path: path, index: index) }
        }
    }

    /// The pending run a finish applies; nil when this message's run has already finished (a
    /// repeated finish).
    private static func pendingRun(for url: URL, current: RelationshipState?, message: [UInt8], name: String) throws -> PendingRun? {
        let pendingURL = pendingURL(url)
        let session = try peekSession(message, name: name)
        if let current, current.lastSession == Value16(session.bytes) { return nil }
        guard let pending = try PendingRun.read(from: pendingURL) else { throw IncrementalPSIError.noPendingRun(path: pendingURL.path) }
        guard pending.baseGeneration == (current?.generation ?? .zero) else {
            throw IncrementalPSIError.stalePendingRun(path: pendingURL.path, day: pending.day, stateDay: current?.day ?? 0)
        }
        return pending
    }

    /// The state after a run.
    private static func applied(_ pending: PendingRun, to current: RelationshipState?, configuration c: MutualPSIConfiguration,
                                ownValues: [Value16], peer: [Value16: Value16]) -> RelationshipState {
        var own = pending.full ? [:] : current!.own
        for fingerprint in pending.ownRemoved { own[fingerprint] = nil }
        for (index, item) in pending.ownAdded.enumerated() { own[item.fingerprint] = OwnEntry(value: ownValues[index], canonical: item.canonical) }
        var generation = [UInt8](repeating: 0, count: 16)
        generation.withUnsafeMutableBytes { fillRandom($0) }
        return RelationshipState(role: pending.role, suite: c.suite, identifierType: c.identifierType, purposeDigest: c.purpose.digest,
                                 me: c.identity.publicKey, peer: c.peer, epoch: pending.epoch, epochID: pending.epochID, day: pending.day,
                                 generation: Value16(generation), lastSession: Value16(pending.session.bytes), secret: pending.secret,
                                 own: own, peerItems: peer)
    }

    /// Replaces the state, removes the pending run, and reports the matches.
    private static func commit(_ next: RelationshipState, previous: RelationshipState?, pending: PendingRun, url: URL,
                               addedPeer: [Value16], removedPeer: [Value16], reply: [UInt8]?, seam: Seam) throws -> Outcome {
        let peerValues = next.peerValueSet
        let after = next.matches(peerValues: peerValues)
        let (newMatches, vanished) = changes(next, previous: previous, pending: pending, after: after, peerValues: peerValues,
                                             addedPeer: addedPeer, removedPeer: removedPeer)
        try next.write(to: url)
        try seam.stop("finish: state replaced")
        unlink(pendingURL(url).path)
        return Outcome(day: next.day, epoch: next.epoch, full: pending.full, matches: after.values.sorted(), newMatches: newMatches,
                       vanishedMatches: vanished, ownCount: next.own.count, peerCount: next.peerItems.count,
                       peerAdded: addedPeer.count, peerRemoved: removedPeer.count, reply: reply, alreadyFinished: false)
    }

    /// The matches gained and lost since the previous state, from the run's changes alone (no
    /// second pass over the previous state's intersection).
    private static func changes(_ next: RelationshipState, previous: RelationshipState?, pending: PendingRun,
                                after: [Value16: String], peerValues: Set<Value16>,
                                addedPeer: [Value16], removedPeer: [Value16]) -> (new: [String], vanished: [String]) {
        guard let previous, !pending.full else {
            let before = previous?.matches(peerValues: previous!.peerValueSet) ?? [:]
            return (after.filter { before[$0.key] == nil }.map(\.value).sorted(), before.filter { after[$0.key] == nil }.map(\.value).sorted())
        }
        let addedValues = Set(addedPeer), removedValues = Set(removedPeer)
        let addedOwn = Set(pending.ownAdded.map(\.fingerprint))
        var newMatches = [String](), vanished = [String]()
        for fingerprint in addedOwn { if let canonical = after[fingerprint] { newMatches.append(canonical) } }
        if !addedValues.isEmpty || !removedValues.isEmpty {
            for (fingerprint, entry) in next.own where !addedOwn.contains(fingerprint) {
                if addedValues.contains(entry.value) { newMatches.append(entry.canonical) }
                if removedValues.contains(entry.value) { vanished.append(entry.canonical) }
            }
        }
        // A removed own item was a match if the previous peer values held its value: the current
        // ones less those added this run, plus those removed.
        for fingerprint in pending.ownRemoved {
            guard let entry = previous.own[fingerprint] else { continue }
            if (peerValues.contains(entry.value) && !addedValues.contains(entry.value)) || removedValues.contains(entry.value) {
                vanished.append(entry.canonical)
            }
        }
        return (newMatches.sorted(), vanished.sorted())
    }

    private static func repeatedFinish(_ s: RelationshipState, configuration c: MutualPSIConfiguration) throws -> Outcome {
        Outcome(day: s.day, epoch: s.epoch, full: false, matches: s.matches(peerValues: s.peerValueSet).values.sorted(), newMatches: [], vanishedMatches: [],
                ownCount: s.own.count, peerCount: s.peerItems.count, peerAdded: 0, peerRemoved: 0, reply: nil, alreadyFinished: true)
    }

    // MARK: Parts

    /// Splits a message into its parts by their headers' lengths (each part is then fully
    /// checked by ``MessageFileReader``).
    static func splitParts(_ bytes: [UInt8], name: String, expected: Int) throws -> [[UInt8]] {
        var parts = [[UInt8]]()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= MessageHeader.fixedByteCount else {
                throw MessageFileError.truncated(path: name, length: bytes.count, expected: offset + MessageHeader.fixedByteCount)
            }
            guard Array(bytes[offset..<offset + 8]) == MessageHeader.magic else { throw MessageFileError.badMagic(path: name) }
            let elementSize = Int(bytes[offset + 14]) << 8 | Int(bytes[offset + 15])
            let block = Int(bytes[offset + 18]) << 8 | Int(bytes[offset + 19])
            let count = bytes[(offset + 148)..<(offset + 156)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard count <= UInt64(bytes.count), let length = MessageFileReader.fileLength(headerBytes: MessageHeader.fixedByteCount + block,
                                                                                          count: Int(count), elementSize: elementSize) else {
                throw MessageFileError.countTooLarge(path: name, count: count, elementSize: elementSize, length: bytes.count)
            }
            guard length <= bytes.count - offset else { throw MessageFileError.truncated(path: name, length: bytes.count, expected: offset + length) }
            parts.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        guard parts.count == expected else {
            throw IncrementalPSIError.wrongPartCount(path: name, found: parts.count, expected: expected)
        }
        return parts
    }

    /// The session a part names (checked fully when the part is read).
    private static func peekSession(_ part: [UInt8], name: String) throws -> SessionID {
        try SessionID(bytes: Array(part[52..<68]))
    }

    struct PartHeader {
        let configuration: MutualPSIConfiguration
        let session: SessionID
        let epochID: SessionID

        func part(_ kind: Part, elements: [UInt8], count: Int) throws -> [UInt8] {
            let c = configuration
            let header = MessageHeader(suite: c.suite, protocolID: .incremental, kind: kind.rawValue, mode: IncrementalPSI.mode,
                                       elementSize: kind.elementSize, identifierType: c.identifierType, purposeDigest: c.purpose.digest,
                                       sessionID: session, keyID: epochID.bytes, sender: c.identity.publicKey, recipient: c.peer, count: count)
            let writer = MessageFileWriter(header: header, signer: c.identity, name: kind.description)
            try elements.withUnsafeBytes { try writer.append(elements: $0) }
            try writer.seal()
            return writer.serializedBytes!
        }

        func part(_ kind: Part, values: [Value16]) throws -> [UInt8] {
            var bytes = [UInt8]()
            bytes.reserveCapacity(values.count * 16)
            for value in values { value.append(to: &bytes) }
            return try part(kind, elements: bytes, count: values.count)
        }
    }

    struct PartReader {
        let configuration: MutualPSIConfiguration
        let session: SessionID?
        let epochID: SessionID?
        let name: String

        func reader(_ bytes: [UInt8], _ kind: Part, count: Int? = nil, maximumCount: Int? = nil) throws -> MessageFileReader {
            let c = configuration
            return try MessageFileReader(serializedBytes: bytes, name: "\(name) (\(kind))", expecting: MessageExpectation(
                suite: c.suite, protocolID: .incremental, kinds: [kind.rawValue], mode: IncrementalPSI.mode, elementSize: kind.elementSize,
                identifierType: c.identifierType, purposeDigest: c.purpose.digest, sessionID: session, keyID: epochID?.bytes,
                trustedSenders: [c.peer], recipient: c.identity.publicKey, count: count, maximumCount: maximumCount))
        }

        func elements(_ reader: MessageFileReader) throws -> [UInt8] {
            var bytes = [UInt8]()
            while let chunk = try reader.readChunk(maximumElements: max(1, reader.header.count)) { bytes += chunk }
            return bytes
        }

        func part(_ bytes: [UInt8], _ kind: Part, maximumCount: Int) throws -> [BlindedElement] {
            let raw = try elements(reader(bytes, kind, maximumCount: maximumCount))
            return raw.withUnsafeBytes { ComparisonHash.unpacked($0, length: BlindedElement.byteCount) }
        }

        func values(_ bytes: [UInt8], _ kind: Part, count: Int? = nil, maximumCount: Int? = nil) throws -> [Value16] {
            let raw = try elements(reader(bytes, kind, count: count, maximumCount: maximumCount))
            return raw.withUnsafeBytes { r in (0..<(r.count / 16)).map { Value16(r, at: $0 * 16) } }
        }

        func runInfo(_ bytes: [UInt8]) throws -> (epoch: UInt64, day: UInt64, full: Bool, session: SessionID, epochID: SessionID) {
            let reader = try reader(bytes, .runInfo, count: 3)
            let raw = try elements(reader)
            let words = (0..<3).map { i in raw[(i * 8)..<(i * 8 + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            guard words[2] & ~IncrementalPSI.fullFlag == 0, words[0] >= 1, words[1] >= 1 else {
                throw IncrementalPSIError.badRunInfo(path: reader.path, reason: "epoch \(words[0]), day \(words[1]), flags \(words[2]); expected epoch and day from 1 and flags 0 or 1")
            }
            return (words[0], words[1], words[2] & IncrementalPSI.fullFlag != 0, reader.header.sessionID,
                    try SessionID(bytes: reader.header.keyID))
        }
    }
}

/// A run started (message 1 or 2 sent) and not yet finished: everything the finish step
/// applies, kept beside the state so that the state itself changes only at the finish.
struct PendingRun {
    var role: RelationshipRole
    var full: Bool
    var day: UInt64
    var epoch: UInt64
    var epochID: SessionID
    var session: SessionID
    var baseGeneration: Value16
    /// The run's scalar (the epoch's, or a new epoch's) and the fingerprint key.
    var secret: SecretBytes
    var ownAdded: [(fingerprint: Value16, canonical: String)]
    var ownRemoved: [Value16]
    var peerAdded: [(key: Value16, value: Value16)]
    var peerRemoved: [Value16]

    var scalar: SecretBytes { secret.withUnsafeBytes { s in SecretBytes(count: 32) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[0..<32])) } } }
    var fingerprintKey: SecretBytes { secret.withUnsafeBytes { s in SecretBytes(count: 32) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[32..<64])) } } }

    func write(to url: URL) throws {
        let writer = try secret.withUnsafeBytes { try SecretContainer.Writer(url: url, content: .pendingRun, secret: $0) }
        var b = [role.rawValue, full ? 1 : 0] + bigEndian(day) + bigEndian(epoch) + epochID.bytes + session.bytes
        baseGeneration.append(to: &b)
        b += bigEndian(UInt64(ownAdded.count)) + bigEndian(UInt64(ownRemoved.count)) + bigEndian(UInt64(peerAdded.count)) + bigEndian(UInt64(peerRemoved.count))
        for item in ownAdded {
            item.fingerprint.append(to: &b)
            let text = Array(item.canonical.utf8)
            b += [UInt8(text.count >> 8), UInt8(text.count & 0xff)] + text
        }
        for value in ownRemoved { value.append(to: &b) }
        for pair in peerAdded { pair.key.append(to: &b); pair.value.append(to: &b) }
        for value in peerRemoved { value.append(to: &b) }
        try writer.write(b)
        b.withUnsafeMutableBytes { wipe($0) }
        try writer.seal(description: [])
        try writer.commit(replacing: true)
    }

    static func read(from url: URL) throws -> PendingRun? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let path = url.path
        let invalid = { (reason: String) -> any Error in StateFileError.invalidStateFile(path: path, reason: reason) }
        let reader = try SecretContainer.Reader(url: url, content: .pendingRun, invalid: invalid)
        let body = try reader.bodyBytes(at: 0, count: reader.bodyByteCount)
        var fields = BodyCursor(body, invalid: invalid)
        func take(_ n: Int) throws -> ArraySlice<UInt8> { try fields.take(n) }
        func u64() throws -> UInt64 { try fields.u64() }
        func v16() throws -> Value16 { try fields.v16() }
        guard let role = RelationshipRole(rawValue: try take(1).first!) else { throw invalid("unknown role") }
        let full = try take(1).first! == 1
        let day = try u64(), epoch = try u64()
        let epochID = try SessionID(bytes: Array(try take(16)))
        let session = try SessionID(bytes: Array(try take(16)))
        let base = try v16()
        let counts = try (0..<4).map { _ in try u64() }
        guard counts.allSatisfy({ $0 <= UInt64(body.count) }) else { throw invalid("its counts exceed its length") }
        var ownAdded = [(fingerprint: Value16, canonical: String)]()
        for _ in 0..<counts[0] {
            let fingerprint = try v16()
            let l = try take(2)
            guard let text = String(validating: try take(Int(l.first!) << 8 | Int(l.last!)), as: UTF8.self) else { throw invalid("an item is not UTF-8") }
            ownAdded.append((fingerprint, text))
        }
        let ownRemoved = try (0..<counts[1]).map { _ in try v16() }
        let peerAdded = try (0..<counts[2]).map { _ in (key: try v16(), value: try v16()) }
        let peerRemoved = try (0..<counts[3]).map { _ in try v16() }
        guard fields.offset == body.count else { throw invalid("bytes follow its last section; the file is damaged") }
        return PendingRun(role: role, full: full, day: day, epoch: epoch, epochID: epochID, session: session, baseGeneration: base,
                          secret: reader.secret, ownAdded: ownAdded, ownRemoved: ownRemoved, peerAdded: peerAdded, peerRemoved: peerRemoved)
    }
}

/// Why an incremental run was refused. Every case names the file and what was expected.
public enum IncrementalPSIError: Error, Sendable, Equatable {
    /// The relationship state belongs to another relationship: `field` differs.
    case wrongRelationship(path: String, field: String, found: String, expected: String)
    /// The message is for a day already finished (or replayed): days must follow in order.
    case dayOutOfOrder(path: String, day: UInt64, expected: UInt64)
    /// The message skips days: the runs in between were not finished on this side.
    case missingDays(path: String, day: UInt64, expected: UInt64)
    /// The message or request is for an epoch older than the state's.
    case staleEpoch(path: String, epoch: UInt64, current: UInt64)
    /// The message's epoch is not the one expected.
    case epochMismatch(path: String, found: String, expected: String)
    /// A removal names an item this side does not hold for the peer (position in the part).
    case unknownRemoval(path: String, index: Int)
    /// An added item is held already, or repeated (position in the part).
    case repeatedItem(path: String, index: Int)
    /// No run was started from this state (message 1 or 2 not made here).
    case noPendingRun(path: String)
    /// The pending run was made from another state than the one now in place.
    case stalePendingRun(path: String, day: UInt64, stateDay: UInt64)
    /// The message holds another number of parts.
    case wrongPartCount(path: String, found: Int, expected: Int)
    /// The run info part is malformed.
    case badRunInfo(path: String, reason: String)
}

extension IncrementalPSIError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .wrongRelationship(path, field, found, expected):
            return "\(path): this relationship state is for another relationship: its \(field) is \(found); expected \(expected)"
        case let .dayOutOfOrder(path, day, expected):
            return "\(path): the message is for day \(day), which this side has already finished; expected day \(expected) (days run in order, each once)"
        case let .missingDays(path, day, expected):
            return "\(path): the message is for day \(day), but this side has finished only up to day \(expected - 1); expected day \(expected) (a gap: finish the missing days or start a new epoch)"
        case let .staleEpoch(path, epoch, current):
            return "\(path): epoch \(epoch) is stale: this side is in epoch \(current); expected epoch \(current), or a new epoch above it"
        case let .epochMismatch(path, found, expected):
            return "\(path): the message is for \(found); expected \(expected)"
        case let .unknownRemoval(path, index):
            return "\(path): removal \(index) names an item this side does not hold for the peer; expected only items added before and not yet removed"
        case let .repeatedItem(path, index):
            return "\(path): added item \(index) is already held or repeated; expected each item added once"
        case let .noPendingRun(path):
            return "\(path): no run is pending for this state; expected message 1 (initiate) or message 2 (respond) made from it first"
        case let .stalePendingRun(path, day, stateDay):
            return "\(path): the pending run for day \(day) was made from another state than the one in place (at day \(stateDay)); start the run again"
        case let .wrongPartCount(path, found, expected):
            return "\(path): the message holds \(found) parts; expected \(expected)"
        case let .badRunInfo(path, reason):
            return "\(path): bad run info: \(reason)"
        }
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
