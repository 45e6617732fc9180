public import Foundation

/// Mutual PSI over files, one call per protocol step, for operators who pass message files
/// between institutions (the `psi` command is a thin shell around this type).
///
/// Every step reads its inputs completely and checks them before it writes anything, and
/// every output (message, state, result) is written atomically, so a failed step leaves no
/// partial file under a final name.
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

    /// Step 1 (initiator): blinds `records`, writes the blinded set to `messageURL` and the
    /// party state to `stateURL` (mode 0600).
    ///
    /// - Returns: the initiator, for reporting sizes and the session.
    @discardableResult
    public static func initiate(records: [ListRecord], configuration: MutualPSIConfiguration,
                                stateURL: URL, messageURL: URL) throws -> MutualPSIInitiator {
        let records = distinctRecords(records)
        let initiator = try MutualPSIInitiator(items: records.map(\.identifier), configuration: configuration)
        try initiator.blindedSet.write(to: messageURL)
        try initiator.save(to: stateURL, records: records)
        return initiator
    }

    /// Step 2 (responder): reads step 1, checks the peer's set size against policy (after
    /// `reviewPeerSetSize` has seen it), re-blinds it, and writes the two step-2 files.
    ///
    /// - Parameters:
    ///   - records: this party's list.
    ///   - configuration: the agreed settings and local policy.
    ///   - requestURL: the initiator's step-1 file.
    ///   - stateURL: where to save this party's state (mode 0600).
    ///   - responderSetURL: where to write this party's blinded set.
    ///   - reblindedURL: where to write the initiator's set re-blinded.
    ///   - reviewPeerSetSize: called with the peer's declared set size before any
    ///     element is read; throw to stop.
    @discardableResult
    public static func respond(records: [ListRecord], configuration: MutualPSIConfiguration, requestURL: URL,
                               stateURL: URL, responderSetURL: URL, reblindedURL: URL,
                               reviewPeerSetSize: (Int) throws -> Void = { _ in }) throws -> MutualPSIResponder.Reply {
        let header = try MessageFileReader(url: requestURL, expecting: MessageExpectation(
            suite: configuration.suite, protocolID: .mutual,
            kinds: [MutualPSIMessage.Kind.initiatorBlindedSet.rawValue])).header
        try reviewPeerSetSize(header.count)
        let request = try MutualPSIMessage.read(from: requestURL, kind: .initiatorBlindedSet, suite: configuration.suite,
                                                purposeDigest: configuration.purpose.digest,
                                                outcome: configuration.outcome, sessionID: nil,
                                                maximumCount: configuration.maximumPeerSetSize,
                                                checkEncodings: false, parallelism: configuration.parallelism)
        let records = distinctRecords(records)
        var responder = try MutualPSIResponder(items: records.map(\.identifier), configuration: configuration)
        let reply = try reportingElementErrors(in: requestURL) { try responder.respond(to: request) }
        try reply.responderBlindedSet.write(to: responderSetURL)
        try reply.initiatorSetReblinded.write(to: reblindedURL)
        try responder.save(to: stateURL, records: records)
        return reply
    }

    /// Step 3 (initiator): reads the two step-2 files, computes the result and, unless only
    /// the initiator learns, writes step 3 to `replyURL`.
    public static func finishInitiator(stateURL: URL, responderSetURL: URL, reblindedURL: URL, replyURL: URL?,
                                       parallelism: Parallelism = .allCores, progress: ProgressHandler? = nil) throws -> Outcome {
        let (initiator, records) = try MutualPSIInitiator.restore(from: stateURL, parallelism: parallelism, progress: progress)
        let config = initiator.configuration
        let responderSet = try MutualPSIMessage.read(from: responderSetURL, kind: .responderBlindedSet, suite: config.suite,
                                                     purposeDigest: config.purpose.digest, outcome: config.outcome,
                                                     sessionID: initiator.context.sessionID,
                                                     maximumCount: config.maximumPeerSetSize,
                                                     checkEncodings: false, parallelism: parallelism)
        let reblinded = try MutualPSIMessage.read(from: reblindedURL, kind: .initiatorSetReblinded, suite: config.suite,
                                                  purposeDigest: config.purpose.digest, outcome: config.outcome,
                                                  sessionID: initiator.context.sessionID,
                                                  count: initiator.blindedSet.elements.count, parallelism: parallelism)
        let done = try reportingElementErrors(in: responderSetURL) {
            try initiator.finish(responderBlindedSet: responderSet, initiatorSetReblinded: reblinded)
        }
        if let step3 = done.responderSetReblinded {
            guard let replyURL else {
                throw PSIError.unexpectedMessage(expected: "a path for step 3 (\(config.outcome) sends it to the responder)",
                                                 found: "none")
            }
            try step3.write(to: replyURL)
        }
        return Outcome(result: done.result, matches: matches(done.result, records),
                       replyWritten: done.responderSetReblinded != nil)
    }

    /// Step 4 (responder): reads step 3 and computes the result.
    public static func finishResponder(stateURL: URL, replyURL: URL, parallelism: Parallelism = .allCores,
                                       progress: ProgressHandler? = nil) throws -> Outcome {
        let (responder, records) = try MutualPSIResponder.restore(from: stateURL, parallelism: parallelism, progress: progress)
        guard let context = responder.exchange?.context else {
            throw StateFileError.invalidStateFile(path: stateURL.path, reason: "the responder has not answered step 1 yet")
        }
        let config = responder.configuration
        let step3 = try MutualPSIMessage.read(from: replyURL, kind: .responderSetReblinded, suite: config.suite,
                                              purposeDigest: config.purpose.digest, outcome: config.outcome,
                                              sessionID: context.sessionID,
                                              count: responder.blindedElements.count, parallelism: parallelism)
        let result = try responder.finish(responderSetReblinded: step3)
        return Outcome(result: result, matches: matches(result, records), replyWritten: false)
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

    /// Re-blinding checks each received element; name the file when one is bad.
    private static func reportingElementErrors<T>(in url: URL, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PSIError {
            switch error {
            case .identityElement(_?), .invalidElementEncoding(_?), .zeroValue(_?), .lowOrderElement(_?):
                throw MessageFileError(path: url.path, elementError: error)
            default: throw error
            }
        }
    }

    /// The first record of each identifier, in input order, so record positions match the
    /// party's distinct items.
    static func distinctRecords(_ records: [ListRecord]) -> [ListRecord] {
        firstOccurrences(records) { $0.identifier }
    }

    private static func matches(_ result: MutualPSIResult, _ records: [ListRecord]) -> [ListRecord] {
        guard case .intersection(let intersection) = result else { return [] }
        return intersection.indices.map { records[$0] }
    }
}
