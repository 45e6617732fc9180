import Foundation

// The streaming engine behind `MutualSteps` (and so behind `MutualPSIFileExchange` and the
// in-memory API alike): every set read, blinded and re-blinded a chunk at a time, and shuffled,
// de-duplicated and intersected bucket by bucket (see `ElementPartition`), so that memory does
// not grow with the set sizes.

/// A party's own list, blinded, with repeats dropped and shuffled, held in temporary files
/// until the step writes its message and its state.
struct BlindedList {
    /// The distinct records in input order (``RecordCoding``).
    let records: SpillFile
    /// The blinded set in the order it is sent.
    let sentElements: SpillFile
    /// For each position sent, the index of its record (UInt64, little-endian).
    let sentOrder: SpillFile
    let inputSummary: InputSummary

    var count: Int { inputSummary.distinct }
}

/// Where records come from: a list file read as a stream, or an array.
struct RecordSource {
    /// How many records there are, when known in advance (an array); progress reports carry it.
    var count: Int?
    /// For a list file, about how many records it holds (see
    /// ``IdentifierList/estimatedRecordCount()``), computed only for progress reports.
    var estimatedCount: (() -> Int?)?
    /// Calls its argument with each record in order.
    var forEach: ((ListRecord) throws -> Void) throws -> Void

    init(count: Int? = nil, estimatedCount: (() -> Int?)? = nil, _ forEach: @escaping ((ListRecord) throws -> Void) throws -> Void) {
        self.count = count
        self.estimatedCount = estimatedCount
        self.forEach = forEach
    }
}

/// Blinds every record in `context` (a chunk at a time, on all threads), drops repeated items keeping the
/// first record of each (equal items blind to equal values, which meet in one bucket), and
/// shuffles the set to send with the CSPRNG. A record of another identifier type than the
/// configuration's is refused (``PSIError/itemTypeMismatch(index:found:expected:)``).
func blindList(_ source: RecordSource, configuration: MutualPSIConfiguration, context: ExchangeContext, secret: SecretBytes,
               work: WorkDirectory) throws -> BlindedList {
    let suite = MutualSuite(configuration.suite)
    let options = configuration.streaming
    let allRecords = try work.newFile()
    let byValue = ElementPartition(.byValue, options: options, work: work)
    var chunk = [ListRecord]()
    chunk.reserveCapacity(min(options.chunkSize, 1 << 20))
    var given = 0
    var encoded = [UInt8]()
    // A streamed list's length is not known until it has been read: reports carry its line
    // count as an estimate (the last one the exact count), or 0 when none is available.
    let estimate = source.count == nil && configuration.progress != nil ? source.estimatedCount?() : nil
    let total = source.count ?? estimate ?? 0
    // Blinding a chunk (all threads) overlaps reading the next one and storing the last one.
    let blinding = Pipeline<(start: Int, records: [ListRecord]), (start: Int, records: [ListRecord], elements: [BlindedElement])>(
        transform: { job in
            let progress = configuration.progress.map { handler -> ProgressHandler in
                { handler(ProgressReport(step: $0.step, completed: job.start + $0.completed,
                                         total: max(total, job.start + $0.completed), totalIsEstimate: estimate != nil)) }
            }
            let elements = try suite.blind(job.records.map(\.identifier), context: context, secret: secret,
                                           parallelism: configuration.parallelism, progress: progress)
            return (job.start, job.records, elements)
        },
        consume: { done in
            try byValue.append(done.elements, positionsFrom: done.start)
            encoded.removeAll(keepingCapacity: true)
            for record in done.records { RecordCoding.encode(record, into: &encoded) }
            try allRecords.append(encoded)
        })
    try source.forEach { record in
        try configuration.identifierType.check(record.identifier, index: given + chunk.count)
        chunk.append(record)
        if chunk.count == options.chunkSize {
            try configuration.checkCancelled()
            try blinding.submit((given, chunk))
            given += chunk.count
            chunk.removeAll(keepingCapacity: true)
        }
    }
    if !chunk.isEmpty {
        try blinding.submit((given, chunk))
        given += chunk.count
    }
    try blinding.finish()
    if estimate != nil, let handler = configuration.progress {
        handler(ProgressReport(step: MutualSuite.blindingStep, completed: given, total: given))
    }

    var repeats = [UInt64]()
    let shuffle = ElementPartition(.random, options: options, work: work)
    try byValue.drain { entries in
        entries.sortByValue()
        var i = 0
        while i < entries.count {
            try shuffle.append(entries[i])
            var j = i + 1
            while j < entries.count && entries[j].element == entries[i].element {
                repeats.append(entries[j].tag)
                j += 1
            }
            i = j
        }
    }
    repeats.sort()
    // A record's index among the distinct records: its index less the repeats before it.
    func distinctIndex(_ recordIndex: UInt64) -> UInt64 {
        var low = 0, high = repeats.count
        while low < high {
            let mid = (low + high) / 2
            if repeats[mid] < recordIndex { low = mid + 1 } else { high = mid }
        }
        return recordIndex - UInt64(low)
    }
    let sentElements = try work.newFile(), sentOrder = try work.newFile()
    try shuffle.drainShuffled { entries in
        try sentElements.append(entries.map(\.element))
        try sentOrder.append(entries.map { distinctIndex($0.tag).littleEndian })
    }

    // The distinct records, in input order: the records as read, less the repeats.
    var records = allRecords
    if !repeats.isEmpty {
        records = try work.newFile()
        try allRecords.flush()
        var decoder = RecordCoding.Decoder(file: allRecords, offset: 0, byteCount: allRecords.byteCount)
        var nextRepeat = 0
        encoded.removeAll(keepingCapacity: true)
        for index in 0..<given {
            guard let raw = try decoder.nextRaw() else {
                throw MessageFileError.io(path: allRecords.path, reason: "temporary file is damaged")
            }
            if nextRepeat < repeats.count && repeats[nextRepeat] == UInt64(index) {
                nextRepeat += 1
                continue
            }
            encoded += raw
            if encoded.count >= 1 << 20 {
                try records.append(encoded)
                encoded.removeAll(keepingCapacity: true)
            }
        }
        try records.append(encoded)
    }
    return BlindedList(records: records, sentElements: sentElements, sentOrder: sentOrder,
                       inputSummary: InputSummary(given: given, distinct: given - repeats.count))
}

