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
        let blinding = try initiate(source: RecordSource(estimatedCount: list.estimatedRecordCount) { summary = try list.forEach($0) }, listURL: list.url, configuration: configuration,
                                    stateURL: stateURL, messageURL: messageURL, replacingState: replacingState)
        return blinding.replacingListSummary(summary)
    }

    /// Step 1 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func initiate(records: [ListRecord], configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL, replacingState: Bool = false) throws -> Blinding {
        try initiate(source: RecordSource(count: records.count) { try records.forEach($0) }, listURL: nil, configuration: configuration, stateURL: stateURL,
                     messageURL: messageURL, replacingState: replacingState)
    }

    private static func initiate(source: RecordSource, listURL: URL?, configuration: MutualPSIConfiguration,
                                 stateURL: URL, messageURL: URL, replacingState: Bool) throws -> Blinding {
        try FilePaths.requireDistinct([("the list", listURL), ("the state file", stateURL), ("the step-1 message", messageURL)])
        try FilePaths.refuseExisting(stateURL, replacing: replacingState)
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let step = try MutualSteps.initiate(source, configuration: configuration, work: work, state: .file(stateURL),
                                            message: .file(messageURL))
        try commitInOrder([step.state.output(replacing: replacingState), output(step.message, messageURL)])
        return Blinding(context: step.context, inputSummary: step.inputSummary, peerSetSize: nil)
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
        let blinding = try respond(source: RecordSource(estimatedCount: list.estimatedRecordCount) { summary = try list.forEach($0) }, listURL: list.url, configuration: configuration,
                                   requestURL: requestURL, stateURL: stateURL, responderSetURL: responderSetURL,
                                   reblindedURL: reblindedURL, replacingState: replacingState, reviewPeerSetSize: reviewPeerSetSize)
        return blinding.replacingListSummary(summary)
    }

    /// Step 2 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func respond(records: [ListRecord], configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL, replacingState: Bool = false,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> Blinding {
        try respond(source: RecordSource(count: records.count) { try records.forEach($0) }, listURL: nil, configuration: configuration, requestURL: requestURL,
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
        let request = try MutualSteps.openRequest(.file(requestURL), configuration: configuration)
        try reviewPeerSetSize(request.header.count)
        try MutualSteps.checkPeerSetSize(request, configuration: configuration)
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let secret = MutualSuite(configuration.suite).newSecret()
        let step = try MutualSteps.answer(request, list: source, secret: secret, configuration: configuration, work: work,
                                          startedAt: startedAt, state: .file(stateURL), responderSet: .file(responderSetURL),
                                          reblinded: .file(reblindedURL))
        try commitInOrder([step.state.output(replacing: replacingState), output(step.responderSet, responderSetURL),
                           output(step.reblinded, reblindedURL)])
        // Only the initiator learns: this is the responder's last step.
        let receipt = configuration.outcome != .initiatorLearns ? nil
            : MutualSteps.receipt(.responder, step.metadata, identity: configuration.identity, context: step.context,
                                  peerSetSize: step.peerCount, resultCount: nil, transcript: step.metadata.transcript!)
        return Blinding(context: step.context, inputSummary: step.inputSummary, peerSetSize: step.peerCount, receipt: receipt)
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
        let configuration = try m.configuration(identity: identity, peer: peerKey, parallelism: parallelism, progress: progress,
                                                streaming: streaming)
        var inputs = [String]()
        let work = try WorkDirectory(in: streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let done = try MutualSteps.finishInitiator(state: state, configuration: configuration, responderSet: .file(responderSetURL),
                                                   reblinded: .file(reblindedURL), reply: replyURL.map { .file($0) }, work: work,
                                                   inputsOpened: { inputs = try finishInputs(state, [responderSetURL, reblindedURL]) })
        // Finished before step 3 is sent: should sending fail, the same messages finish again.
        try markFinished(state, role: .initiator, inputs: inputs)
        try done.reply?.commit()
        let receipt = MutualSteps.receipt(.initiator, m, identity: identity, context: done.context, peerSetSize: done.peerSetSize,
                                          resultCount: done.result.count, transcript: done.transcript)
        return Outcome(result: done.result, matches: done.matches, replyWritten: done.reply != nil, receipt: receipt)
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
        let configuration = try m.configuration(identity: identity, peer: peerKey, parallelism: parallelism, progress: progress,
                                                streaming: streaming)
        var inputs = [String]()
        let work = try WorkDirectory(in: streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let done = try MutualSteps.finishResponder(state: state, configuration: configuration, reply: .file(replyURL), work: work,
                                                   inputsOpened: { inputs = try finishInputs(state, [replyURL]) })
        try markFinished(state, role: .responder, inputs: inputs)
        let receipt = MutualSteps.receipt(.responder, m, identity: identity, context: done.context, peerSetSize: done.peerSetSize,
                                          resultCount: done.result.count, transcript: done.transcript)
        return Outcome(result: done.result, matches: done.matches, replyWritten: false, receipt: receipt)
    }

    /// The matches as CSV, one row a match (``MatchesTable/init(records:column:)``; to list every
    /// row of the list with its columns, see ``MatchesTable/init(joining:keep:)``).
    public static func matchesCSV(_ matches: [ListRecord]) -> String {
        MatchesTable(records: matches).csv
    }

    /// Writes ``matchesCSV(_:)`` atomically with mode 0600: the matches are confidential.
    public static func writeMatches(_ matches: [ListRecord], to url: URL) throws {
        try MatchesTable(records: matches).write(to: url)
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

    /// A message writer as one of a step's outputs.
    private static func output(_ writer: MessageFileWriter, _ url: URL) -> (commit: () throws -> Void, retract: () -> Void) {
        (writer.commit, { unlink(url.path) })
    }
}
