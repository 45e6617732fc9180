public import Foundation

/// Which CSV columns of a hub's lists hold label fields (``SetupLabel``). A column left nil is
/// not read; with none given the setup carries reporter counts (and contributor names, when
/// asked) only.
public struct LabelColumns: Sendable, Equatable {
    /// Categories; a field may hold several, separated by `;`.
    public var category: IdentifierListReader.Column?
    /// The date the row's reporter first saw the item, `YYYY-MM-DD`.
    public var firstSeen: IdentifierListReader.Column?
    /// The date the row's reporter last saw the item, `YYYY-MM-DD`.
    public var lastSeen: IdentifierListReader.Column?
    /// How many reporters the row stands for (a non-negative integer); without it a row counts
    /// as one reporter.
    public var reporterCount: IdentifierListReader.Column?
    /// A free note.
    public var note: IdentifierListReader.Column?
    /// Whether the contributors' names go into the labels (only when the alliance decides so:
    /// members then learn who reported each of their matches).
    public var includeContributors: Bool

    /// Label columns.
    public init(category: IdentifierListReader.Column? = nil, firstSeen: IdentifierListReader.Column? = nil,
                lastSeen: IdentifierListReader.Column? = nil, reporterCount: IdentifierListReader.Column? = nil,
                note: IdentifierListReader.Column? = nil, includeContributors: Bool = false) {
        self.category = category
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.reporterCount = reporterCount
        self.note = note
        self.includeContributors = includeContributors
    }

    /// The columns to read, in field order: category, first seen, last seen, reporter count, note.
    var columns: [IdentifierListReader.Column?] { [category, firstSeen, lastSeen, reporterCount, note] }
}

/// One contributor's list for a hub setup.
public struct HubContribution: Sendable {
    /// The contributor's name (reported per contributor; a label field only with
    /// ``LabelColumns/includeContributors``).
    public let name: String
    /// How to read the list (its ``IdentifierListReader/extraColumns`` are set from the label
    /// columns by ``UnbalancedPSIFileExchange/publishSetup(contributions:hub:encoding:labelColumns:setupURL:delta:options:progress:)``).
    public let reader: IdentifierListReader

    /// A contribution.
    public init(name: String, reader: IdentifierListReader) {
        self.name = name
        self.reader = reader
    }
}

/// What one contributor's list gave to a setup.
public struct ContributionSummary: Sendable, Equatable {
    /// The contributor's name.
    public let name: String
    /// Rows with a valid identifier (repeats included).
    public let valid: Int
    /// Rows whose identifier is invalid (skipped, or the setup stopped; see the list summary).
    public let invalid: Int
    /// Valid rows of an identifier this contributor had already given (their label fields
    /// still count: dates widen, categories join).
    public let repeated: Int
    /// The list reader's full counts.
    public let list: ListSummary
}

/// A setup or delta written by ``UnbalancedPSIFileExchange/publishSetup(contributions:hub:encoding:labelColumns:setupURL:delta:options:progress:)``.
public struct PublishedSetup: Sendable {
    /// The file's header facts (as a member reads them).
    public let setupID: SessionID
    /// The delta's number; 0 for a full setup.
    public let deltaNumber: Int
    /// The hub key's identifier.
    public let keyID: HubKeyID
    /// The answer mode.
    public let answerMode: UnbalancedAnswerMode
    /// The encoding.
    public let encoding: SetupEncoding
    /// Distinct items in the file.
    public let itemCount: Int
    /// The file's size in bytes.
    public let fileByteCount: Int
    /// The setup digest (the file's trailing digest), which requests name.
    public let digest: [UInt8]
    /// What each contributor gave, in the order given.
    public let contributions: [ContributionSummary]
}

/// The label fields of one row, parsed.
struct ContributedRow {
    var categories: [String] = []
    var firstSeen: String?
    var lastSeen: String?
    var reporterCount: Int?
    var note: String?