/// Reads a received set a chunk at a time, re-blinds it on all threads (which checks every
/// element), and calls `body(start, elements)` with each chunk's result.
///
/// An invalid element does not stop the reading: the first one (by position) is thrown once the
/// whole file has been read and its digest verified, so a damaged file is reported as damaged
/// rather than as holding a bad element.
func streamReceivedSet(_ reader: MessageFileReader, secret: SecretBytes, configuration: MutualPSIConfiguration,
                       step: String, _ body: (Int, [BlindedElement]) throws -> Void) throws {
    try streamReceivedSet(reader, secret: secret, configuration: configuration, step: step,
                          withInputs: { start, _, outputs in try body(start, outputs) })
}

/// The same, with each chunk's received elements too: `body(start, received, re-blinded)`.
func streamReceivedSet(_ reader: MessageFileReader, secret: SecretBytes, configuration: MutualPSIConfiguration,
                       step: String, withInputs body: (Int, [BlindedElement], [BlindedElement]) throws -> Void) throws {
    // The pipeline stores `body` but is finished (or released, which waits) before this returns.
    try withoutActuallyEscaping(body) { body in
        try streamReceivedSet(reader, secret: secret, configuration: configuration, step: step, escaping: body)
    }
}

private func streamReceivedSet(_ reader: MessageFileReader, secret: SecretBytes, configuration: MutualPSIConfiguration,
                               step: String, escaping body: @escaping (Int, [BlindedElement], [BlindedElement]) throws -> Void) throws {
    let suite = MutualSuite(reader.header.suite)
    let total = reader.header.count
    var firstError: PSIError?
    // Checking or re-blinding a chunk (all threads) overlaps reading the next one and handing on
    // the last one.
    let pipeline = Pipeline<(start: Int, elements: [BlindedElement]),
                            (start: Int, elements: [BlindedElement], result: Result<[BlindedElement], PSIError>)>(
        transform: { job in
            let progress = configuration.progress.map { handler -> ProgressHandler in
                { handler(ProgressReport(step: step, completed: job.start + $0.completed, total: total)) }
            }
            do {
                return (job.start, job.elements, .success(try suite.reblind(job.elements, secret: secret,
                                                                            parallelism: configuration.parallelism, progress: progress)))
            } catch let error as PSIError {
                return (job.start, job.elements, .failure(error.atPosition(offset: job.start)))
            }
        },
        consume: { done in
            switch done.result {
            case .success(let elements): try body(done.start, done.elements, elements)
            case .failure(let error): if firstError == nil { firstError = error }
            }
        })
    var start = 0
    while let raw = try reader.readChunk(maximumElements: configuration.streaming.chunkSize) {
        try configuration.checkCancelled()
        let elements = raw.withUnsafeBytes { bytes in
            (0..<(bytes.count / BlindedElement.byteCount)).map {
                BlindedElement(unchecked: bytes.baseAddress! + $0 * BlindedElement.byteCount)
            }
        }
        try pipeline.submit((start, elements))
        start += elements.count
    }
    try pipeline.finish()
    if let firstError { throw firstError }
}

