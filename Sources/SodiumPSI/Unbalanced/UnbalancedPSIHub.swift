import Foundation

/// The list holder of an unbalanced PSI (an alliance hub): publishes a setup once, then
/// answers members' requests.
///
/// ```swift
/// let hub = UnbalancedPSIHub(key: try HubKey.load(from: keyURL), identity: hubIdentity, purpose: purpose,
///                            identifierType: IdentifierType(kind: .phoneNumber), members: memberKeys)
/// try hub.makeSetup(items: list, encoding: .bloomFilter(falsePositiveRate: 0x1p-20))
///     .write(to: setupURL, signedBy: hubIdentity)
/// // for every request, possibly concurrently:
/// let response = try hub.respond(to: request)
/// ```
///
/// A hub is immutable and `Sendable`: load the key once and serve many requests concurrently.
///
/// - Warning: the hub learns each request's size and nothing else about it; a member learns
///   which of its items are in the list (or how many). A member that queries every possible
///   value would learn the whole list: ``maximumRequestSize`` and the rate at which the service
///   answers each member are the defence.
public struct UnbalancedPSIHub: Sendable {
    /// Default largest request: 100,000 items.
    public static let defaultMaximumRequestSize = 100_000

    /// The hub's key.
    public let key: HubKey
    /// The hub's signing identity (setups and responses are signed by it).
    public let identity: PartyIdentity
    /// The purpose label this hub serves.
    public let purpose: PurposeLabel
    /// The identifier type of the hub's list; requests must declare the same.
    public let identifierType: IdentifierType
    /// The members' identity keys: requests from anyone else are refused.
    public let members: Set<PartyPublicKey>
    /// The largest request answered; larger ones are refused from their header.
    public let maximumRequestSize: Int
    /// Threads for evaluation.
    public let parallelism: Parallelism

    /// A hub.
    ///
    /// - Parameters:
    ///   - key: the hub's key (loaded once).
    ///   - identity: the hub's signing identity.
    ///   - purpose: the purpose label of the list.
    ///   - identifierType: the identifier type of the list.
    ///   - members: the members whose requests are answered (none: the hub only publishes setups).
    ///   - maximumRequestSize: the largest request answered (at least 1).
    ///   - parallelism: threads for evaluation.
    public init(key: HubKey, identity: PartyIdentity, purpose: PurposeLabel, identifierType: IdentifierType,
                members: Set<PartyPublicKey> = [], maximumRequestSize: Int = defaultMaximumRequestSize,
                parallelism: Parallelism = .allCores) {
        self.key = key
        self.identity = identity
        self.purpose = purpose
        self.identifierType = identifierType
        self.members = members
        self.maximumRequestSize = max(1, maximumRequestSize)
        self.parallelism = parallelism
    }

