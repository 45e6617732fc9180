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
    ///   - maximumRequestSize: the largest request answered (at least 1, at most 16,711,425: the
    ///     most elements one response's extension block can prove, 255 proofs of 65,535).
    ///   - parallelism: threads for evaluation.
    public init(key: HubKey, identity: PartyIdentity, purpose: PurposeLabel, identifierType: IdentifierType,
                members: Set<PartyPublicKey> = [], maximumRequestSize: Int = defaultMaximumRequestSize,
                parallelism: Parallelism = .allCores) {
        self.key = key
        self.identity = identity
        self.purpose = purpose
        self.identifierType = identifierType
        self.members = members
        self.maximumRequestSize = min(max(1, maximumRequestSize), UnbalancedFields.maximumProvenElements)
        self.parallelism = parallelism
    }

    /// Evaluates the PRF on every item of the list (RFC 9497 Evaluate in verifiable mode, for
    /// intersection answers),
    /// and encodes the values: shuffled truncated tags, or a Bloom filter.
    ///
    /// - Parameters:
    ///   - items: the list; repeats are collapsed.
    ///   - encoding: how to encode the values.
    ///   - progress: progress reports (from worker threads).
    /// - Returns: a setup with a fresh random setup identifier.
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)``,
    ///   ``PSIError/itemTypeMismatch(index:found:expected:)`` for an item of another type than
    ///   ``identifierType``.
    public func makeSetup(items: [Identifier], encoding: SetupEncoding, progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try encode(items, encoding: encoding, setupID: .random(), isDelta: false, progress: progress)
    }

    /// A delta: the given new entries, encoded like `base`, to publish beside it.
    ///
    /// Deltas only add entries; removing an entry needs a new full setup (and a new key if
    /// members holding the old setup must stop matching it).
    ///
    /// - Parameters:
    ///   - items: the entries appended to the list.
    ///   - base: the published setup (or its header's facts: only its identifier, key,
    ///     purpose, mode and encoding are used).
    ///   - progress: progress reports.
    /// - Throws: ``MessageFileError/keyMismatch(path:found:expected:)`` when `base` was made
    ///   under another key (a setup from before a rotation: publish a new full setup), ``UnbalancedPSIError/invalidSetup(path:reason:)``
    ///   when it is itself a delta, ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``
    ///   and ``MessageFileError/purposeMismatch(path:found:expected:)``.
    public func makeDelta(items: [Identifier], base: UnbalancedSetup, progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try makeDelta(items: items, baseSetupID: base.setupID, baseKeyID: base.keyID, purposeDigest: base.purposeDigest,
                      answerMode: base.answerMode, isDelta: base.isDelta, encoding: base.encoding,
                      identifierType: base.identifierType, origin: base.origin, progress: progress)
    }

    func makeDelta(items: [Identifier], baseSetupID: SessionID, baseKeyID: HubKeyID, purposeDigest: [UInt8],
                   answerMode: UnbalancedAnswerMode, isDelta: Bool, encoding: SetupEncoding, identifierType baseType: IdentifierType?,
                   origin: String, progress: ProgressHandler?) throws -> UnbalancedSetup {
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
        return try encode(items, encoding: encoding, setupID: baseSetupID, isDelta: true, progress: progress)
    }

    private func encode(_ items: [Identifier], encoding: SetupEncoding, setupID: SessionID, isDelta: Bool,
                        progress: ProgressHandler?) throws -> UnbalancedSetup {
        try encoding.validate()
        try identifierType.check(items)
        let items = distinctItems(items).0
        let keep = encoding.keptByteCount
        let values = try UnbalancedPRF.evaluate(UnbalancedPRF.Inputs(items, purpose: purpose, identifierType: identifierType), key: key, keep: keep,
                                                parallelism: parallelism, progress: progress)
        let body: UnbalancedSetup.Body
        switch encoding {
        case .truncatedTags:
            // Order hides nothing: the published tags are shuffled.
            var order = Array(0..<items.count)
            cryptographicShuffle(&order)
            var tags = [UInt8](repeating: 0, count: values.count)
            tags.withUnsafeMutableBytes { out in
                values.withUnsafeBytes { src in
                    for (position, index) in order.enumerated() {
                        (out.baseAddress! + position * keep).copyMemory(from: src.baseAddress! + index * keep, byteCount: keep)
                    }
                }
            }
            body = .tags(tags)
        case .bloomFilter(let ε):
            var filter = try BloomFilter(itemCount: items.count, falsePositiveRate: ε)
            values.withUnsafeBytes { src in
                for i in 0..<items.count { filter.insert(UnsafeRawBufferPointer(rebasing: src[(i * keep)..<((i + 1) * keep)])) }
            }
            body = .filter(filter)
        }
        return UnbalancedSetup(isDelta: isDelta, setupID: setupID, publicKey: key.privateKey.publicKey, purposeDigest: purpose.digest,
                               answerMode: key.answerMode, encoding: encoding, itemCount: items.count,
                               hub: identity.publicKey, identifierType: identifierType, body: body, origin: "setup")
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
