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
/// and every output (message, state, result) is written atomically, so a failed step leaves no
/// partial file under a final name. Temporary files live in a private folder (mode 0700) that
/// is removed when the step ends.
public enum MutualPSIFileExchange {
    /// What one side learned, ready to print or save.
    public struct Outcome: Sendable, Equatable {
        /// The result of the exchange.
        public let result: MutualPSIResult
        /// For an intersection, the matching records as the operator wrote them (input order).
        public let matches: [ListRecord]
        /// Whether this step wrote a message for the peer (the initiator's step 3).
        public let replyWritten: Bool
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

        /// A summary for records given as an array (all valid).
        init(context: ExchangeContext, inputSummary: InputSummary, peerSetSize: Int?) {
            var summary = ListSummary()
            summary.read = inputSummary.given
            summary.valid = inputSummary.given
            summary.duplicatesCollapsed = inputSummary.duplicatesCollapsed
            self.init(context: context, inputSummary: inputSummary, listSummary: summary, peerSetSize: peerSetSize)
        }

        private init(context: ExchangeContext, inputSummary: InputSummary, listSummary: ListSummary, peerSetSize: Int?) {
            self.context = context
            self.inputSummary = inputSummary
            self.listSummary = listSummary
            self.peerSetSize = peerSetSize
        }

        /// The same, with the counts of reading a list file (repeats counted by the blinding).
        func replacingListSummary(_ summary: ListSummary) -> Blinding {
            var summary = summary
            summary.duplicatesCollapsed = inputSummary.duplicatesCollapsed
            return Blinding(context: context, inputSummary: inputSummary, listSummary: summary, peerSetSize: peerSetSize)
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
    @discardableResult
    public static func initiate(list: IdentifierListReader, configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL) throws -> Blinding {
        var summary = ListSummary()
        let blinding = try initiate(source: { summary = try list.forEach($0) }, configuration: configuration,
                                    stateURL: stateURL, messageURL: messageURL)
        return blinding.replacingListSummary(summary)
    }

    /// Step 1 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func initiate(records: [ListRecord], configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL) throws -> Blinding {
        try initiate(source: { try records.forEach($0) }, configuration: configuration, stateURL: stateURL, messageURL: messageURL)
    }

