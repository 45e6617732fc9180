public import Foundation

/// Mutual PSI over files, one call per protocol step, for operators who pass message files
/// between institutions (the `psi` command is a thin shell around this type).
///
/// Every step streams: lists and message files are read, blinded and re-blinded a chunk at a
/// time, and sets larger than ``StreamingOptions/inMemoryLimit`` are shuffled, de-duplicated and
/// intersected bucket by bucket through temporary files, so memory does not grow with the list
/// sizes (only with the number of matches). The results are those of ``MutualPSIInitiator`` and
/// ``MutualPSIResponder``.
///
/// Every step reads and checks all its inputs before anything appears under an output name,
/// and every output (message, state, result) is written atomically. The state is committed
/// first and the messages after it; if any output fails, those already committed are removed,
/// so a failed step leaves no message to send without the state to finish it. Temporary files
/// live in a private folder (mode 0700) that is removed when the step ends.
///
/// Paths: the files of one step must be distinct files (after symbolic and hard links), or
/// the step is refused with ``OutputFileError/samePath(path:first:second:)`` before it reads
/// anything. An existing state file is never replaced unless `replacingState` is true
/// (``OutputFileError/exists(path:)``). A state finishes one exchange: once finished it
/// records the SHA-256 of the peer messages it finished with, and a second finish with other
/// messages is refused (``StateFileError/alreadyFinished(path:)``); the same messages may be
/// finished again, with the same result.
public enum MutualPSIFileExchange {
    /// What one side learned, ready to print or save.
    public struct Outcome: Sendable, Equatable {
        /// The result of the exchange.
        public let result: MutualPSIResult
        /// For an intersection, the matching records as the operator wrote them (input order).
        public let matches: [ListRecord]
        /// Whether this step wrote a message for the peer (the initiator's step 3).
        public let replyWritten: Bool
        /// The run's receipt, signed by this party (write it with ``RunReceipt/write(to:)``).
        public let receipt: RunReceipt
    }

    /// What step 1 or step 2 did with this party's list.
    public struct Blinding: Sendable, Equatable {
        /// The exchange (the initiator's fresh session, adopted by the responder).
        public let context: ExchangeContext
        /// Valid records given and distinct items blinded.
        public let inputSummary: InputSummary
        /// The counts of reading the list: values read, valid, invalid, repeats collapsed.
        public let listSummary: ListSummary
        /// Responder only: the initiator's set size.
        public let peerSetSize: Int?
        /// Responder when only the initiator learns: respond is its last step, so it signs the
        /// run's receipt here. Nil otherwise (the finish steps do).
        public let receipt: RunReceipt?

        /// A summary for records given as an array (all valid).
        init(context: ExchangeContext, inputSummary: InputSummary, peerSetSize: Int?, receipt: RunReceipt? = nil) {
            var summary = ListSummary()
            summary.read = inputSummary.given
            summary.valid = inputSummary.given
            summary.duplicatesCollapsed = inputSummary.duplicatesCollapsed
            self.init(context: context, inputSummary: inputSummary, listSummary: summary, peerSetSize: peerSetSize, receipt: receipt)
        }

        private init(context: ExchangeContext, inputSummary: InputSummary, listSummary: ListSummary, peerSetSize: Int?,
                     receipt: RunReceipt?) {
            self.context = context
            self.inputSummary = inputSummary
            self.listSummary = listSummary
            self.peerSetSize = peerSetSize
            self.receipt = receipt
        }

        /// The same, with the counts of reading a list file (repeats counted by the blinding).
        func replacingListSummary(_ summary: ListSummary) -> Blinding {
            var summary = summary
            summary.duplicatesCollapsed = inputSummary.duplicatesCollapsed
            return Blinding(context: context, inputSummary: inputSummary, listSummary: summary, peerSetSize: peerSetSize,
                            receipt: receipt)
        }
    }

    /// Step 1 (initiator): blinds the list, writes the blinded set to `messageURL` and the
    /// party state to `stateURL` (mode 0600).
    ///
    /// - Parameters:
    ///   - list: this party's list, read as a stream.
    ///   - configuration: the agreed settings, local policy and streaming bounds.
    ///   - stateURL: where to save this party's state.
    ///   - messageURL: where to write step 1.
    ///   - replacingState: replace an existing file at `stateURL` (its exchange is lost).
    @discardableResult
    public static func initiate(list: IdentifierListReader, configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL, replacingState: Bool = false) throws -> Blinding {
        var summary = ListSummary()
        let blinding = try initiate(source: { summary = try list.forEach($0) }, listURL: list.url, configuration: configuration,
                                    stateURL: stateURL, messageURL: messageURL, replacingState: replacingState)
        return blinding.replacingListSummary(summary)
    }

