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

/// What a party's own list made, as a step needs it (``BlindedList``: the list is blinded in
/// the step that sends it, once the exchange's hashed context is known).
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

enum MutualSteps {
    /// Step 1 made: the state and the message, sealed but not committed.
    struct Initiated {
        let context: ExchangeContext
        let inputSummary: InputSummary
        let state: PartyStateFile.Writer
        let message: MessageFileWriter
    }

    /// Step 1 (initiator): blinds the list in a fresh session (its items hashed under the
    /// exchange's ``HashedContext``) and writes the blinded set and the state.
    ///
    /// - Parameters:
    ///   - secret: the party's scalar; nil for a fresh random one (known-answer tests give one).
    ///   - sessionID: the session; random but in known-answer tests.
    static func initiate(_ source: RecordSource, configuration: MutualPSIConfiguration, secret: SecretBytes? = nil,
                         sessionID: SessionID = .random(), work: WorkDirectory, state location: PartyStateFile.Location,
                         message destination: MessageDestination) throws -> Initiated {
        try checkVerifiable(configuration)
        let startedAt = Date()
        let secret = secret ?? MutualSuite(configuration.suite).newSecret()
        let context = configuration.context(sessionID: sessionID, role: .initiator)
        let own = try blindList(source, configuration: configuration, context: context, secret: secret, work: work)
        var extensions = MessageExtensions()
        if configuration.verifiable {
            try extensions.set(try GroupElement.generatorMultiplied(by: scalar(secret)).rawRepresentation, for: .initiatorCommitment)
        }
        let message = try destination.writer(header: .mutual(.initiatorBlindedSet, context: context, count: own.count,
                                                             extensions: extensions),
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
        let inputSummary: InputSummary
        let peerCount: Int
        let state: PartyStateFile.Writer
        let metadata: PartyStateFile.Metadata
        let responderSet: MessageFileWriter
        let reblinded: MessageFileWriter
    }

    /// Step 2 (responder): blinds this party's list in the initiator's exchange (only now are
    /// both parties and the session known, which every item is hashed under), re-blinds the
    /// initiator's set (checking every element, refusing repeats), writes it as hashes
    /// (shuffled for cardinality only) with this party's blinded set, and the state with the
    /// hashes step 3 must match.
    static func answer(_ request: MessageFileReader, list source: RecordSource, secret: SecretBytes,
                       configuration: MutualPSIConfiguration, work: WorkDirectory, startedAt: Date,
                       state location: PartyStateFile.Location, responderSet responderSetDestination: MessageDestination,
                       reblinded reblindedDestination: MessageDestination) throws -> Answered {
        try checkVerifiable(configuration)
        let commitment = configuration.verifiable ? try initiatorCommitment(request) : nil
        let context = configuration.context(sessionID: request.header.sessionID, role: .responder)
        let own = try blindList(source, configuration: configuration, context: context, secret: secret, work: work)
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
        metadata.initiatorCommitment = commitment?.rawRepresentation
        metadata.transcript = PartyStateFile.Transcript(
            startedAt: startedAt, sent: [try sealed(responderSet, .responderBlindedSet), try sealed(reblinded, .initiatorSetReblinded)],
            received: [RunReceipt.Message(kind: MutualPSIMessage.Kind.initiatorBlindedSet.rawValue, sha256: request.fileDigest!)])
        try state.seal(metadata)
        return Answered(context: context, inputSummary: own.inputSummary, peerCount: peerCount, state: state, metadata: metadata, responderSet: responderSet,
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
        // Verifiable: step 3 is the points themselves, in received order, with the proofs in its
        // header; both are known once the whole set is re-blinded, so the message is made then.
        var proved: (inputs: [BlindedElement], outputs: [BlindedElement])? = context.verifiable ? ([], []) : nil
        if m.outcome != .initiatorLearns {
            guard let replyDestination else {
                throw OutputFileError.missingPath(what: "a path for step 3", reason: "the outcome \(m.outcome) sends step 3 to the responder")
            }
            if !context.verifiable {
                reply = try replyDestination.writer(header: .mutual(.responderSetReblinded, context: context,
                                                                    count: responderSet.header.count, elementSize: sent.length),
                                                    signer: configuration.identity)
            }
        }
        let peer = ElementPartition(.byValue, options: streaming, work: work)
        let shuffled = m.outcome == .cardinalityOnly ? ElementPartition(.random, options: streaming, work: work) : nil
        try reportingElementErrors(in: responderSet.path) {
            try streamReceivedSet(responderSet, secret: state.secret, configuration: configuration,
                                  step: "re-blinding the peer's items", withInputs: { start, received, points in
                try peer.append(compared.values(of: points, parallelism: configuration.parallelism), positionsFrom: start)
                if proved != nil {
                    proved!.inputs += received
                    proved!.outputs += points
                    return
                }
                guard let reply else { return }
                let values = try sent.values(of: points, parallelism: configuration.parallelism)
                if let shuffled {
                    try shuffled.append(values, positionsFrom: start)
                } else {
                    try reply.append(packed: values, by: sent)
                }
            })
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
        if let proved, let replyDestination {
            reply = try provedStepThree(proved, secret: state.secret, context: context, configuration: configuration,
                                        destination: replyDestination)
        }
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
            elementSize: context.verifiable ? BlindedElement.byteCount : hash.length))
        try inputsOpened()
        let returned: ElementPartition
        if context.verifiable {
            returned = ElementPartition(.byValue, options: streaming, work: work)
            let points = try verifiedStepThree(returnedSet, state: state, configuration: configuration)
            try returned.append(hash.values(of: points, parallelism: configuration.parallelism), positionsFrom: 0)
        } else {
            returned = try partition(returnedSet, streaming: streaming, work: work)
        }
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

    // MARK: Verifiable mode

    /// The step-3 proof of verifiable mode: RFC 9497 §2.2's batched DLEQ (one proof per 65,535
    /// pairs) under its own context string, so no OPRF proof is ever valid here or the reverse.
    static let stepThreeProof = DLEQ(contextString: Array("SodiumPSI-V3-mutual-step3-ristretto255-SHA512".utf8))

    /// Refuses a verifiable configuration the protocol cannot prove: only ristretto255 has the
    /// DLEQ proofs, and only both-learn sends step 3 in an order a proof can follow.
    static func checkVerifiable(_ configuration: MutualPSIConfiguration) throws {
        guard configuration.verifiable else { return }
        guard configuration.suite == .ristretto255SHA512 else {
            throw PSIError.suiteMismatch(expected: "\(PSISuite.ristretto255SHA512) (verifiable mode proves over ristretto255)",
                                         found: configuration.suite.description)
        }
        guard configuration.outcome == .bothLearn else {
            throw PSIError.outcomeMismatch(expected: "\(MutualPSIOutcome.bothLearn) (verifiable mode proves step 3 in the order the responder sent)",
                                           found: configuration.outcome.description)
        }
    }

    /// The party's secret as a ristretto255 scalar.
    private static func scalar(_ secret: SecretBytes) throws -> Scalar {
        try secret.withUnsafeBytes { try Scalar(rawRepresentation: $0) }
    }

    /// The same 32-byte values as group elements; the DLEQ arithmetic checks each one and
    /// refuses an invalid one with its position.
    private static func groupElements(_ values: [BlindedElement]) -> [GroupElement] {
        var elements = [GroupElement](repeating: .zero, count: values.count)
        elements.withUnsafeMutableBytes { out in values.withUnsafeBytes { out.copyMemory(from: $0) } }
        return elements
    }

    /// A verifiable step 1's commitment `A = a·G` (extension record 4).
    ///
    /// - Throws: ``MessageFileError/badExtensionRecord(path:type:reason:)`` when it is missing,
    ///   of another length, or not a valid ristretto255 element other than the identity.
    private static func initiatorCommitment(_ request: MessageFileReader) throws -> GroupElement {
        let type = MessageExtensions.RecordType.initiatorCommitment
        let bytes = try request.header.extensions.required(type, length: GroupElement.byteCount, path: request.path)
        guard let commitment = try? GroupElement(validating: bytes) else {
            throw MessageFileError.badExtensionRecord(path: request.path, type: type.rawValue,
                                                      reason: "is not a valid ristretto255 element other than the identity; expected \(type)")
        }
        return commitment
    }

    /// Verifiable step 3 (initiator): the points `a·P_i` in the order of the responder's set,
    /// with the proofs that each is `a` times its `P_i` for the `a` of `A = a·G`.
    private static func provedStepThree(_ proved: (inputs: [BlindedElement], outputs: [BlindedElement]), secret: SecretBytes,
                                        context: ExchangeContext, configuration: MutualPSIConfiguration,
                                        destination: MessageDestination) throws -> MessageFileWriter {
        let a = try scalar(secret)
        let proofs = try stepThreeProof.generateProofs(secret: a, base: .generator, commitment: try GroupElement.generatorMultiplied(by: a),
                                                       inputs: groupElements(proved.inputs), outputs: groupElements(proved.outputs),
                                                       parallelism: configuration.parallelism)
        var extensions = MessageExtensions()
        try extensions.set(proofs.flatMap(\.rawRepresentation), for: .reblindingProofs)
        let reply = try destination.writer(header: .mutual(.responderSetReblinded, context: context, count: proved.outputs.count,
                                                           extensions: extensions),
                                           signer: configuration.identity)
        try reply.append(proved.outputs)
        return reply
    }

    /// Verifiable step 3 (responder): reads the points and verifies their proofs against the
    /// initiator's commitment and this party's set as sent, before any match is computed.
    ///
    /// - Throws: ``MessageFileError/badExtensionRecord(path:type:reason:)`` for a missing or
    ///   short proofs record, ``MessageFileError/invalidElement(path:index:reason:)`` for a
    ///   point that is not a valid element, and ``MessageFileError/invalidProof(path:proof:)``
    ///   naming the first proof that fails: a permuted, altered or replaced point, or a proof
    ///   made for another commitment.
    private static func verifiedStepThree(_ reader: MessageFileReader, state: PartyStateFile.Reader,
                                          configuration: MutualPSIConfiguration) throws -> [BlindedElement] {
        let m = state.metadata
        guard let commitmentBytes = m.initiatorCommitment, let commitment = try? GroupElement(validating: commitmentBytes) else {
            throw StateFileError.invalidStateFile(path: state.path, reason: "a verifiable responder's state holds no valid commitment a·G")
        }
        let count = stepThreeProof.proofCount(pairs: m.itemCount)
        let record = try reader.header.extensions.required(.reblindingProofs, length: count * DLEQProof.byteCount, path: reader.path)
        let proofs = try (0..<count).map { index in
            do {
                return try DLEQProof(rawRepresentation: record[(index * DLEQProof.byteCount)..<((index + 1) * DLEQProof.byteCount)])
            } catch {
                throw MessageFileError.badExtensionRecord(path: reader.path, type: MessageExtensions.RecordType.reblindingProofs.rawValue,
                                                          reason: "holds proof \(index), which is not a proof encoding (a scalar is not below the group order)")
            }
        }
        var points = [BlindedElement]()
        points.reserveCapacity(m.itemCount)
        while let raw = try reader.readChunk(maximumElements: configuration.streaming.chunkSize) {
            points += raw.withUnsafeBytes { ComparisonHash.unpacked($0, length: BlindedElement.byteCount) }
        }
        var sent = [BlindedElement]()
        sent.reserveCapacity(m.itemCount)
        try state.forEachElementChunk(peer: false, configuration.streaming.chunkSize) { _, chunk in sent += chunk }
        do {
            try stepThreeProof.verifyProofs(proofs, base: .generator, commitment: commitment, inputs: groupElements(sent),
                                            outputs: groupElements(points), parallelism: configuration.parallelism)
        } catch PSIError.invalidProof(let index) {
            throw MessageFileError.invalidProof(path: reader.path, proof: index)
        } catch let error as PSIError {
            throw MessageFileError.wrapping(path: reader.path, elementError: error)
        }
        return points
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
