public import Foundation

/// Unbalanced PSI over files, one call per step, for operators who pass files between a hub
/// and its members (the `psi hub` and `psi member` commands are thin shells around this type).
///
/// Every step checks its inputs completely before it writes anything, and every output (key,
/// setup, message, state, result) is written atomically; the member's state is committed
/// before its request. The files of one step must be distinct files
/// (``OutputFileError/samePath(path:first:second:)``), and an existing key or member state is
/// replaced only when asked.
public enum UnbalancedPSIFileExchange {
    /// What a member learned, ready to print or save.
    public struct Outcome: Sendable, Equatable {
        /// The result of the query.
        public let result: UnbalancedPSIResult
        /// For an intersection, the matching records as the operator wrote them (input order).
        public let matches: [ListRecord]
        /// For an intersection against a labeled setup, the label of each match (parallel to
        /// ``matches``); empty otherwise.
        public let labels: [SetupLabel]
        /// Items in the member's request.
        public let requestSize: Int
        /// Items in the hub's setup and deltas.
        public let setupItemCount: Int
        /// A member item outside the list matches with at most about this probability.
        public let falsePositiveRate: Double
        /// The query's receipt, signed by the member (write it with ``RunReceipt/write(to:)``).
        public let receipt: RunReceipt
    }

    /// What the hub's respond step did: the response written and the receipt of the request.
    public struct HubAnswer: Sendable {
        /// The response written.
        public let response: UnbalancedResponse
        /// The receipt of this answered request, signed by the hub.
        public let receipt: RunReceipt
    }

    /// Hub: generates a key serving `answerMode` and writes it with mode 0600.
    ///
    /// - Parameters:
    ///   - url: the key file to write.
    ///   - answerMode: the one answer mode the key serves.
    ///   - rotate: replace an existing key file (setups and requests under the old key are
    ///     refused from then on). Without it an existing file is refused.
    /// - Throws: ``UnbalancedPSIError/keyFileExists(path:)``, ``StateFileError``.
    @discardableResult
    public static func generateKey(at url: URL, answerMode: UnbalancedAnswerMode, rotate: Bool) throws -> HubKey {
        let key = HubKey.generate(answerMode: answerMode)
        try key.save(to: url, replacing: rotate)
        return key
    }

    /// Hub: evaluates and encodes its list, and writes the setup for members, signed by the
    /// hub's identity and addressed to any reader.
    ///
    /// - Parameters:
    ///   - records: the hub's list.
    ///   - hub: the hub.
    ///   - encoding: truncated tags or a Bloom filter.
    ///   - setupURL: where to write the setup.
    ///   - progress: progress reports.
    @discardableResult
    public static func publishSetup(records: [ListRecord], hub: UnbalancedPSIHub, encoding: SetupEncoding, setupURL: URL,
                                    progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        let setup = try hub.makeSetup(items: records.map(\.identifier), encoding: encoding, progress: progress)
        try setup.write(to: setupURL, signedBy: hub.identity)
        return setup
    }

    /// Hub: encodes new entries like the published setup at `baseURL` and writes a delta.
    ///
    /// Only the base's header, its public key (checked against its key id) and, for a filter,
    /// its parameter block are read: the identifier, key, purpose, mode, identifier type and
    /// encoding that the delta must share. The base must be signed by this hub.
    ///
    /// - Parameters:
    ///   - records: the entries appended to the list.
    ///   - hub: the hub; its key must be the base's.
    ///   - baseURL: the published setup.
    ///   - deltaURL: where to write the delta.
    ///   - number: the delta's number (1 for the first delta of the setup; members apply them in order).
    ///   - progress: progress reports.
    @discardableResult
    public static func publishDelta(records: [ListRecord], hub: UnbalancedPSIHub, baseURL: URL, deltaURL: URL, number: Int = 1,
                                    progress: ProgressHandler? = nil) throws -> UnbalancedSetup {
        try FilePaths.requireDistinct([("the published setup", baseURL), ("the delta", deltaURL)])
        let base = try deltaBase(baseURL, hub: hub)
        let delta = try hub.makeDelta(items: records.map(\.identifier), base: base, number: number, progress: progress)
        try delta.write(to: deltaURL, signedBy: hub.identity)
        return delta
    }