    private static func initiate(source: RecordSource, configuration: MutualPSIConfiguration,
                                 stateURL: URL, messageURL: URL) throws -> Blinding {
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let suite = MutualSuite(configuration.suite)
        let secret = suite.newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)
        let context = ExchangeContext(suite: configuration.suite, outcome: configuration.outcome,
                                      purposeDigest: configuration.purpose.digest, sessionID: .random())
        let message = try MessageFileWriter(url: messageURL, header: .mutual(.initiatorBlindedSet, context: context, count: own.count))
        try message.append(contentsOf: own.sentElements)
        let state = try stateWriter(stateURL, role: .initiator, secret: secret, own: own)
        try message.commit()
        try state.finish(own.stateMetadata(configuration, context: context))
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
    ///   - reviewPeerSetSize: called with the peer's declared set size before any element is
    ///     read or any work is done; throw to stop.
    @discardableResult
    public static func respond(list: IdentifierListReader, configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> Blinding {
        var summary = ListSummary()
        let blinding = try respond(source: { summary = try list.forEach($0) }, configuration: configuration,
                                   requestURL: requestURL, stateURL: stateURL, responderSetURL: responderSetURL,
                                   reblindedURL: reblindedURL, reviewPeerSetSize: reviewPeerSetSize)
        return blinding.replacingListSummary(summary)
    }

    /// Step 2 for records already in memory; repeats are collapsed (first record kept).
    @discardableResult
    public static func respond(records: [ListRecord], configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> Blinding {
        try respond(source: { try records.forEach($0) }, configuration: configuration, requestURL: requestURL,
                    stateURL: stateURL, responderSetURL: responderSetURL, reblindedURL: reblindedURL,
                    reviewPeerSetSize: reviewPeerSetSize)
    }

    private static func respond(source: RecordSource, configuration: MutualPSIConfiguration, requestURL: URL,
                                stateURL: URL, responderSetURL: URL, reblindedURL: URL,
                                reviewPeerSetSize: (Int) throws -> Void) throws -> Blinding {
        let request = try MessageFileReader(url: requestURL, expecting: .mutual(
            .initiatorBlindedSet, suite: configuration.suite, purposeDigest: configuration.purpose.digest,
            outcome: configuration.outcome, sessionID: nil))
        try reviewPeerSetSize(request.header.count)
        guard request.header.count <= configuration.maximumPeerSetSize else {
            throw MessageFileError.peerSetTooLarge(path: requestURL.path, count: request.header.count,
                                                   limit: configuration.maximumPeerSetSize)
        }
        let context = ExchangeContext(suite: configuration.suite, outcome: configuration.outcome,
                                      purposeDigest: configuration.purpose.digest, sessionID: request.header.sessionID)
        let work = try WorkDirectory(in: configuration.streaming.workDirectory ?? stateURL.deletingLastPathComponent())
        let suite = MutualSuite(configuration.suite)
        let secret = suite.newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)

        let peerCount = request.header.count
        let sent = ComparisonHash(.initiatorSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let kept = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let reblinded = try MessageFileWriter(url: reblindedURL, header: .mutual(.initiatorSetReblinded, context: context,
                                                                                  count: peerCount, elementSize: sent.length))
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
        let responderSet = try MessageFileWriter(url: responderSetURL, header: .mutual(.responderBlindedSet, context: context, count: own.count))
        try responderSet.append(contentsOf: own.sentElements)
        let state = try stateWriter(stateURL, role: .responder, secret: secret, own: own)
        try state.write(contentsOf: doubly)
        var metadata = own.stateMetadata(configuration, context: context)
        metadata.peerCount = peerCount
        try responderSet.commit()
        try reblinded.commit()
        try state.finish(metadata)
        return Blinding(context: context, inputSummary: own.inputSummary, peerSetSize: peerCount)
    }

    /// Step 3 (initiator): reads the two step-2 files, computes the result and, unless only
    /// the initiator learns, writes step 3 to `replyURL`.
    ///
    /// - Parameters:
    ///   - stateURL: the state saved by step 1.
    ///   - responderSetURL: the responder's blinded set.
    ///   - reblindedURL: this party's set re-blinded by the responder.
    ///   - replyURL: where to write step 3 (required unless the outcome is initiator-learns).
    ///   - parallelism: threads to use.
    ///   - progress: called as the re-blinding progresses.
    ///   - streaming: memory bounds (the work folder defaults to the state file's folder).
    public static func finishInitiator(stateURL: URL, responderSetURL: URL, reblindedURL: URL, replyURL: URL?,
                                       parallelism: Parallelism = .allCores, progress: ProgressHandler? = nil,
                                       streaming: StreamingOptions = .default) throws -> Outcome {
        let state = try PartyStateFile.Reader(url: stateURL, role: .initiator)
        let m = state.metadata
        guard let context = m.context else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the initiator's exchange is incomplete")
        }
        let configuration = m.configuration(parallelism: parallelism, progress: progress, streaming: streaming)
        let responderSet = try MessageFileReader(url: responderSetURL, expecting: .mutual(
            .responderBlindedSet, suite: m.suite, purposeDigest: context.purposeDigest, outcome: m.outcome,
            sessionID: context.sessionID, maximumCount: m.maximumPeerSetSize))
        let sizes = (initiator: m.itemCount, responder: responderSet.header.count)
        let compared = ComparisonHash(.initiatorSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let sent = ComparisonHash(.responderSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let returnedSet = try MessageFileReader(url: reblindedURL, expecting: .mutual(
            .initiatorSetReblinded, suite: m.suite, purposeDigest: context.purposeDigest, outcome: m.outcome,
            sessionID: context.sessionID, count: m.itemCount, elementSize: compared.length))
        var reply: MessageFileWriter?
        if m.outcome != .initiatorLearns {
            guard let replyURL else {
                throw PSIError.unexpectedMessage(expected: "a path for step 3 (\(m.outcome) sends it to the responder)",
                                                 found: "none")
            }
            reply = try MessageFileWriter(url: replyURL, header: .mutual(.responderSetReblinded, context: context,
                                                                          count: responderSet.header.count, elementSize: sent.length))
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
        try reply?.commit()
        return Outcome(result: result, matches: matches, replyWritten: reply != nil)
    }

    /// Step 4 (responder): reads step 3 and computes the result.
    ///
    /// - Parameters:
    ///   - stateURL: the state saved by step 2.
    ///   - replyURL: step 3, this party's set re-blinded by the initiator.
    ///   - parallelism: threads to use.
    ///   - progress: called as the checks progress.
    ///   - streaming: memory bounds (the work folder defaults to the state file's folder).
    public static func finishResponder(stateURL: URL, replyURL: URL, parallelism: Parallelism = .allCores,
                                       progress: ProgressHandler? = nil, streaming: StreamingOptions = .default) throws -> Outcome {
        let state = try PartyStateFile.Reader(url: stateURL, role: .responder)
        let m = state.metadata
        guard let context = m.context, let peerCount = m.peerCount else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the responder has not answered step 1 yet")
        }
        guard m.outcome != .initiatorLearns else {
            throw PSIError.outcomeMismatch(expected: m.outcome.description,
                                           found: "a step 3 message, which only \(MutualPSIOutcome.bothLearn) and \(MutualPSIOutcome.cardinalityOnly) send")
        }
        let configuration = m.configuration(parallelism: parallelism, progress: progress, streaming: streaming)
        let hash = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: m.itemCount)
        let returnedSet = try MessageFileReader(url: replyURL, expecting: .mutual(
            .responderSetReblinded, suite: m.suite, purposeDigest: context.purposeDigest, outcome: m.outcome,
            sessionID: context.sessionID, count: m.itemCount, elementSize: hash.length))
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
        return Outcome(result: result, matches: matches, replyWritten: false)
    }

    /// The matches as CSV: a header, then `line,value,canonical` per match (RFC 4180 quoting).
    public static func matchesCSV(_ matches: [ListRecord]) -> String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var csv = "line,value,canonical\r\n"
        for match in matches {
            csv += "\(match.lineNumber),\(field(match.original)),\(field(match.identifier.canonical))\r\n"
        }
        return csv
    }

    /// Writes ``matchesCSV(_:)`` atomically with mode 0600: the matches are confidential.
    public static func writeMatches(_ matches: [ListRecord], to url: URL) throws {
        try SecretFile.write(Array(matchesCSV(matches).utf8), to: url)
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
                throw MessageFileError(path: url.path, elementError: error)
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