    /// Parses the label fields of a row: `indices` gives the 0-based field of each of
    /// ``LabelColumns/columns`` (nil: not read; a row that does not reach a field leaves it empty).
    ///
    /// - Throws: ``UnbalancedPSIError/invalidLabelValue(path:line:field:reason:)``.
    init(_ record: ListRecord, fields: [String], indices: [Int?], columns: LabelColumns, path: String) throws {
        var position = 0
        func next(_ column: IdentifierListReader.Column?) -> String? {
            defer { position += 1 }
            guard column != nil, let index = indices[position], index < fields.count else { return nil }
            let trimmed = String(trimmingWhiteSpace(fields[index].precomposedStringWithCanonicalMapping))
            return trimmed.isEmpty ? nil : trimmed
        }
        func fail(_ field: String, _ reason: String) -> UnbalancedPSIError {
            .invalidLabelValue(path: path, line: record.lineNumber, field: field, reason: reason)
        }
        if let text = next(columns.category) {
            categories = text.split(separator: ";").map { String(trimmingWhiteSpace(String($0))) }.filter { !$0.isEmpty }
        }
        for (field, name, column) in [(\Self.firstSeen, "first seen", columns.firstSeen), (\Self.lastSeen, "last seen", columns.lastSeen)] {
            if let text = next(column) {
                guard SetupLabel.isDate(text) else { throw fail(name + " column", "holds \"\(text)\"; expected a calendar date YYYY-MM-DD") }
                self[keyPath: field] = text
            }
        }
        if let text = next(columns.reporterCount) {
            guard let n = Int(text), (0...Int(UInt32.max)).contains(n) else {
                throw fail("reporter count column", "holds \"\(text)\"; expected a whole number from 0 to \(UInt32.max)")
            }
            reporterCount = n
        }
        note = next(columns.note)
        func hasControl(_ text: String) -> Bool { text.unicodeScalars.contains { $0.properties.generalCategory == .control } }
        if categories.contains(where: hasControl) { throw fail("category column", "holds a control character") }
        if let note, hasControl(note) { throw fail("note column", "holds a control character") }
    }

    init() {}
}

/// The aggregate of every row, from every contributor, of one canonical identifier.
///
/// - reporter count: the sum over the contributors who gave the identifier of their rows'
///   largest reporter count (1 for a contributor whose rows state none);
/// - first seen: the earliest first-seen date (or last-seen date, where a row gives only that);
///   last seen: the latest last-seen (or first-seen) date;
/// - categories: every category of every row, once, in ascending order;
/// - note: the distinct notes, in the order first seen, joined by ` | `;
/// - contributors (when asked): the contributors' names, ascending.
struct LabelAggregate {
    var counts: [Int: Int] = [:]
    var categories = Set<String>()
    var firstSeen: String?
    var lastSeen: String?
    var notes: [String] = []
    /// The first row given for the identifier: (contributor, line), for errors.
    var firstRow: (contributor: Int, line: Int)

    init(contributor: Int, line: Int) { firstRow = (contributor, line) }

    mutating func add(_ row: ContributedRow, contributor: Int) {
        let count = row.reporterCount ?? 1
        counts[contributor] = max(counts[contributor] ?? count, count)
        categories.formUnion(row.categories)
        // ISO dates compare as text.
        if let date = row.firstSeen ?? row.lastSeen, firstSeen.map({ date < $0 }) ?? true { firstSeen = date }
        if let date = row.lastSeen ?? row.firstSeen, lastSeen.map({ date > $0 }) ?? true { lastSeen = date }
        if let note = row.note, !notes.contains(note) { notes.append(note) }
    }

    func label(names: [String], includeContributors: Bool) -> SetupLabel {
        SetupLabel(categories: Array(categories), firstSeen: firstSeen, lastSeen: lastSeen,
                   reporterCount: counts.values.reduce(0, +),
                   contributors: includeContributors ? counts.keys.map { names[$0] } : [],
                   note: notes.isEmpty ? nil : notes.joined(separator: " | "))
    }
}

/// Rows of variable length spread over files by a keyed hash of their identifier once there are
/// more than the options' in-memory limit, so that every row of one identifier lands in one
/// bucket (the same idea as ``ElementPartition`` placing by value, for rows of any length).
final class IdentifierRowPartition {
    private let work: WorkDirectory
    private let bucketCount: Int
    private let limit: Int
    private var memory: [[UInt8]] = []
    private var buckets: [SpillFile] = []
    private let key: [UInt8]
    private(set) var count = 0