    /// Hub: reads a request (refusing it from its header when it is not signed by one of the
    /// hub's members, is for another hub, is under another key, in another mode or identifier
    /// type, or larger than the hub's limit), evaluates it, and writes the response, signed by
    /// the hub and addressed to the member.
    ///
    /// - Parameters:
    ///   - hub: the hub (its key, identity, members, purpose, identifier type and request limit).
    ///   - requestURL: the member's request.
    ///   - responseURL: where to write the response.
    ///   - reviewRequestSize: called with the request's declared size once the header is
    ///     accepted, before any element is read; throw to stop.
    @discardableResult
    public static func respond(hub: UnbalancedPSIHub, requestURL: URL, responseURL: URL,
                               reviewRequestSize: (Int) throws -> Void = { _ in }) throws -> HubAnswer {
        try FilePaths.requireDistinct([("the request", requestURL), ("the response", responseURL)])
        let startedAt = Date()
        let request = try UnbalancedRequest.read(from: requestURL, for: hub, reviewCount: reviewRequestSize)
        let response = try hub.respond(to: request)
        let sent = try response.write(to: responseURL, signedBy: hub.identity)
        let context = request.context
        // The hub learns only the request's size; its list's size is the setup's, not known here.
        let receipt = RunReceipt(role: .hub, protocolID: .unbalanced, suite: .ristretto255SHA512, outcome: context.answerMode.description,
                                 identifierType: hub.identifierType, purpose: hub.purpose, sessionID: context.sessionID,
                                 identity: hub.identity, peer: context.member, ownSetSize: nil,
                                 peerSetSize: request.blindedElements.count, resultCount: nil, setupDigest: context.setupDigest,
                                 sent: [RunReceipt.Message(kind: UnbalancedMessageKind.response.rawValue, sha256: sent)],
                                 received: [RunReceipt.Message(kind: UnbalancedMessageKind.request.rawValue, sha256: request.fileDigest!)],
                                 startedAt: startedAt, finishedAt: Date())
        return HubAnswer(response: response, receipt: receipt)
    }

    /// Member: reads and checks the setup (signed by `hub`), blinds `records`, writes the
    /// request for the hub (signed by `identity`) and the member's state (mode 0600).
    ///
    /// - Parameters:
    ///   - records: the member's list; repeats are collapsed.
    ///   - purpose: the purpose label of the hub's list.
    ///   - identifierType: the type of the member's list; the hub's list must be of the same.
    ///   - identity: the member's identity.
    ///   - hub: the hub's identity key, the only signer of setups and responses accepted.
    ///   - setupURL: the hub's setup (not a delta).
    ///   - stateURL: where to write the member's state.
    ///   - requestURL: where to write the request.
    ///   - parallelism: threads.
    ///   - replacingState: replace an existing file at `stateURL` (its query is lost); without
    ///     it an existing file is refused with ``OutputFileError/exists(path:)``.
    @discardableResult
    public static func request(records: [ListRecord], purpose: PurposeLabel, identifierType: IdentifierType,
                               identity: PartyIdentity, hub: PartyPublicKey, setupURL: URL, stateURL: URL, requestURL: URL,
                               parallelism: Parallelism = .allCores, replacingState: Bool = false) throws -> UnbalancedPSIMember {
        try FilePaths.requireDistinct([("the setup", setupURL), ("the state file", stateURL), ("the request", requestURL)])
        try FilePaths.refuseExisting(stateURL, replacing: replacingState)
        let startedAt = Date()
        let setup = try UnbalancedSetup.read(from: setupURL, hub: hub, reader: identity.publicKey, purpose: purpose)
        guard !setup.isDelta else {
            throw UnbalancedPSIError.invalidSetup(path: setupURL.path, reason: "it is a setup delta; expected the full setup")
        }
        let records = distinctRecords(records)
        let member = try UnbalancedPSIMember(items: records.map(\.identifier), purpose: purpose, identifierType: identifierType,
                                             setup: setup, identity: identity, parallelism: parallelism)
        // The request is sealed first, so that the state can record its digest for the receipt.
        let request = try MessageFileWriter(url: requestURL, header: try member.request.fileHeader(), signer: identity)
        try member.request.writeBody(to: request)
        try request.seal()
        let transcript = PartyStateFile.Transcript(
            startedAt: startedAt, sent: [RunReceipt.Message(kind: UnbalancedMessageKind.request.rawValue, sha256: request.fileDigest!)],
            received: [])
        let state = try MemberStateFile.writer(member, records: records, transcript: transcript, to: stateURL)
        // The state first: a request is never left to send without the state to finish it.
        try commitInOrder([({ try state.commit(replacing: replacingState) }, state.retract),
                           ({ try request.commit() }, { unlink(requestURL.path) })])
        return member
    }

