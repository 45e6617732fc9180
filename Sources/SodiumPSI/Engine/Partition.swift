public import Foundation

/// How the streaming engine bounds its memory: sets are read, blinded and re-blinded a chunk at
/// a time, and a set larger than ``inMemoryLimit`` is partitioned into ``bucketCount`` buckets
/// on disk and then shuffled, de-duplicated or intersected bucket by bucket.
///
/// Memory then depends on these settings, not on the set sizes: about
/// `chunkSize × 150` bytes for a chunk in flight, `inMemoryLimit × 40` bytes for each set held
/// whole, and `bucketCount × 64 KiB` of write buffers for each partitioned set.
public struct StreamingOptions: Sendable, Equatable {
    /// Items read, blinded or re-blinded at a time (default 262,144). All threads work on a
    /// chunk and wait for each other at its end, so larger chunks waste less time.
    public var chunkSize: Int
    /// The most elements a set holds in memory before it is partitioned on disk (default 262,144,
    /// about 10 MiB).
    public var inMemoryLimit: Int
    /// Buckets a partitioned set is split into (default 128; each holds about
    /// 1/`bucketCount` of the set, so 10,000,000 items make buckets of about 3 MiB).
    public var bucketCount: Int
    /// Where temporary files go (in a private folder removed at the end of the step); nil for
    /// the folder of the state file.
    public var workDirectory: URL?

    /// The defaults.
    public static let `default` = StreamingOptions()

    /// Creates options; values below 1 are raised to 1.
    public init(chunkSize: Int = 262_144, inMemoryLimit: Int = 262_144, bucketCount: Int = 128, workDirectory: URL? = nil) {
        self.chunkSize = max(1, chunkSize)
        self.inMemoryLimit = max(1, inMemoryLimit)
        self.bucketCount = max(1, bucketCount)
        self.workDirectory = workDirectory
    }
}

/// A 32-byte value with a 64-bit tag: its position in a message, or the index of the item it
/// blinds. 40 bytes without padding, so buffers of them go to disk as they are.
struct TaggedElement {
    var element: BlindedElement
    var tag: UInt64

    /// Orders by value, then by tag.
    func precedes(_ other: TaggedElement) -> Bool {
        element == other.element ? tag < other.tag : element.precedes(other.element)
    }
}

/// A set of tagged values that stays in memory while small and is spread over buckets on disk
/// once it grows past ``StreamingOptions/inMemoryLimit``.
///
/// - `byValue`: equal values always land in the same bucket, so repeats can be found and two
///   sets intersected bucket by bucket.
/// - `random`: each value goes to a bucket drawn from the CSPRNG; shuffling each bucket then
///   gives a uniformly random permutation of the whole set (Rao–Sandelius).
final class ElementPartition {
    enum Placement { case byValue, random }

    let placement: Placement
    private let options: StreamingOptions
    private let work: WorkDirectory
    private var memory: [TaggedElement] = []
    private var buckets: [SpillFile] = []
    private var random = RandomWords()
    /// Values added so far.
    private(set) var count = 0

    init(_ placement: Placement, options: StreamingOptions, work: WorkDirectory) {
        self.placement = placement
        self.options = options
        self.work = work
    }

    var isSpilled: Bool { !buckets.isEmpty }

    func append(_ entry: TaggedElement) throws {
        count += 1
        if buckets.isEmpty {
            memory.append(entry)
            if memory.count > options.inMemoryLimit { try spill() }
        } else {
            try write(entry)
        }
    }

    /// Appends a chunk of a set, each element tagged with its position (from `start` on).
    func append(_ elements: [BlindedElement], positionsFrom start: Int) throws {
        for (i, element) in elements.enumerated() {
            try append(TaggedElement(element: element, tag: UInt64(start + i)))
        }
    }

    /// Moves the values held in memory to buckets on disk; later values go there directly.
    func spill() throws {
        guard buckets.isEmpty else { return }
        buckets = try (0..<options.bucketCount).map { _ in try work.newFile(bufferSize: 1 << 16) }
        let held = memory
        memory = []
        for entry in held { try write(entry) }
    }

    private func write(_ entry: TaggedElement) throws {
        let bucket: Int
        switch placement {
        case .byValue: bucket = Int(entry.element.bucketKey % UInt64(buckets.count))
        case .random: bucket = random.uniform(below: UInt32(buckets.count))
        }
        try withUnsafeBytes(of: entry) { try buckets[bucket].append($0) }
    }

    /// Calls `body` with each bucket in turn (all values at once while the set is in memory).
    /// The partition is empty afterwards.
    func drain(_ body: (inout [TaggedElement]) throws -> Void) throws {
        guard isSpilled else {
            var entries = memory
            memory = []
            try body(&entries)
            return
        }
        for index in buckets.indices {
            var entries = try load(index)
            try body(&entries)
        }
        buckets = []
    }

    /// For a partition placed at random: calls `body` with each bucket shuffled, so the
    /// concatenation of the calls is a uniformly random permutation of the set.
    func drainShuffled(_ body: ([TaggedElement]) throws -> Void) throws {
        precondition(placement == .random)
        try drain { entries in
            shuffleInPlace(&entries)
            try body(entries)
        }
    }

    /// Calls `body` with bucket `i` of `a` and bucket `i` of `b`, for every `i`: values equal in
    /// both sets meet in the same call. Both partitions must place by value.
    static func drainPairs(_ a: ElementPartition, _ b: ElementPartition,
                           _ body: (inout [TaggedElement], inout [TaggedElement]) throws -> Void) throws {
        precondition(a.placement == .byValue && b.placement == .byValue && a.options.bucketCount == b.options.bucketCount)
        if a.isSpilled || b.isSpilled {
            try a.spill()
            try b.spill()
            for index in a.buckets.indices {
                var x = try a.load(index), y = try b.load(index)
                try body(&x, &y)
            }
            a.buckets = []
            b.buckets = []
        } else {
            var x = a.memory, y = b.memory
            a.memory = []
            b.memory = []
            try body(&x, &y)
        }
    }

    private func load(_ index: Int) throws -> [TaggedElement] {
        let file = buckets[index]
        try file.flush()
        return try file.read(TaggedElement.self, from: 0, count: file.byteCount / MemoryLayout<TaggedElement>.stride)
    }
}

extension Array where Element == TaggedElement {
    /// Sorts by value, then by tag.
    mutating func sortByValue() {
        sort { $0.precedes($1) }
    }

    /// In a bucket sorted by ``sortByValue()``: the earliest repeat, as (the smallest tag that
    /// is not the first of its value, the first tag of that value); nil when all values differ.
    func earliestRepeat() -> ElementRepeat? {
        var best: ElementRepeat?
        var start = 0
        while start < count {
            var end = start + 1
            while end < count && self[end].element == self[start].element { end += 1 }
            if end - start > 1 {
                best = ElementRepeat.earlier(best, ElementRepeat(index: Int(self[start + 1].tag), firstIndex: Int(self[start].tag)))
            }
            start = end
        }
        return best
    }
}

/// A value that repeats in a set: its position, and the position of its first occurrence.
struct ElementRepeat: Equatable {
    let index: Int
    let firstIndex: Int

    /// The repeat found first when reading the set in order (the smaller `index`).
    static func earlier(_ a: ElementRepeat?, _ b: ElementRepeat?) -> ElementRepeat? {
        guard let a, let b else { return a ?? b }
        return a.index <= b.index ? a : b
    }
}