    /// Bytes of input a bucket is sized for: decoded and aggregated in a dictionary, a row
    /// takes a few times its bytes in the list, so one bucket stays within tens of MiB.
    static let bucketInputBytes = 4 << 20
    /// The most buckets (with ``bucketBufferBytes(_:)`` their write buffers stay within 32 MiB).
    static let maximumBucketCount = 4_096

    /// The write buffer of each of `count` buckets: 32 KiB, less for many buckets (at least 8 KiB).
    static func bucketBufferBytes(_ count: Int) -> Int { max(8 << 10, min(32 << 10, (32 << 20) / max(1, count))) }

    /// - Parameter inputBytes: about how many bytes the lists hold (their file sizes): the
    ///   buckets are that many, up to ``maximumBucketCount``, that each holds about
    ///   ``bucketInputBytes``, so that the largest bucket, and with it memory, does not grow
    ///   with the lists.
    init(options: StreamingOptions, work: WorkDirectory, inputBytes: Int = 0) {
        self.work = work
        // Rows are larger than elements and aggregated in a dictionary: smaller buckets.
        bucketCount = min(Self.maximumBucketCount, max(options.bucketCount * 4, inputBytes / Self.bucketInputBytes + 1))
        limit = options.inMemoryLimit
        var key = [UInt8](repeating: 0, count: SipHash.keyByteCount)
        key.withUnsafeMutableBytes { fillRandom($0) }
        self.key = key
    }

    /// Adds a row: the identifier (kind, canonical form), the contributor, the line, the fields.
    func append(_ identifier: Identifier, contributor: Int, line: Int, row: ContributedRow) throws {
        var bytes = [UInt8]()
        func put(_ text: String?) {
            let utf8 = Array((text ?? "").utf8)
            bytes += withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
        }
        bytes.append(identifier.kind.rawValue)
        put(identifier.canonical)
        bytes += withUnsafeBytes(of: UInt32(contributor).littleEndian, Array.init)
        bytes += withUnsafeBytes(of: UInt64(line).littleEndian, Array.init)
        put(row.categories.joined(separator: SetupLabel.separator))
        put(row.firstSeen)
        put(row.lastSeen)
        bytes += withUnsafeBytes(of: Int64(row.reporterCount ?? -1).littleEndian, Array.init)
        put(row.note)
        count += 1
        if buckets.isEmpty {
            memory.append(bytes)
            if memory.count > limit {
                buckets = try (0..<bucketCount).map { _ in try work.newFile(bufferSize: Self.bucketBufferBytes(bucketCount)) }
                let held = memory
                memory = []
                for row in held { try write(row) }
            }
        } else {
            try write(bytes)
        }
    }

    private func write(_ row: [UInt8]) throws {
        // The canonical form's bytes (after the kind and its length) decide the bucket.
        let length = Int(row[1]) | Int(row[2]) << 8 | Int(row[3]) << 16 | Int(row[4]) << 24
        let hash = row.withUnsafeBytes { raw in
            key.withUnsafeBytes { SipHash.hash64(UnsafeRawBufferPointer(rebasing: raw[..<(5 + length)]), key: $0.baseAddress!) }
        }
        let bucket = buckets[Int(hash % UInt64(buckets.count))]
        try bucket.append(withUnsafeBytes(of: UInt32(row.count).littleEndian, Array.init))
        try bucket.append(row)
    }

    /// Calls `body` with the rows of each bucket in turn (all rows at once while in memory), each
    /// decoded; every row of an identifier is in one call, in the order added. Empties the partition.
    func drain(_ body: ([(identifier: Identifier, contributor: Int, line: Int, row: ContributedRow)]) throws -> Void) throws {
        if buckets.isEmpty {
            let rows = memory
            memory = []
            try body(rows.map(Self.decode))
            return
        }
        for index in buckets.indices {
            let bytes = try takeBucket(&buckets, index)
            var rows = [(identifier: Identifier, contributor: Int, line: Int, row: ContributedRow)]()
            var offset = 0
            while offset + 4 <= bytes.count {
                let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
                rows.append(Self.decode(Array(bytes[(offset + 4)..<(offset + 4 + length)])))
                offset += 4 + length
            }
            try body(rows)
        }
        buckets = []
    }