    /// Step 1 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func initiate(records: [ListRecord], configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL, replacingState: Bool = false) throws -> Blinding {
        try initiate(source: { try records.forEach($0) }, listURL: nil, configuration: configuration, stateURL: stateURL,
                     messageURL: messageURL, replacingState: replacingState)
    }

    private static func initiate(source: RecordSource, listURL: URL?, configuration: MutualPSIConfiguration,
                                 stateURL: URL, messageURL: URL, replacingState: Bool) throws -> Blinding {
        try FilePaths.requireDistinct([("the list", listURL), ("the state file", stateURL), ("the step-1 message", messageURL)])
        try FilePaths.refuseExisting(stateURL, replacing: replacingState)
        let startedAt = Date()
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let suite = MutualSuite(configuration.suite)
        let secret = suite.newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)
        let context = configuration.context(sessionID: .random(), role: .initiator)
        let message = try MessageFileWriter(url: messageURL, header: .mutual(.initiatorBlindedSet, context: context, count: own.count),
                                            signer: configuration.identity)
        try message.append(contentsOf: own.sentElements)
        let state = try stateWriter(stateURL, role: .initiator, secret: secret, own: own)
        var metadata = own.stateMetadata(configuration, context: context)
        metadata.transcript = PartyStateFile.Transcript(startedAt: startedAt, sent: [try sealed(message, .initiatorBlindedSet)], received: [])
        try state.seal(metadata)
        try commitInOrder([state.output(replacing: replacingState), output(message, messageURL)])
        return Blinding(context: context, inputSummary: own.inputSummary, peerSetSize: nil)
    }

    /// Step 2 (responder): checks step 1's header against the agreement and the policy (after
    /// `reviewPeerSetSize` has seen the peer's set size), blinds this party's list, re-blinds
    /// the initiator's set, and writes the two step-2 messages and the party state.
    ///
    /// - Parameters:
    ///   - list: this party's list, read as a stream.
    ///   - configuration: the agreed settings, local policy and streaming bounds.
    ///   - requestURL: the initiator's step-1 file.
    ///   - stateURL: where to save this party's state (mode 0600).
    ///   - responderSetURL: where to write this party's blinded set.
    ///   - reblindedURL: where to write the initiator's set re-blinded.
    ///   - replacingState: replace an existing file at `stateURL` (its exchange is lost).
    ///   - reviewPeerSetSize: called with the peer's declared set size before any element is
    ///     read or any work is done; throw to stop.
    @discardableResult
    public static func respond(list: IdentifierListReader, configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL, replacingState: Bool = false,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> Blinding {
        var summary = ListSummary()
        let blinding = try respond(source: { summary = try list.forEach($0) }, listURL: list.url, configuration: configuration,
                                   requestURL: requestURL, stateURL: stateURL, responderSetURL: responderSetURL,
                                   reblindedURL: reblindedURL, replacingState: replacingState, reviewPeerSetSize: reviewPeerSetSize)
        return blinding.replacingListSummary(summary)
    }

    /// Step 2 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func respond(records: [ListRecord], configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL, replacingState: Bool = false,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> Blinding {
        try respond(source: { try records.forEach($0) }, listURL: nil, configuration: configuration, requestURL: requestURL,
                    stateURL: stateURL, responderSetURL: responderSetURL, reblindedURL: reblindedURL,
                    replacingState: replacingState, reviewPeerSetSize: reviewPeerSetSize)
    }

    private static func respond(source: RecordSource, listURL: URL?, configuration: MutualPSIConfiguration, requestURL: URL,
                                stateURL: URL, responderSetURL: URL, reblindedURL: URL, replacingState: Bool,
                                reviewPeerSetSize: (Int) throws -> Void) throws -> Blinding {
        try FilePaths.requireDistinct([("the list", listURL), ("the step-1 message", requestURL), ("the state file", stateURL),
                                       ("the responder's blinded set", responderSetURL), ("the re-blinded set", reblindedURL)])
        try FilePaths.refuseExisting(stateURL, replacing: replacingState)
        let startedAt = Date()
        let request = try MessageFileReader(url: requestURL, expecting: .mutual(
            .initiatorBlindedSet, configuration: configuration, sessionID: nil))
        try reviewPeerSetSize(request.header.count)
        guard request.header.count <= configuration.maximumPeerSetSize else {
            throw MessageFileError.peerSetTooLarge(path: requestURL.path, count: request.header.count,
                                                   limit: configuration.maximumPeerSetSize)
        }
        let context = configuration.context(sessionID: request.header.sessionID, role: .responder)
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let suite = MutualSuite(configuration.suite)
        let secret = suite.newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)

        let peerCount = request.header.count
        let sent = ComparisonHash(.initiatorSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let kept = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let reblinded = try MessageFileWriter(url: reblindedURL, header: .mutual(.initiatorSetReblinded, context: context,
                                                                                  count: peerCount, elementSize: sent.length),
                                              signer: configuration.identity)
        // The hashes step 3 must match, kept in the state.
        let doubly = try work.newFile()
        let repeats = ElementPartition(.byValue, options: configuration.streaming, work: work)
        let shuffled = configuration.outcome == .cardinalityOnly
            ? ElementPartition(.random, options: configuration.streaming, work: work) : nil
        try reportingElementErrors(in: requestURL) {
            try streamReceivedSet(request, secret: secret, configuration: configuration,
                                  step: "re-blinding the peer's items") { start, points in
                try repeats.append(points, positionsFrom: start)
                try doubly.append(kept.values(of: points, parallelism: configuration.parallelism))
                let values = try sent.values(of: points, parallelism: configuration.parallelism)
                if let shuffled {
                    try shuffled.append(values, positionsFrom: start)
                } else {
                    try reblinded.append(packed: values, by: sent)
                }
            }
        }
        // Re-blinding is a bijection: the re-blinded set repeats exactly where the request does.
        if let found = try earliestRepeat(in: repeats) {
            throw MessageFileError.duplicateElement(path: requestURL.path, index: found.index, firstIndex: found.firstIndex)
        }
        try shuffled?.drainShuffled { try reblinded.append(packed: $0.map(\.element), by: sent) }
        let responderSet = try MessageFileWriter(url: responderSetURL, header: .mutual(.responderBlindedSet, context: context, count: own.count),
                                                 signer: configuration.identity)
        try responderSet.append(contentsOf: own.sentElements)
        let state = try stateWriter(stateURL, role: .responder, secret: secret, own: own)
        try state.write(contentsOf: doubly)
        var metadata = own.stateMetadata(configuration, context: context)
        metadata.peerCount = peerCount
        let transcript = PartyStateFile.Transcript(
            startedAt: startedAt, sent: [try sealed(responderSet, .responderBlindedSet), try sealed(reblinded, .initiatorSetReblinded)],
            received: [RunReceipt.Message(kind: MutualPSIMessage.Kind.initiatorBlindedSet.rawValue, sha256: request.fileDigest!)])
        metadata.transcript = transcript
        try state.seal(metadata)
        try commitInOrder([state.output(replacing: replacingState), output(responderSet, responderSetURL), output(reblinded, reblindedURL)])
        // Only the initiator learns: this is the responder's last step.
        let receipt = configuration.outcome != .initiatorLearns ? nil
            : Self.receipt(.responder, metadata, identity: configuration.identity, context: context,
                           peerSetSize: peerCount, resultCount: nil, transcript: transcript)
        return Blinding(context: context, inputSummary: own.inputSummary, peerSetSize: peerCount, receipt: receipt)
    }

    /// Step 3 (initiator): reads the two step-2 files, computes the result and, unless only
    /// the initiator learns, writes step 3 to `replyURL`.
    ///
    /// - Parameters:
    ///   - stateURL: the state saved by step 1.
    ///   - identity: this party's identity, which the state was made with.
    ///   - peerKey: the responder's identity key (argument label `peer`), which the state was made with.
    ///   - responderSetURL: the responder's blinded set.
    ///   - reblindedURL: this party's set re-blinded by the responder.
    ///   - replyURL: where to write step 3 (required unless the outcome is initiator-learns).
    ///   - parallelism: threads to use.
    ///   - progress: called as the re-blinding progresses.
    ///   - streaming: memory bounds (the work folder defaults to the state file's folder).
    ///   - reviewPurpose: called with the state's purpose label before any message is read
    ///     (for example to check the peer is still trusted for it); throw to stop.
    public static func finishInitiator(stateURL: URL, identity: PartyIdentity, peer peerKey: PartyPublicKey, responderSetURL: URL,
                                       reblindedURL: URL, replyURL: URL?, parallelism: Parallelism = .allCores,
                                       progress: ProgressHandler? = nil, streaming: StreamingOptions = .default,
                                       reviewPurpose: (PurposeLabel) throws -> Void = { _ in }) throws -> Outcome {
        try FilePaths.requireDistinct([("the state file", stateURL), ("the responder's blinded set", responderSetURL),
                                       ("the re-blinded set", reblindedURL), ("the step-3 message", replyURL)])
        let state = try PartyStateFile.Reader(url: stateURL, role: .initiator)
        let m = state.metadata
        try reviewPurpose(m.purpose)
        guard let context = m.context else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the initiator's exchange is incomplete")
        }
        let configuration = try m.configuration(identity: identity, peer: peerKey, parallelism: parallelism, progress: progress,
                                                streaming: streaming)
        let responderSet = try MessageFileReader(url: responderSetURL, expecting: .mutual(
            .responderBlindedSet, configuration: configuration, sessionID: context.sessionID, maximumCount: m.maximumPeerSetSize))
        let sizes = (initiator: m.itemCount, responder: responderSet.header.count)
        let compared = ComparisonHash(.initiatorSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let sent = ComparisonHash(.responderSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let returnedSet = try MessageFileReader(url: reblindedURL, expecting: .mutual(
            .initiatorSetReblinded, configuration: configuration, sessionID: context.sessionID, count: m.itemCount,
            elementSize: compared.length))
        let inputs = try finishInputs(state, [responderSetURL, reblindedURL])
        var reply: MessageFileWriter?
        if m.outcome != .initiatorLearns {
            guard let replyURL else {
                throw OutputFileError.missingPath(what: "a path for step 3", reason: "the outcome \(m.outcome) sends step 3 to the responder")
            }
            reply = try MessageFileWriter(url: replyURL, header: .mutual(.responderSetReblinded, context: context,
                                                                          count: responderSet.header.count, elementSize: sent.length),
                                          signer: identity)
        }
        let work = try WorkDirectory(in: streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let peer = ElementPartition(.byValue, options: streaming, work: work)
        let shuffled = m.outcome == .cardinalityOnly ? ElementPartition(.random, options: streaming, work: work) : nil
        try reportingElementErrors(in: responderSetURL) {
            try streamReceivedSet(responderSet, secret: state.secret, configuration: configuration,
                                  step: "re-blinding the peer's items") { start, points in
                try peer.append(compared.values(of: points, parallelism: configuration.parallelism), positionsFrom: start)
                guard let reply else { return }
                let values = try sent.values(of: points, parallelism: configuration.parallelism)
                if let shuffled {
                    try shuffled.append(values, positionsFrom: start)
                } else {
                    try reply.append(packed: values, by: sent)
                }
            }
        }
        let returned = try partition(returnedSet, configuration: configuration, work: work)
        let match = try intersect(peer: peer, returned: returned)
        if let found = match.peerRepeat {
            throw MessageFileError.duplicateElement(path: responderSetURL.path, index: found.index, firstIndex: found.firstIndex)
        }
        if let found = match.returnedRepeat {
            throw MessageFileError.duplicateElement(path: reblindedURL.path, index: found.index, firstIndex: found.firstIndex)
        }
        try shuffled?.drainShuffled { try reply?.append(packed: $0.map(\.element), by: sent) }
        let (result, matches) = try stateResult(positions: match.positions, state: state,
                                                peerSetSize: responderSet.header.count, chunkSize: streaming.chunkSize)
        // Finished before step 3 is sent: should sending fail, the same messages finish again.
        try markFinished(state, role: .initiator, inputs: inputs)
        var transcript = try stored(m, stateURL)
        transcript.received = zip([MutualPSIMessage.Kind.responderBlindedSet, .initiatorSetReblinded], inputs).map {
            RunReceipt.Message(kind: $0.rawValue, sha256: [UInt8](hexString: $1)!)
        }
        if let reply { transcript.sent.append(try sealed(reply, .responderSetReblinded)) }
        try reply?.commit()
        let receipt = Self.receipt(.initiator, m, identity: identity, context: context, peerSetSize: responderSet.header.count,
                                   resultCount: result.count, transcript: transcript)
        return Outcome(result: result, matches: matches, replyWritten: reply != nil, receipt: receipt)
    }

    /// Step 4 (responder): reads step 3 and computes the result.
    ///
    /// - Parameters:
    ///   - stateURL: the state saved by step 2.
    ///   - identity: this party's identity, which the state was made with.
    ///   - peerKey: the initiator's identity key (argument label `peer`), which the state was made with.
    ///   - replyURL: step 3, this party's set re-blinded by the initiator.
    ///   - parallelism: threads to use.
    ///   - progress: called as the checks progress.
    ///   - streaming: memory bounds (the work folder defaults to the state file's folder).
    ///   - reviewPurpose: called with the state's purpose label before any message is read; throw to stop.
    public static func finishResponder(stateURL: URL, identity: PartyIdentity, peer peerKey: PartyPublicKey, replyURL: URL,
                                       parallelism: Parallelism = .allCores, progress: ProgressHandler? = nil,
                                       streaming: StreamingOptions = .default,
                                       reviewPurpose: (PurposeLabel) throws -> Void = { _ in }) throws -> Outcome {
        try FilePaths.requireDistinct([("the state file", stateURL), ("the step-3 message", replyURL)])
        let state = try PartyStateFile.Reader(url: stateURL, role: .responder)
        let m = state.metadata
        try reviewPurpose(m.purpose)
        guard let context = m.context, let peerCount = m.peerCount else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the responder has not answered step 1 yet")
        }
        guard m.outcome != .initiatorLearns else {
            throw PSIError.outcomeMismatch(expected: m.outcome.description,
                                           found: "a step 3 message, which only \(MutualPSIOutcome.bothLearn) and \(MutualPSIOutcome.cardinalityOnly) send")
        }
        let configuration = try m.configuration(identity: identity, peer: peerKey, parallelism: parallelism, progress: progress,
                                                streaming: streaming)
        let hash = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: m.itemCount)
        let returnedSet = try MessageFileReader(url: replyURL, expecting: .mutual(
            .responderSetReblinded, configuration: configuration, sessionID: context.sessionID, count: m.itemCount,
            elementSize: hash.length))
        let inputs = try finishInputs(state, [replyURL])
        let work = try WorkDirectory(in: streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let returned = try partition(returnedSet, configuration: configuration, work: work)
        let peer = ElementPartition(.byValue, options: streaming, work: work)
        try state.forEachElementChunk(peer: true, streaming.chunkSize) { start, elements in
            try peer.append(elements, positionsFrom: start)
        }
        let match = try intersect(peer: peer, returned: returned)
        if match.peerRepeat != nil {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the stored peer set repeats an element")
        }
        if let found = match.returnedRepeat {
            throw MessageFileError.duplicateElement(path: replyURL.path, index: found.index, firstIndex: found.firstIndex)
        }
        let (result, matches) = try stateResult(positions: match.positions, state: state, peerSetSize: peerCount,
                                                chunkSize: streaming.chunkSize)
        try markFinished(state, role: .responder, inputs: inputs)
        var transcript = try stored(m, stateURL)
        transcript.received += inputs.map { RunReceipt.Message(kind: MutualPSIMessage.Kind.responderSetReblinded.rawValue, sha256: [UInt8](hexString: $0)!) }
        let receipt = Self.receipt(.responder, m, identity: identity, context: context, peerSetSize: peerCount,
                                   resultCount: result.count, transcript: transcript)
        return Outcome(result: result, matches: matches, replyWritten: false, receipt: receipt)
    }

    /// The matches as CSV: a header, then `line,value,canonical` per match (RFC 4180 quoting),
    /// followed by `extraColumns` with each match's `extraFields` (for example the label fields
    /// of an unbalanced match, ``SetupLabel/csvHeader``).
    public static func matchesCSV(_ matches: [ListRecord], extraColumns: [String] = [], extraFields: [[String]] = []) -> String {
        precondition(extraColumns.isEmpty || extraFields.count == matches.count, "extra fields for every match")
        var csv = CSVText.row(["line", "value", "canonical"] + extraColumns)
        for (index, match) in matches.enumerated() {
            csv += CSVText.row([String(match.lineNumber), match.original, match.identifier.canonical] + (extraColumns.isEmpty ? [] : extraFields[index]))
        }
        return csv
    }

    /// Writes ``matchesCSV(_:extraColumns:extraFields:)`` atomically with mode 0600: the matches are confidential.
    public static func writeMatches(_ matches: [ListRecord], extraColumns: [String] = [], extraFields: [[String]] = [], to url: URL) throws {
        try SecretFile.write(Array(matchesCSV(matches, extraColumns: extraColumns, extraFields: extraFields).utf8), to: url)
    }

    /// The SHA-256 of each peer message a finish step reads, refused when the state already
    /// finished with other messages.
    private static func finishInputs(_ state: PartyStateFile.Reader, _ urls: [URL]) throws -> [String] {
        let digests = try urls.map { try fileSHA256($0).hexString }
        if let finished = state.metadata.finishedWith, finished != digests {
            throw StateFileError.alreadyFinished(path: state.path)
        }
        return digests
    }

    /// Records in the state that it finished with `inputs` (unless it already had).
    private static func markFinished(_ state: PartyStateFile.Reader, role: PartyStateFile.Role, inputs: [String]) throws {
        guard state.metadata.finishedWith == nil else { return }
        var metadata = state.metadata
        metadata.finishedWith = inputs
        try state.rewritten(with: metadata, role: role).commit(replacing: true)
    }

    /// Seals a message (its trailer written, not yet under its name) and names it for a receipt.
    private static func sealed(_ writer: MessageFileWriter, _ kind: MutualPSIMessage.Kind) throws -> RunReceipt.Message {
        try writer.seal()
        return RunReceipt.Message(kind: kind.rawValue, sha256: writer.fileDigest!)
    }

    /// The messages of the earlier steps, as the state recorded them.
    private static func stored(_ m: PartyStateFile.Metadata, _ url: URL) throws -> PartyStateFile.Transcript {
        guard let transcript = m.transcript else {
            throw StateFileError.invalidStateFile(path: url.path, reason: "it does not record the messages of its earlier steps")
        }
        return transcript
    }

    /// The run's receipt, signed by `identity`.
    private static func receipt(_ role: RunReceipt.Role, _ m: PartyStateFile.Metadata, identity: PartyIdentity, context: ExchangeContext,
                                peerSetSize: Int, resultCount: Int?, transcript: PartyStateFile.Transcript) -> RunReceipt {
        RunReceipt(role: role, protocolID: .mutual, suite: m.suite, outcome: m.outcome.description, identifierType: m.identifierType,
                   purpose: m.purpose, sessionID: context.sessionID, identity: identity, peer: m.peer, ownSetSize: m.itemCount,
                   peerSetSize: peerSetSize, resultCount: resultCount, setupDigest: nil, sent: transcript.sent,
                   received: transcript.received, startedAt: transcript.startedAt, finishedAt: Date())
    }

    /// A message writer as one of a step's outputs.
    private static func output(_ writer: MessageFileWriter, _ url: URL) -> (commit: () throws -> Void, retract: () -> Void) {
        (writer.commit, { unlink(url.path) })
    }

    /// A state writer with this party's own sections (records, sent order, blinded set) written.
    private static func stateWriter(_ url: URL, role: PartyStateFile.Role, secret: SecretBytes,
                                    own: BlindedList) throws -> PartyStateFile.Writer {
        let state = try PartyStateFile.Writer(url: url, role: role, secret: secret)
        try state.write(contentsOf: own.records)
        try state.write(contentsOf: own.sentOrder)
        try state.write(contentsOf: own.sentElements)
        return state
    }

    /// A returned set (this party's own set re-blinded by the peer, as hashes that are only
    /// compared), partitioned by value with each value's position; repeats are found when the
    /// partition is intersected.
    private static func partition(_ reader: MessageFileReader, configuration: MutualPSIConfiguration,
                                  work: WorkDirectory) throws -> ElementPartition {
        let returned = ElementPartition(.byValue, options: configuration.streaming, work: work)
        let length = reader.header.elementSize
        var start = 0
        while let raw = try reader.readChunk(maximumElements: configuration.streaming.chunkSize) {
            let values = raw.withUnsafeBytes { ComparisonHash.unpacked($0, length: length) }
            try returned.append(values, positionsFrom: start)
            start += values.count
        }
        return returned
    }

    /// Re-blinding and checking report a bad element by position; name the file.
    private static func reportingElementErrors<T>(in url: URL, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PSIError {
            switch error {
            case .identityElement(_?), .invalidElementEncoding(_?), .zeroValue(_?), .lowOrderElement(_?), .outsidePrimeOrderSubgroup(_?):
                throw MessageFileError.wrapping(path: url.path, elementError: error)
            default: throw error
            }
        }
    }
}

extension BlindedList {
    /// The state metadata for this list's sections, as ``MutualPSIFileExchange`` writes them.
    func stateMetadata(_ configuration: MutualPSIConfiguration, context: ExchangeContext) -> PartyStateFile.Metadata {
        var metadata = configuration.stateMetadata(inputSummary: inputSummary, context: context)
        metadata.itemCount = count
        metadata.recordBytes = records.byteCount
        return metadata
    }
}
