import Foundation

// The steps of mutual PSI — the only implementation of the protocol. `MutualPSIFileExchange`
// runs them over files (and adds path rules, "finished once" and commits in order);
// `MutualPSIInitiator` and `MutualPSIResponder` run them over memory. Either way every set is
// read, blinded and re-blinded a chunk at a time by the streaming engine (`blindList`,
// `streamReceivedSet`, `ElementPartition`), every message is read with the checks of
// `MessageFileReader`, and every state is written by `PartyStateFile.Writer`.

/// Where a step reads a peer's message: a file, or bytes already in memory.
enum MessageSource {
    case file(URL)
    case bytes([UInt8], name: String)

    func reader(expecting expectation: MessageExpectation) throws -> MessageFileReader {
        switch self {
        case .file(let url): return try MessageFileReader(url: url, expecting: expectation)
        case .bytes(let bytes, let name): return try MessageFileReader(serializedBytes: bytes, name: name, expecting: expectation)
        }
    }
}

/// Where a step writes a message: a file (committed by the caller), or memory.
enum MessageDestination {
    case file(URL)
    case memory(name: String)

    func writer(header: MessageHeader, signer: PartyIdentity) throws -> MessageFileWriter {
        switch self {
        case .file(let url): return try MessageFileWriter(url: url, header: header, signer: signer)
        case .memory(let name): return MessageFileWriter(header: header, signer: signer, name: name)
        }
    }
}

/// What a party's own list made, as a step needs it: freshly blinded (``BlindedList``), or kept
/// in a state (``PartyStateFile/Reader``).
protocol OwnSections {
    /// Distinct items, which is also the size of the set sent.
    var count: Int { get }
    var inputSummary: InputSummary { get }
    /// Bytes of the records section.
    var recordBytes: Int { get }
    /// Writes the records, the sent order and the set sent, in the state's layout.
    func writeSections(to state: PartyStateFile.Writer) throws
    /// Writes the set sent into a message.
    func writeSentElements(to message: MessageFileWriter) throws
}

extension OwnSections {
    /// The state metadata for these sections.
    func stateMetadata(_ configuration: MutualPSIConfiguration, context: ExchangeContext?) -> PartyStateFile.Metadata {
        var metadata = configuration.stateMetadata(inputSummary: inputSummary, context: context)
        metadata.itemCount = count
        metadata.recordBytes = recordBytes
        return metadata
    }
}

extension BlindedList: OwnSections {
    var recordBytes: Int { records.byteCount }

    func writeSections(to state: PartyStateFile.Writer) throws {
        try state.write(contentsOf: records)
        try state.write(contentsOf: sentOrder)
        try state.write(contentsOf: sentElements)
    }

    func writeSentElements(to message: MessageFileWriter) throws { try message.append(contentsOf: sentElements) }
}

extension PartyStateFile.Reader: OwnSections {
    var count: Int { metadata.itemCount }
    var inputSummary: InputSummary { metadata.inputSummary }
    var recordBytes: Int { metadata.recordBytes }

    func writeSections(to state: PartyStateFile.Writer) throws { try copyBody(count: ownSectionsByteCount, to: state) }
}

enum MutualSteps {
    /// Step 1 made: the state and the message, sealed but not committed.
    struct Initiated {
        let context: ExchangeContext
        let inputSummary: InputSummary
        let state: PartyStateFile.Writer
        let message: MessageFileWriter
    }