extension PSIError {
    /// The same error with its element position moved by `offset` (chunk position → set position).
    func atPosition(offset: Int) -> PSIError {
        switch self {
        case .identityElement(let i?): return .identityElement(index: i + offset)
        case .invalidElementEncoding(let i?): return .invalidElementEncoding(index: i + offset)
        case .zeroValue(let i?): return .zeroValue(index: i + offset)
        case .lowOrderElement(let i?): return .lowOrderElement(index: i + offset)
        case .outsidePrimeOrderSubgroup(let i?): return .outsidePrimeOrderSubgroup(index: i + offset)
        default: return self
        }
    }
}

/// The earliest repeated value of a partition placed by value, as (position, first position);
/// empties the partition.
func earliestRepeat(in partition: ElementPartition) throws -> ElementRepeat? {
    var best: ElementRepeat?
    try partition.drain { entries in
        entries.sortByValue()
        best = ElementRepeat.earlier(best, entries.earliestRepeat())
    }
    return best
}

/// The intersection of two sets partitioned by value, bucket by bucket.
struct PartitionMatch {
    /// Tags (positions) of `returned`'s values that are also in `peer`, ascending.
    var positions: [UInt64] = []
    /// The earliest repeat in each set, if any (a peer that sent a repeat is refused).
    var peerRepeat: ElementRepeat?
    var returnedRepeat: ElementRepeat?
}

/// Intersects `peer` and `returned` (both placed by value) with a merge of each sorted bucket
/// pair, never nested loops; empties both.
func intersect(peer: ElementPartition, returned: ElementPartition) throws -> PartitionMatch {
    var match = PartitionMatch()
    try ElementPartition.drainPairs(peer, returned) { peerEntries, returnedEntries in
        peerEntries.sortByValue()
        returnedEntries.sortByValue()
        match.peerRepeat = ElementRepeat.earlier(match.peerRepeat, peerEntries.earliestRepeat())
        match.returnedRepeat = ElementRepeat.earlier(match.returnedRepeat, returnedEntries.earliestRepeat())
        var i = 0, j = 0
        while i < peerEntries.count && j < returnedEntries.count {
            let p = peerEntries[i].element, r = returnedEntries[j].element
            if p == r {
                match.positions.append(returnedEntries[j].tag)
                j += 1
            } else if p.precedes(r) {
                i += 1
            } else {
                j += 1
            }
        }
    }
    match.positions.sort()
    return match
}

/// Turns matched positions of the set a party sent into its result, reading the sent order and
/// the records from its state a chunk at a time.
func stateResult(positions: [UInt64], state: PartyStateFile.Reader, peerSetSize: Int,
                 chunkSize: Int) throws -> (MutualPSIResult, [ListRecord]) {
    let metadata = state.metadata
    if metadata.outcome == .cardinalityOnly {
        return (.cardinality(.init(count: positions.count, ownSetSize: metadata.itemCount, peerSetSize: peerSetSize)), [])
    }
    var indices = [Int]()
    indices.reserveCapacity(positions.count)
    var next = 0
    try state.forEachSentOrderChunk(chunkSize) { start, order in
        while next < positions.count && positions[next] < UInt64(start + order.count) {
            indices.append(Int(order[Int(positions[next]) - start]))
            next += 1
        }
    }
    indices.sort()
    let matches = try state.records(at: indices)
    let result = MutualPSIResult.intersection(.init(indices: indices, items: matches.map(\.identifier),
                                                    ownSetSize: metadata.itemCount, peerSetSize: peerSetSize))
    return (result, matches)
}