    /// Member: reads the hub's response, the setup the request was made from and its deltas,
    /// and computes what the member learns.
    ///
    /// - Parameters:
    ///   - stateURL: the member's state from ``request(records:purpose:identifierType:identity:hub:setupURL:stateURL:requestURL:parallelism:replacingState:)``.
    ///   - identity: the member's identity, which the state was made with.
    ///   - hub: the hub's identity key, which the state was made with.
    ///   - responseURL: the hub's response.
    ///   - setupURL: the setup the request was made from.
    ///   - deltaURLs: deltas of that setup.
    ///   - parallelism: threads.
    ///   - reviewPurpose: called with the state's purpose label before any message is read
    ///     (for example to check the hub is still trusted for it); throw to stop.
    public static func finish(stateURL: URL, identity: PartyIdentity, hub: PartyPublicKey, responseURL: URL, setupURL: URL,
                              deltaURLs: [URL] = [], parallelism: Parallelism = .allCores,
                              reviewPurpose: (PurposeLabel) throws -> Void = { _ in }) throws -> Outcome {
        try FilePaths.requireDistinct([("the state file", stateURL), ("the response", responseURL), ("the setup", setupURL)]
                                      + deltaURLs.enumerated().map { ("delta \($0.offset + 1)", $0.element) })
        let (member, records, stored) = try MemberStateFile.read(from: stateURL, identity: identity, parallelism: parallelism)
        let context = member.context
        try reviewPurpose(member.purpose)
        guard hub == context.hub else {
            throw PSIError.peerMismatch(found: hub.fingerprint, expected: context.hub.fingerprint)
        }
        let response = try UnbalancedResponse.read(from: responseURL, request: context, count: member.request.blindedElements.count)
        let setup = try UnbalancedSetup.read(from: setupURL, hub: hub, reader: identity.publicKey, purpose: member.purpose,
                                             keyID: context.keyID)
        let deltas = try deltaURLs.map {
            try UnbalancedSetup.read(from: $0, hub: hub, reader: identity.publicKey, purpose: member.purpose, keyID: context.keyID)
        }
        let lookup = try UnbalancedSetupLookup(setup: setup, deltas: deltas)
        let labeled = try member.finishWithLabels(response: response, lookup: lookup)
        let result = labeled.result
        var matches = [ListRecord]()
        if case .intersection(let indices, _) = result { matches = indices.map { records[$0] } }
        guard let transcript = stored else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "it does not record the request it made")
        }
        let received = [RunReceipt.Message(kind: UnbalancedMessageKind.response.rawValue, sha256: response.fileDigest!),
                        RunReceipt.Message(kind: UnbalancedMessageKind.setup.rawValue, sha256: setup.fileDigest!)]
            + deltas.map { RunReceipt.Message(kind: UnbalancedMessageKind.setupDelta.rawValue, sha256: $0.fileDigest!) }
        let receipt = RunReceipt(role: .member, protocolID: .unbalanced, suite: .ristretto255SHA512, outcome: context.answerMode.description,
                                 identifierType: context.identifierType, purpose: member.purpose, sessionID: context.sessionID,
                                 identity: identity, peer: hub, ownSetSize: member.items.count, peerSetSize: lookup.itemCount,
                                 resultCount: result.count, setupDigest: context.setupDigest, sent: transcript.sent,
                                 received: received, startedAt: transcript.startedAt, finishedAt: Date())
        return Outcome(result: result, matches: matches, labels: labeled.labels, requestSize: member.items.count, setupItemCount: lookup.itemCount,
                       falsePositiveRate: lookup.falsePositiveRate, receipt: receipt)
    }

    /// The facts of a published setup that a delta must share, read from its header, its
    /// public key (checked against its key id) and, for a filter, its parameter block; the
    /// setup must be signed by this hub. Its entries are not read.
    static func deltaBase(_ baseURL: URL, hub: UnbalancedPSIHub) throws -> UnbalancedSetup {
        let reader = try UnbalancedSetup.openSetup(baseURL, hub: hub.identity.publicKey, reader: hub.identity.publicKey,
                                                   purpose: hub.purpose, keyID: nil)
        let header = reader.header
        let facts = try UnbalancedSetup.facts(header, path: baseURL.path)
        let publicKey = try UnbalancedSetup.readPublicKey(reader)
        let encoding: SetupEncoding
        if let known = facts.encoding {
            encoding = known
        } else {
            guard let block = try reader.readChunk(maximumElements: BloomFilter.parameterWords),
                  block.count == BloomFilter.parameterWords * 8 else {
                throw UnbalancedPSIError.invalidSetup(path: baseURL.path, reason: "the Bloom filter parameter block is missing")
            }
            let bits = block[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            encoding = .bloomFilter(falsePositiveRate: Double(bitPattern: bits))
        }
        guard let identifierType = header.identifierType else {
            throw MessageFileError.identifierTypeMismatch(path: baseURL.path, found: "no identifier type", expected: hub.identifierType.description)
        }
        // Only the header's facts are used: an empty body stands for the unread entries.
        return UnbalancedSetup(isDelta: facts.isDelta, deltaNumber: facts.deltaNumber, setupID: header.sessionID, publicKey: publicKey,
                               purposeDigest: header.purposeDigest, answerMode: facts.answerMode, encoding: encoding, itemCount: 0,
                               hub: header.sender, identifierType: identifierType,
                               body: .tags(SetupEntryTable(memory: [], entrySize: encoding.entryByteCount ?? 8, tagSize: encoding.tagByteCount ?? 8)),
                               origin: baseURL.path, digest: reader.storedDigest)
    }

    /// The first record of each identifier, in input order.
    static func distinctRecords(_ records: [ListRecord]) -> [ListRecord] {
        var seen = Set<Identifier>(minimumCapacity: records.count)
        return records.filter { seen.insert($0.identifier).inserted }
    }
}