    private static func decode(_ bytes: [UInt8]) -> (identifier: Identifier, contributor: Int, line: Int, row: ContributedRow) {
        var offset = 0
        func integer(_ size: Int) -> UInt64 {
            defer { offset += size }
            return (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        func text() -> String {
            let n = Int(integer(4))
            defer { offset += n }
            return String(decoding: bytes[offset..<(offset + n)], as: UTF8.self)
        }
        let kind = Identifier.Kind(rawValue: bytes[0])!
        offset = 1
        let canonical = text()
        let contributor = Int(integer(4)), line = Int(integer(8))
        var row = ContributedRow()
        let categories = text()
        row.categories = categories.isEmpty ? [] : categories.components(separatedBy: SetupLabel.separator)
        let first = text(), last = text()
        row.firstSeen = first.isEmpty ? nil : first
        row.lastSeen = last.isEmpty ? nil : last
        let count = Int64(bitPattern: integer(8))
        row.reporterCount = count < 0 ? nil : Int(count)
        let note = text()
        row.note = note.isEmpty ? nil : note
        return (Identifier(kind: kind, canonical: canonical), contributor, line, row)
    }
}

/// The bytes of bucket `index`, whose file is then released (replaced by an empty one) so that
/// its disk space and buffer go before the next bucket is read.
private func takeBucket(_ buckets: inout [SpillFile], _ index: Int) throws -> [UInt8] {
    let file = buckets[index]
    try file.flush()
    var bytes = [UInt8](repeating: 0, count: file.byteCount)
    try bytes.withUnsafeMutableBytes { try file.read(at: 0, into: $0) }
    // An empty buffer in memory, not a new file: creating hundreds of files costs more than
    // the bucket's work on a small list.
    buckets[index] = SpillFile(memoryNamed: file.path)
    return bytes
}

/// Fixed-size setup entries spread over files by the value of their tag's first two bytes, so
/// that sorting each bucket and writing the buckets in order gives the whole setup sorted; held
/// in memory while there are at most the options' in-memory limit.
final class SortedEntryPartition {
    private let work: WorkDirectory
    private let entrySize: Int
    private let tagSize: Int
    private let bucketCount: Int
    private let limit: Int
    private var memory: [UInt8] = []
    private var buckets: [SpillFile] = []
    private(set) var count = 0

    /// Bytes in each bucket on disk (empty while the entries are held in memory).
    var bucketByteCounts: [Int] { buckets.map(\.byteCount) }

    /// - Parameter expected: about how many entries will come (it sizes the buckets to about 8 MiB).
    init(entrySize: Int, tagSize: Int, expected: Int, options: StreamingOptions, work: WorkDirectory) {
        self.work = work
        self.entrySize = entrySize
        self.tagSize = tagSize
        bucketCount = min(1024, max(1, expected * entrySize / (8 << 20) + 1))
        limit = options.inMemoryLimit
    }

    func append(_ entries: [UInt8]) throws {
        count += entries.count / entrySize
        if buckets.isEmpty {
            memory += entries
            if memory.count / entrySize > limit {
                buckets = try (0..<bucketCount).map { _ in try work.newFile(bufferSize: 1 << 15) }
                let held = memory
                memory = []
                try write(held)
            }
        } else {
            try write(entries)
        }
    }

    private func write(_ entries: [UInt8]) throws {
        try entries.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: entrySize) {
                let prefix = Int(raw[offset]) << 8 | Int(raw[offset + 1])
                // Parenthesised: Swift's `>>` binds tighter than `*` (without them every entry
                // went to bucket 0, and the whole setup was sorted in memory).
                try buckets[(prefix * bucketCount) >> 16].append(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + entrySize)]))
            }
        }
    }

    /// Calls `body` with each bucket's entries sorted, in bucket order: together, every entry in
    /// ascending order. Empties the partition.
    func drainSorted(_ body: ([UInt8]) throws -> Void) throws {
        if buckets.isEmpty {
            let held = memory
            memory = []
            try body(SetupEntryTable.sortEntries(held, entrySize: entrySize, tagSize: tagSize))
            return
        }
        for index in buckets.indices {
            let bytes = try takeBucket(&buckets, index)
            try body(SetupEntryTable.sortEntries(bytes, entrySize: entrySize, tagSize: tagSize))
        }
        buckets = []
    }
}