    /// Evaluates the PRF on every item of the list (RFC 9497 Evaluate in verifiable mode, for
    /// intersection answers), and encodes the values: sorted truncated tags, or a Bloom filter.
    ///
    /// - Parameters:
    ///   - items: the list; repeats are collapsed.
    ///   - encoding: how to encode the values (a labeled encoding needs
    ///     ``makeSetup(items:labels:encoding:progress:)``).
    ///   - progress: progress reports (from worker threads).
    /// - Returns: a setup with a fresh random setup identifier.
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)``,
    ///   ``UnbalancedPSIError/labelsNotSupported(reason:)`` for a labeled encoding,
    ///   ``PSIError/itemTypeMismatch(index:found:expected:)`` for an item of another type than
    ///   ``identifierType``.
    public func makeSetup(items: [Identifier], encoding: SetupEncoding, progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try encode(items, labels: nil, encoding: encoding, setupID: .random(), deltaNumber: 0, progress: progress)
    }

    /// Evaluates the PRF on every item and writes each item's tag with its label, encrypted
    /// under a key derived from the item's PRF value: a member learns the labels of its matches
    /// and nothing of the others (see <doc:LabelsAndSetupEncodings>).
    ///
    /// - Parameters:
    ///   - items: the list, each item once (aggregate repeated reports into one label first,
    ///     as ``UnbalancedPSIFileExchange/publishSetup(contributions:hub:encoding:labelColumns:setupURL:delta:options:progress:)`` does).
    ///   - labels: one label per item.
    ///   - encoding: ``SetupEncoding/labeledTags(tagByteCount:labelByteCount:)``.
    ///   - progress: progress reports.
    /// - Throws: ``UnbalancedPSIError/labelsNotSupported(reason:)`` for another encoding or a
    ///   cardinality-only key, ``UnbalancedPSIError/invalidLabel(index:reason:)`` for an item
    ///   given twice or an invalid label, ``UnbalancedPSIError/labelTooLong(index:length:maximum:)``.
    public func makeSetup(items: [Identifier], labels: [SetupLabel], encoding: SetupEncoding,
                          progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try encode(items, labels: labels, encoding: encoding, setupID: .random(), deltaNumber: 0, progress: progress)
    }

    /// A delta: the given new entries, encoded like `base`, to publish beside it.
    ///
    /// Deltas only add entries (or, in a labeled setup, give an item a new label); removing an
    /// entry needs a new full setup (and a new key if members holding the old setup must stop
    /// matching it).
    ///
    /// - Parameters:
    ///   - items: the entries appended to the list.
    ///   - labels: for a labeled setup, one label per item (an item already in the setup gets
    ///     this label from then on); nil otherwise.
    ///   - base: the published setup (or its header's facts: only its identifier, key,
    ///     purpose, mode and encoding are used).
    ///   - number: the delta's number: 1 for the first delta of `base`, 2 for the next, …;
    ///     members apply deltas in this order and refuse a gap.
    ///   - progress: progress reports.
    /// - Throws: ``MessageFileError/keyMismatch(path:found:expected:)`` when `base` was made
    ///   under another key (a setup from before a rotation: publish a new full setup), ``UnbalancedPSIError/invalidSetup(path:reason:)``
    ///   when it is itself a delta, ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``MessageFileError/purposeMismatch(path:found:expected:)``, and the label errors of
    ///   ``makeSetup(items:labels:encoding:progress:)``.
    public func makeDelta(items: [Identifier], labels: [SetupLabel]? = nil, base: UnbalancedSetup, number: Int = 1,
                          progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try checkDeltaBase(baseKeyID: base.keyID, purposeDigest: base.purposeDigest, answerMode: base.answerMode, isDelta: base.isDelta,
                           identifierType: base.identifierType, origin: base.origin)
        return try encode(items, labels: labels, encoding: base.encoding, setupID: base.setupID, deltaNumber: number, progress: progress)
    }

    /// Checks that a delta may extend a setup with these header facts.
    func checkDeltaBase(baseKeyID: HubKeyID, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode, isDelta: Bool,
                        identifierType baseType: IdentifierType?, origin: String) throws {
        guard !isDelta else {
            throw UnbalancedPSIError.invalidSetup(path: origin, reason: "it is a delta; a delta extends the full setup")
        }
        guard baseType == identifierType else {
            throw MessageFileError.identifierTypeMismatch(path: origin, found: baseType?.description ?? "no identifier type",
                                                          expected: identifierType.description)
        }
        guard baseKeyID == key.keyID else {
            throw MessageFileError.keyMismatch(path: origin, found: baseKeyID.description, expected: key.keyID.description)
        }
        guard purposeDigest == purpose.digest else {
            throw MessageFileError.purposeMismatch(path: origin, found: purposeDigest.hexString, expected: purpose.digest.hexString)
        }
        guard answerMode == key.answerMode else {
            throw UnbalancedPSIError.answerModeMismatch(path: origin, found: answerMode.description, expected: key.answerMode.description)
        }
    }

    /// Checks an encoding, and that labels are given exactly when it is labeled and the key
    /// serves intersection answers.
    func checkEncoding(_ encoding: SetupEncoding, labeled: Bool, deltaNumber: Int) throws {
        try encoding.validate()
        guard deltaNumber >= 0, deltaNumber <= Int(UInt32.max) else {
            throw UnbalancedPSIError.invalidEncodingParameter(reason: "delta number \(deltaNumber); expected 1 to \(UInt32.max)")
        }
        if encoding.labelByteCount != nil {
            guard key.answerMode == .intersection else {
                throw UnbalancedPSIError.labelsNotSupported(
                    reason: "the hub key serves cardinality-only answers: its members learn how many of their items match, and labels would tell them which")
            }
            guard labeled else { throw UnbalancedPSIError.labelsNotSupported(reason: "a labeled encoding needs a label for every item") }
        } else if labeled {
            throw UnbalancedPSIError.labelsNotSupported(reason: "\(encoding) carries no labels; use labeled tags")
        }
    }

    private func encode(_ items: [Identifier], labels: [SetupLabel]?, encoding: SetupEncoding, setupID: SessionID, deltaNumber: Int,
                        progress: ProgressHandler?) throws -> UnbalancedSetup {
        try checkEncoding(encoding, labeled: labels != nil, deltaNumber: deltaNumber)
        try identifierType.check(items)
        var items = items
        if let labels {
            precondition(labels.count == items.count, "one label per item")
            var seen = [Identifier: Int](minimumCapacity: items.count)
            for (index, item) in items.enumerated() {
                if let first = seen.updateValue(index, forKey: item) {
                    throw UnbalancedPSIError.invalidLabel(index: index, reason: "it repeats item \(first); give each item once, with its aggregated label")
                }
            }
        } else {
            items = distinctItems(items).0
        }
        let body: UnbalancedSetup.Body
        switch encoding {
        case .truncatedTags, .labeledTags:
            let entries = try setupEntries(items, labels: labels, encoding: encoding, setupID: setupID, deltaNumber: deltaNumber,
                                           progress: progress)
            let size = encoding.entryByteCount!
            body = .tags(SetupEntryTable(memory: SetupEntryTable.sortEntries(entries, entrySize: size, tagSize: encoding.tagByteCount!),
                                         entrySize: size, tagSize: encoding.tagByteCount!))
        case .bloomFilter(let ε):
            let keep = encoding.keptByteCount
            let values = try UnbalancedPRF.evaluate(UnbalancedPRF.Inputs(items, purpose: purpose, identifierType: identifierType), key: key, keep: keep,
                                                    parallelism: parallelism, progress: progress)
            var filter = try BloomFilter(itemCount: items.count, falsePositiveRate: ε)
            values.withUnsafeBytes { src in
                for i in 0..<items.count { filter.insert(UnsafeRawBufferPointer(rebasing: src[(i * keep)..<((i + 1) * keep)])) }
            }
            body = .filter(filter)
        }
        return UnbalancedSetup(isDelta: deltaNumber > 0, deltaNumber: deltaNumber, setupID: setupID, publicKey: key.privateKey.publicKey,
                               purposeDigest: purpose.digest, answerMode: key.answerMode, encoding: encoding, itemCount: items.count,
                               hub: identity.publicKey, identifierType: identifierType, body: body, origin: "setup")
    }

    /// The entries of distinct `items` in a tags encoding, in the items' order (the caller
    /// sorts them): each item's tag, then, with labels, its label sealed under its key. The
    /// PRF and the sealing run on all threads.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidLabel(index:reason:)`` and
    ///   ``UnbalancedPSIError/labelTooLong(index:length:maximum:)`` (`index` counted from
    ///   `firstIndex`), and the PRF's errors.
    func setupEntries(_ items: [Identifier], labels: [SetupLabel]?, encoding: SetupEncoding, setupID: SessionID, deltaNumber: Int,
                      firstIndex: Int = 0, progress: ProgressHandler?) throws -> [UInt8] {
        let keep = encoding.keptByteCount
        var values = try UnbalancedPRF.evaluate(UnbalancedPRF.Inputs(items, purpose: purpose, identifierType: identifierType), key: key, keep: keep,
                                                parallelism: parallelism, progress: progress)
        guard let labels, case .labeledTags(let t, let size) = encoding else { return values }
        // The PRF values give the label keys: wiped once the labels are sealed.
        defer { values.withUnsafeMutableBytes { wipe($0) } }
        let plaintexts = try labels.enumerated().map { index, label -> [UInt8] in
            switch label.encoded(size: size) {
            case .success(let bytes): return bytes
            case .failure(.invalid(let reason)): throw UnbalancedPSIError.invalidLabel(index: firstIndex + index, reason: reason)
            case .failure(.tooLong(let length)): throw UnbalancedPSIError.labelTooLong(index: firstIndex + index, length: length, maximum: size)
            }
        }
        let entrySize = encoding.entryByteCount!
        let nonce = LabelCipher.nonce(setupID: setupID, deltaNumber: deltaNumber)
        var entries = [UInt8](repeating: 0, count: items.count * entrySize)
        try entries.withUnsafeMutableBytes { out in
            try values.withUnsafeBytes { src in
                try forEachRange(count: items.count, parallelism: parallelism) { range in
                    for i in range {
                        let value = src.baseAddress! + i * keep, entry = out.baseAddress! + i * entrySize
                        entry.copyMemory(from: value, byteCount: t)
                        LabelCipher.seal(plaintexts[i], value: value, tag: UnsafeRawBufferPointer(start: value, count: t), setupID: setupID,
                                         nonce: nonce, into: entry + t)
                    }
                }
            }
        }
        return entries
    }

    /// Answers a request: RFC 9497 BlindEvaluate of every blinded element — in verifiable mode
    /// (VOPRF), in the request's order with one batched DLEQ proof per 65,535 elements
    /// (intersection mode), or shuffled and without a proof (cardinality-only mode).
    ///
    /// The request's ``UnbalancedQueryContext/setupDigest`` names the setup the member will
    /// finish against; the hub does not need to check it (log it with the request).
    ///
    /// Safe to call concurrently from many threads.
    ///
    /// - Throws: ``PSIError/untrustedSender(sender:expected:)`` for a request from a party
    ///   that is not among ``members``, ``PSIError/wrongRecipient(found:expected:)`` for a
    ///   request for another hub, ``PSIError/identifierTypeMismatch(found:expected:)``,
    ///   ``UnbalancedPSIError/requestUnderOtherKey(path:requestKeyID:hubKeyID:)`` for a
    ///   request made from a setup under another (older) key,
    ///   ``UnbalancedPSIError/requestTooLarge(path:count:limit:)``,
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``MessageFileError/purposeMismatch(path:found:expected:)``, and
    ///   ``UnbalancedPSIError/invalidElement(path:index:reason:)`` for the identity, a
    ///   non-canonical encoding or a repeated element.
    public func respond(to request: UnbalancedRequest) throws -> UnbalancedResponse {
        let context = request.context
        let path = request.origin
        guard members.contains(context.member) else {
            throw PSIError.untrustedSender(sender: context.member.fingerprint, expected: "one of the hub's \(members.count) members")
        }
        guard context.hub == identity.publicKey else {
            throw PSIError.wrongRecipient(found: context.hub.fingerprint, expected: identity.publicKey.fingerprint)
        }
        guard context.identifierType == identifierType else {
            throw PSIError.identifierTypeMismatch(found: context.identifierType.description, expected: identifierType.description)
        }
        guard context.keyID == key.keyID else {
            throw UnbalancedPSIError.requestUnderOtherKey(path: path, requestKeyID: context.keyID.description, hubKeyID: key.keyID.description)
        }
        guard context.purposeDigest == purpose.digest else {
            throw MessageFileError.purposeMismatch(path: path, found: context.purposeDigest.hexString, expected: purpose.digest.hexString)
        }
        guard context.answerMode == key.answerMode else {
            throw UnbalancedPSIError.answerModeMismatch(path: path, found: context.answerMode.description, expected: key.answerMode.description)
        }
        guard request.blindedElements.count <= maximumRequestSize else {
            throw UnbalancedPSIError.requestTooLarge(path: path, count: request.blindedElements.count, limit: maximumRequestSize)
        }
        return try reportingElementErrors(path) {
            try UnbalancedPRF.checkReceived(request.blindedElements)
            switch key.answerMode {
            case .intersection:
                let evaluation = try OPRF.VerifiableServer(privateKey: key.privateKey).blindEvaluate(request.blindedElements,
                                                                                                     parallelism: parallelism)
                return UnbalancedResponse(context: context, evaluatedElements: evaluation.evaluatedElements, proofs: evaluation.proofs,
                                          origin: "response")
            case .cardinalityOnly:
                var evaluated = try multiply(request.blindedElements, by: key.privateKey.scalar, parallelism: parallelism)
                // The member must not learn which of its items matched, only how many; a
                // shuffled answer has no pairs a DLEQ proof could cover.
                cryptographicShuffle(&evaluated)
                return UnbalancedResponse(context: context, evaluatedElements: evaluated, proofs: [], origin: "response")
            }
        }
    }
}

/// Turns an element error with a position into a file-level error naming `path`.
func reportingElementErrors<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as PSIError {
        switch error {
        case .identityElement(let index?), .invalidElementEncoding(let index?):
            throw UnbalancedPSIError.invalidElement(path: path, index: index, reason: error.localizedDescription)
        case .duplicateElement(let index, _):
            throw UnbalancedPSIError.invalidElement(path: path, index: index, reason: error.localizedDescription)
        default:
            throw error
        }
    }
}