    /// Step 1 (initiator): blinds the list under a fresh session and writes the blinded set and
    /// the state.
    ///
    /// - Parameter secret: the party's scalar; nil for a fresh random one (known-answer tests give one).
    static func initiate(_ source: RecordSource, configuration: MutualPSIConfiguration, secret: SecretBytes? = nil,
                         work: WorkDirectory, state location: PartyStateFile.Location,
                         message destination: MessageDestination) throws -> Initiated {
        let startedAt = Date()
        let secret = secret ?? MutualSuite(configuration.suite).newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)
        let context = configuration.context(sessionID: .random(), role: .initiator)
        let message = try destination.writer(header: .mutual(.initiatorBlindedSet, context: context, count: own.count),
                                             signer: configuration.identity)
        try own.writeSentElements(to: message)
        let state = try PartyStateFile.Writer(location, role: .initiator, secret: secret)
        try own.writeSections(to: state)
        var metadata = own.stateMetadata(configuration, context: context)
        metadata.transcript = PartyStateFile.Transcript(startedAt: startedAt, sent: [try sealed(message, .initiatorBlindedSet)],
                                                        received: [])
        try state.seal(metadata)
        return Initiated(context: context, inputSummary: own.inputSummary, state: state, message: message)
    }

    /// A responder's list blinded before step 1 arrives (the in-memory API): a state in memory
    /// with no exchange yet.
    static func blindResponder(_ source: RecordSource, configuration: MutualPSIConfiguration, secret: SecretBytes? = nil,
                               work: WorkDirectory) throws -> PartyStateFile.Reader {
        let startedAt = Date()
        let secret = secret ?? MutualSuite(configuration.suite).newSecret()
        let own = try blindList(source, configuration: configuration, secret: secret, work: work)
        let state = try PartyStateFile.Writer(.memory, role: .responder, secret: secret)
        try own.writeSections(to: state)
        var metadata = own.stateMetadata(configuration, context: nil)
        metadata.transcript = PartyStateFile.Transcript(startedAt: startedAt, sent: [], received: [])
        try state.seal(metadata)
        return try state.memoryState()
    }

    /// Opens step 1 for the responder: signed by its peer, addressed to it, of the agreed suite,
    /// purpose, outcome and identifier type (any session: the responder adopts it).
    static func openRequest(_ source: MessageSource, configuration: MutualPSIConfiguration) throws -> MessageFileReader {
        try source.reader(expecting: .mutual(.initiatorBlindedSet, configuration: configuration, sessionID: nil))
    }

    /// Refuses a step 1 larger than the policy allows, before any work.
    static func checkPeerSetSize(_ request: MessageFileReader, configuration: MutualPSIConfiguration) throws {
        guard request.header.count <= configuration.maximumPeerSetSize else {
            throw MessageFileError.peerSetTooLarge(path: request.path, count: request.header.count,
                                                   limit: configuration.maximumPeerSetSize)
        }
    }

    /// Step 2 made: the state and the two messages, sealed but not committed.
    struct Answered {
        let context: ExchangeContext
        let peerCount: Int
        let state: PartyStateFile.Writer
        let metadata: PartyStateFile.Metadata
        let responderSet: MessageFileWriter
        let reblinded: MessageFileWriter
    }

    /// Step 2 (responder): re-blinds the initiator's set (checking every element, refusing
    /// repeats), writes it as hashes (shuffled for cardinality only) with this party's blinded
    /// set, and the state with the hashes step 3 must match.
    static func answer(_ request: MessageFileReader, own: some OwnSections, secret: SecretBytes,
                       configuration: MutualPSIConfiguration, work: WorkDirectory, startedAt: Date,
                       state location: PartyStateFile.Location, responderSet responderSetDestination: MessageDestination,
                       reblinded reblindedDestination: MessageDestination) throws -> Answered {
        let context = configuration.context(sessionID: request.header.sessionID, role: .responder)
        let peerCount = request.header.count
        let sent = ComparisonHash(.initiatorSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let kept = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: own.count)
        let reblinded = try reblindedDestination.writer(header: .mutual(.initiatorSetReblinded, context: context, count: peerCount,
                                                                        elementSize: sent.length),
                                                        signer: configuration.identity)
        // The hashes step 3 must match, kept in the state.
        let doubly = try work.newFile()
        let repeats = ElementPartition(.byValue, options: configuration.streaming, work: work)
        let shuffled = configuration.outcome == .cardinalityOnly
            ? ElementPartition(.random, options: configuration.streaming, work: work) : nil
        try reportingElementErrors(in: request.path) {
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
            throw MessageFileError.duplicateElement(path: request.path, index: found.index, firstIndex: found.firstIndex)
        }
        try shuffled?.drainShuffled { try reblinded.append(packed: $0.map(\.element), by: sent) }
        let responderSet = try responderSetDestination.writer(header: .mutual(.responderBlindedSet, context: context, count: own.count),
                                                              signer: configuration.identity)
        try own.writeSentElements(to: responderSet)
        let state = try PartyStateFile.Writer(location, role: .responder, secret: secret)
        try own.writeSections(to: state)
        try state.write(contentsOf: doubly)
        var metadata = own.stateMetadata(configuration, context: context)
        metadata.peerCount = peerCount
        metadata.transcript = PartyStateFile.Transcript(
            startedAt: startedAt, sent: [try sealed(responderSet, .responderBlindedSet), try sealed(reblinded, .initiatorSetReblinded)],
            received: [RunReceipt.Message(kind: MutualPSIMessage.Kind.initiatorBlindedSet.rawValue, sha256: request.fileDigest!)])
        try state.seal(metadata)
        return Answered(context: context, peerCount: peerCount, state: state, metadata: metadata, responderSet: responderSet,
                        reblinded: reblinded)
    }

    /// A finish step's result: what the party learned, the matching records, the transcript of
    /// the run, and the initiator's step 3 (sealed, not committed).
    struct Finished {
        let result: MutualPSIResult
        let matches: [ListRecord]
        let context: ExchangeContext
        let peerSetSize: Int
        let transcript: PartyStateFile.Transcript
        let reply: MessageFileWriter?
    }

    /// Step 3 (initiator): re-blinds the responder's set, intersects it with this party's set
    /// as the responder returned it, and (unless only the initiator learns) writes step 3.
    ///
    /// - Parameters:
    ///   - reply: where step 3 goes; nil refused unless only the initiator learns.
    ///   - inputsOpened: called once both messages' headers are checked, before any work (the
    ///     file exchange refuses there a state finished with other messages).
    static func finishInitiator(state: PartyStateFile.Reader, configuration: MutualPSIConfiguration,
                                responderSet responderSetSource: MessageSource, reblinded reblindedSource: MessageSource,
                                reply replyDestination: MessageDestination?, work: WorkDirectory,
                                inputsOpened: () throws -> Void = {}) throws -> Finished {
        let m = state.metadata
        guard let context = m.context else {
            throw StateFileError.invalidStateFile(path: state.path, reason: "the initiator's exchange is incomplete")
        }
        let streaming = configuration.streaming
        let responderSet = try responderSetSource.reader(expecting: .mutual(
            .responderBlindedSet, configuration: configuration, sessionID: context.sessionID, maximumCount: m.maximumPeerSetSize))
        let sizes = (initiator: m.itemCount, responder: responderSet.header.count)
        let compared = ComparisonHash(.initiatorSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let sent = ComparisonHash(.responderSetReblinded, initiatorCount: sizes.initiator, responderCount: sizes.responder)
        let returnedSet = try reblindedSource.reader(expecting: .mutual(
            .initiatorSetReblinded, configuration: configuration, sessionID: context.sessionID, count: m.itemCount,
            elementSize: compared.length))
        try inputsOpened()
        var reply: MessageFileWriter?
        if m.outcome != .initiatorLearns {
            guard let replyDestination else {
                throw OutputFileError.missingPath(what: "a path for step 3", reason: "the outcome \(m.outcome) sends step 3 to the responder")
            }
            reply = try replyDestination.writer(header: .mutual(.responderSetReblinded, context: context,
                                                                count: responderSet.header.count, elementSize: sent.length),
                                                signer: configuration.identity)
        }
        let peer = ElementPartition(.byValue, options: streaming, work: work)
        let shuffled = m.outcome == .cardinalityOnly ? ElementPartition(.random, options: streaming, work: work) : nil
        try reportingElementErrors(in: responderSet.path) {
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
        let returned = try partition(returnedSet, streaming: streaming, work: work)
        let match = try intersect(peer: peer, returned: returned)
        if let found = match.peerRepeat {
            throw MessageFileError.duplicateElement(path: responderSet.path, index: found.index, firstIndex: found.firstIndex)
        }
        if let found = match.returnedRepeat {
            throw MessageFileError.duplicateElement(path: returnedSet.path, index: found.index, firstIndex: found.firstIndex)
        }
        try shuffled?.drainShuffled { try reply?.append(packed: $0.map(\.element), by: sent) }
        let (result, matches) = try stateResult(positions: match.positions, state: state,
                                                peerSetSize: responderSet.header.count, chunkSize: streaming.chunkSize)
        var transcript = try stored(m, state.path)
        transcript.received = [RunReceipt.Message(kind: MutualPSIMessage.Kind.responderBlindedSet.rawValue, sha256: responderSet.fileDigest!),
                               RunReceipt.Message(kind: MutualPSIMessage.Kind.initiatorSetReblinded.rawValue, sha256: returnedSet.fileDigest!)]
        if let reply { transcript.sent.append(try sealed(reply, .responderSetReblinded)) }
        return Finished(result: result, matches: matches, context: context, peerSetSize: responderSet.header.count,
                        transcript: transcript, reply: reply)
    }

    /// Step 4 (responder): intersects the hashes kept at step 2 with this party's set as the
    /// initiator returned it (step 3).
    static func finishResponder(state: PartyStateFile.Reader, configuration: MutualPSIConfiguration,
                                reply replySource: MessageSource, work: WorkDirectory,
                                inputsOpened: () throws -> Void = {}) throws -> Finished {
        let m = state.metadata
        guard let context = m.context, let peerCount = m.peerCount else {
            throw StateFileError.invalidStateFile(path: state.path, reason: "the responder has not answered step 1 yet")
        }
        guard m.outcome != .initiatorLearns else {
            throw PSIError.outcomeMismatch(expected: m.outcome.description,
                                           found: "a step 3 message, which only \(MutualPSIOutcome.bothLearn) and \(MutualPSIOutcome.cardinalityOnly) send")
        }
        let streaming = configuration.streaming
        let hash = ComparisonHash(.responderSetReblinded, initiatorCount: peerCount, responderCount: m.itemCount)
        let returnedSet = try replySource.reader(expecting: .mutual(
            .responderSetReblinded, configuration: configuration, sessionID: context.sessionID, count: m.itemCount,
            elementSize: hash.length))
        try inputsOpened()
        let returned = try partition(returnedSet, streaming: streaming, work: work)
        let peer = ElementPartition(.byValue, options: streaming, work: work)
        try state.forEachElementChunk(peer: true, streaming.chunkSize) { start, elements in
            try peer.append(elements, positionsFrom: start)
        }
        let match = try intersect(peer: peer, returned: returned)
        if match.peerRepeat != nil {
            throw StateFileError.invalidStateFile(path: state.path, reason: "the stored peer set repeats an element")
        }
        if let found = match.returnedRepeat {
            throw MessageFileError.duplicateElement(path: returnedSet.path, index: found.index, firstIndex: found.firstIndex)
        }
        let (result, matches) = try stateResult(positions: match.positions, state: state, peerSetSize: peerCount,
                                                chunkSize: streaming.chunkSize)
        var transcript = try stored(m, state.path)
        transcript.received.append(RunReceipt.Message(kind: MutualPSIMessage.Kind.responderSetReblinded.rawValue,
                                                      sha256: returnedSet.fileDigest!))
        return Finished(result: result, matches: matches, context: context, peerSetSize: peerCount, transcript: transcript, reply: nil)
    }

    /// The run's receipt, signed by `identity`.
    static func receipt(_ role: RunReceipt.Role, _ m: PartyStateFile.Metadata, identity: PartyIdentity, context: ExchangeContext,
                        peerSetSize: Int, resultCount: Int?, transcript: PartyStateFile.Transcript) -> RunReceipt {
        RunReceipt(role: role, protocolID: .mutual, suite: m.suite, outcome: m.outcome.description, identifierType: m.identifierType,
                   purpose: m.purpose, sessionID: context.sessionID, identity: identity, peer: m.peer, ownSetSize: m.itemCount,
                   peerSetSize: peerSetSize, resultCount: resultCount, setupDigest: nil, sent: transcript.sent,
                   received: transcript.received, startedAt: transcript.startedAt, finishedAt: Date())
    }

    /// Seals a message (its trailer written, not yet committed) and names it for a receipt.
    private static func sealed(_ writer: MessageFileWriter, _ kind: MutualPSIMessage.Kind) throws -> RunReceipt.Message {
        try writer.seal()
        return RunReceipt.Message(kind: kind.rawValue, sha256: writer.fileDigest!)
    }

    /// The messages of the earlier steps, as the state recorded them.
    private static func stored(_ m: PartyStateFile.Metadata, _ path: String) throws -> PartyStateFile.Transcript {
        guard let transcript = m.transcript else {
            throw StateFileError.invalidStateFile(path: path, reason: "it does not record the messages of its earlier steps")
        }
        return transcript
    }

    /// A returned set (this party's own set re-blinded by the peer, as hashes that are only
    /// compared), partitioned by value with each value's position; repeats are found when the
    /// partition is intersected.
    private static func partition(_ reader: MessageFileReader, streaming: StreamingOptions,
                                  work: WorkDirectory) throws -> ElementPartition {
        let returned = ElementPartition(.byValue, options: streaming, work: work)
        let length = reader.header.elementSize
        var start = 0
        while let raw = try reader.readChunk(maximumElements: streaming.chunkSize) {
            let values = raw.withUnsafeBytes { ComparisonHash.unpacked($0, length: length) }
            try returned.append(values, positionsFrom: start)
            start += values.count
        }
        return returned
    }

    /// Re-blinding and checking report a bad element by position; name the message.
    private static func reportingElementErrors<T>(in path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PSIError {
            switch error {
            case .identityElement(_?), .invalidElementEncoding(_?), .zeroValue(_?), .lowOrderElement(_?), .outsidePrimeOrderSubgroup(_?):
                throw MessageFileError.wrapping(path: path, elementError: error)
            default: throw error
            }
        }
    }
}