extension UnbalancedPSIFileExchange {
    /// Hub: reads every contribution as a stream, aggregates the rows of each canonical
    /// identifier into one label (reporter count, first and last seen,
    /// categories), evaluates the PRF on each distinct item on all threads, seals the labels, and
    /// writes the setup (or a delta) sorted by tag, signed by the hub. With a Bloom filter
    /// encoding the distinct items' values go through the same buckets and fill a filter sized
    /// for their number (only its bits are held whole).
    ///
    /// Memory stays bounded whatever the list sizes: rows are spread over temporary files by
    /// identifier, and entries by tag, once there are more than `options.inMemoryLimit`, and
    /// each bucket is aggregated, or sorted and written, in turn (temporary files, mode 0600 in
    /// a private folder, are removed at the end).
    ///
    /// - Parameters:
    ///   - contributions: the lists, each with its contributor's name (one list: the hub's own).
    ///   - hub: the hub.
    ///   - encoding: the encoding; with ``SetupEncoding/labeledTags(tagByteCount:labelByteCount:)``
    ///     each item carries its aggregated label, with another the label columns must be empty.
    ///   - labelColumns: where the label fields are in every list.
    ///   - setupURL: the setup or delta file to write.
    ///   - delta: for a delta, the published setup it extends and the delta's number.
    ///   - options: memory bounds and the folder for temporary files (default: the setup's folder).
    ///   - progress: progress reports.
    /// - Throws: ``IdentifierListError`` for a list that cannot be read,
    ///   ``UnbalancedPSIError/invalidLabelValue(path:line:field:reason:)`` for a label field
    ///   that is not valid or a label that does not fit, the errors of ``UnbalancedPSIHub/makeSetup(items:labels:encoding:progress:)``,
    ///   and those of ``publishDelta(records:hub:baseURL:deltaURL:number:progress:)`` for the base.
    @discardableResult
    public static func publishSetup(contributions: [HubContribution], hub: UnbalancedPSIHub, encoding: SetupEncoding,
                                    labelColumns: LabelColumns = LabelColumns(), setupURL: URL, delta: (base: URL, number: Int)? = nil,
                                    options: StreamingOptions = .default, progress: ProgressHandler? = nil) throws -> PublishedSetup {
        var facts: (setupID: SessionID, encoding: SetupEncoding, deltaNumber: Int) = (.random(), encoding, 0)
        if let delta {
            try FilePaths.requireDistinct([("the published setup", delta.base), ("the delta", setupURL)])
            let base = try deltaBase(delta.base, hub: hub)
            try hub.checkDeltaBase(baseKeyID: base.keyID, purposeDigest: base.purposeDigest, answerMode: base.answerMode,
                                   isDelta: base.isDelta, identifierType: base.identifierType, origin: base.origin)
            facts = (base.setupID, base.encoding, delta.number)
        }
        try hub.checkEncoding(facts.encoding, labeled: facts.encoding.labelByteCount != nil, deltaNumber: facts.deltaNumber)
        if labelColumns.columns.contains(where: { $0 != nil }) || labelColumns.includeContributors, facts.encoding.labelByteCount == nil {
            throw UnbalancedPSIError.labelsNotSupported(reason: "label columns were given, but \(facts.encoding) carries no labels")
        }
        let work = try WorkDirectory(in: options.workDirectory ?? setupURL.deletingLastPathComponent())
        let inputBytes = contributions.reduce(0) { total, contribution in
            var info = stat()
            return total + (stat(contribution.reader.url.path, &info) == 0 ? Int(info.st_size) : 0)
        }
        let rows = IdentifierRowPartition(options: options, work: work, inputBytes: inputBytes)
        let names = contributions.map(\.name)
        var summaries = [(list: ListSummary, repeated: Int)]()
        for (index, contribution) in contributions.enumerated() {
            let source = contribution.reader
            var indices = try labelIndices(labelColumns, format: source.format)
            var position = rows.count
            let path = source.url.path
            let list = try source.forEachRow(header: { names in
                indices = try labelColumns.columns.map { try $0.map { try source.headerColumn(names, $0) } }
            }, where: { _ in true }) { row in
                try hub.identifierType.check(row.record.identifier, index: position)
                position += 1
                let parsed = try ContributedRow(row.record, fields: row.fields, indices: indices, columns: labelColumns, path: path)
                try rows.append(row.record.identifier, contributor: index, line: row.record.lineNumber, row: parsed)
            }
            summaries.append((list, 0))
        }
        // A filter's items are evaluated like tags into whole 32-byte values, spilled and read
        // back in order once their number (the filter's size) is known.
        let filterRate: Double?
        if case .bloomFilter(let ε) = facts.encoding { filterRate = ε } else { filterRate = nil }
        let entrySize = facts.encoding.entryByteCount ?? BloomFilter.valueByteCount
        let tagSize = facts.encoding.tagByteCount ?? 8
        let entries = SortedEntryPartition(entrySize: entrySize, tagSize: tagSize, expected: rows.count, options: options, work: work)
        let size = facts.encoding.labelByteCount
        var done = 0
        // Items of several small buckets are evaluated together, a chunk at a time, so that
        // every thread has a long run of work between two waits. A labeled item in flight takes
        // about 600 bytes (its label, plaintext, value and entry): at most 65,536 at a time.
        let chunk = size == nil ? max(1, options.chunkSize) : min(max(1, options.chunkSize), 65_536)
        var pending = [Identifier](), pendingLabels = [SetupLabel]()
        func evaluatePending() throws {
            for start in stride(from: 0, to: pending.count, by: chunk) {
                let end = min(pending.count, start + chunk)
                let reporting = progress.map { [done] handler -> ProgressHandler in
                    { handler(ProgressReport(step: "evaluating the list", completed: done + $0.completed, total: 0)) }
                }
                try entries.append(hub.setupEntries(Array(pending[start..<end]), labels: size == nil ? nil : Array(pendingLabels[start..<end]),
                                                    encoding: facts.encoding, setupID: facts.setupID, deltaNumber: facts.deltaNumber,
                                                    progress: reporting))
                done += end - start
            }
            pending.removeAll(keepingCapacity: true)
            pendingLabels.removeAll(keepingCapacity: true)
        }
        try rows.drain { bucket in
            var aggregates = [Identifier: LabelAggregate](minimumCapacity: bucket.count)
            var order = [Identifier]()
            for (identifier, contributor, line, row) in bucket {
                if aggregates[identifier] == nil {
                    aggregates[identifier] = LabelAggregate(contributor: contributor, line: line)
                    order.append(identifier)
                }
                if aggregates[identifier]!.counts[contributor] != nil { summaries[contributor].repeated += 1 }
                aggregates[identifier]!.add(row, contributor: contributor)
            }
            var labels: [SetupLabel]?
            if let size {
                labels = try order.map { identifier in
                    let aggregate = aggregates[identifier]!
                    let label = aggregate.label(names: names, includeContributors: labelColumns.includeContributors)
                    let path = contributions[aggregate.firstRow.contributor].reader.url.path
                    if let problem = label.problem {
                        throw UnbalancedPSIError.invalidLabelValue(path: path, line: aggregate.firstRow.line, field: "label", reason: problem)
                    }
                    if label.byteCount > size {
                        throw UnbalancedPSIError.invalidLabelValue(
                            path: path, line: aggregate.firstRow.line, field: "label",
                            reason: "of this identifier, aggregated over its rows, takes \(label.byteCount) bytes, more than the fixed label size of \(size) bytes (--label-bytes)")
                    }
                    return label
                }
            }
            aggregates = [:]
            pending += order
            if let labels { pendingLabels += labels }
            if pending.count >= chunk { try evaluatePending() }
        }
        try evaluatePending()
        let contributionSummaries = zip(names, summaries).map { name, summary in
            ContributionSummary(name: name, valid: summary.list.valid, invalid: summary.list.invalid, repeated: summary.repeated, list: summary.list)
        }
        if let filterRate {
            // The filter (its bits, about 3.6 bytes an item at 2^-20) is the only part held whole.
            var filter = try BloomFilter(itemCount: entries.count, falsePositiveRate: filterRate)
            try entries.drainSorted { values in
                values.withUnsafeBytes { raw in
                    for i in 0..<(raw.count / entrySize) {
                        filter.insert(UnsafeRawBufferPointer(rebasing: raw[(i * entrySize)..<((i + 1) * entrySize)]))
                    }
                }
            }
            let setup = UnbalancedSetup(isDelta: facts.deltaNumber > 0, deltaNumber: facts.deltaNumber, setupID: facts.setupID,
                                        publicKey: hub.key.privateKey.publicKey, purposeDigest: hub.purpose.digest,
                                        answerMode: hub.key.answerMode, encoding: facts.encoding, itemCount: entries.count,
                                        hub: hub.identity.publicKey, identifierType: hub.identifierType, body: .filter(filter),
                                        origin: setupURL.path)
            try setup.write(to: setupURL, signedBy: hub.identity)
            return PublishedSetup(setupID: facts.setupID, deltaNumber: facts.deltaNumber, keyID: hub.key.keyID, answerMode: hub.key.answerMode,
                                  encoding: facts.encoding, itemCount: entries.count, fileByteCount: setup.fileByteCount, digest: setup.digest,
                                  contributions: contributionSummaries)
        }
        let header = UnbalancedSetup.header(isDelta: facts.deltaNumber > 0, deltaNumber: facts.deltaNumber, setupID: facts.setupID,
                                            keyID: hub.key.keyID, publicKey: hub.key.privateKey.publicKey,
                                            purposeDigest: hub.purpose.digest, answerMode: hub.key.answerMode,
                                            encoding: facts.encoding, hub: hub.identity.publicKey, identifierType: hub.identifierType,
                                            bodyElements: entries.count)
        let writer = try MessageFileWriter(url: setupURL, header: header, signer: hub.identity)
        try entries.drainSorted { sorted in try sorted.withUnsafeBytes { try writer.append(elements: $0) } }
        try writer.seal()
        let digest = writer.contentDigest!
        try writer.commit()
        return PublishedSetup(setupID: facts.setupID, deltaNumber: facts.deltaNumber, keyID: hub.key.keyID, answerMode: hub.key.answerMode,
                              encoding: facts.encoding, itemCount: entries.count,
                              fileByteCount: header.byteCount + header.count * header.elementSize + MessageHeader.trailerByteCount,
                              digest: digest, contributions: contributionSummaries)
    }

    /// The fields of the label columns in a list read without a header line (a CSV header
    /// names them when the list is read).
    ///
    /// - Throws: ``UnbalancedPSIError/labelsNotSupported(reason:)`` for label columns of a list
    ///   of one value a line, or named in a list without a header line.
    private static func labelIndices(_ columns: LabelColumns, format: IdentifierListReader.Format) throws -> [Int?] {
        let wanted = columns.columns
        switch format {
        case .lines:
            guard wanted.allSatisfy({ $0 == nil }) else {
                throw UnbalancedPSIError.labelsNotSupported(reason: "label columns need a CSV list; this one holds one value a line")
            }
            return wanted.map { _ in nil }
        case .csvWithoutHeader:
            return try wanted.map { column in
                switch column {
                case nil: return nil
                case .number(let n)?:
                    guard n >= 1 else { throw UnbalancedPSIError.labelsNotSupported(reason: "label column number \(n); expected 1 or more") }
                    return n - 1
                case .name(let name)?:
                    throw UnbalancedPSIError.labelsNotSupported(reason: "label column \"\(name)\" is named, but the list has no header line; give its number")
                }
            }
        case .csv:
            return wanted.map { _ in nil }
        }
    }
}
