import Foundation
import Testing
@testable import SodiumPSI

/// The streaming file exchange against the in-memory (simple) path and a plain `Set`.
@Suite("Streaming engine")
struct StreamingTests {
    /// Threads, chunk size, in-memory limit and bucket count: from all in memory to every set
    /// spread over many buckets, with chunks that do not divide the sets evenly.
    static let layouts: [(threads: Int, chunk: Int, limit: Int, buckets: Int)] = [
        (1, 65_536, 262_144, 128),  // defaults: every set in memory
        (2, 7, 50, 16),             // many buckets, small chunks
        (3, 1, 10, 7),              // one item a chunk, odd bucket count
        (2, 100, 1, 3),             // partitioned from the first element
        (4, 64, 300, 1),            // one bucket on disk
    ]

    /// Sizes of the two lists (prefixes of listA and listB), one per layout: empty sets, one
    /// item, and lists with repeats.
    static let sizes: [(a: Int, b: Int)] = [(425, 322), (0, 40), (1, 1), (90, 0), (300, 322)]

    /// A list with repeats and records written in different ways, as records with line numbers.
    static func records(_ values: [String]) -> [ListRecord] {
        values.enumerated().map { ListRecord(identifier: try! Identifier.plain($1), original: " \($1) ", lineNumber: $0 + 2) }
    }

    static let listA: [String] = (0..<400).map { "n\($0)" } + (0..<25).map { "n\($0 * 7)" }   // 25 repeats
    static let listB: [String] = (280..<600).map { "n\($0)" } + ["n300", "n599"]                // 2 repeats

    /// Runs the four file steps with these options and returns both outcomes.
    static func runFiles(_ a: [ListRecord], _ b: [ListRecord], outcome: MutualPSIOutcome, threads: Int,
                         streaming: StreamingOptions, in dir: URL) throws
        -> (a: MutualPSIFileExchange.Outcome, b: MutualPSIFileExchange.Outcome?, blindingA: MutualPSIFileExchange.Blinding,
            blindingB: MutualPSIFileExchange.Blinding) {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("streaming test"), outcome: outcome,
                                            parallelism: Parallelism(threads: threads, batchSize: 5), streaming: streaming)
        let file = { (name: String) in dir.appendingPathComponent(name) }
        let blindingA = try MutualPSIFileExchange.initiate(records: a, configuration: config, stateURL: file("a.state"),
                                                           messageURL: file("1.spsi"))
        let blindingB = try MutualPSIFileExchange.respond(records: b, configuration: config.counterpart, requestURL: file("1.spsi"),
                                                          stateURL: file("b.state"), responderSetURL: file("2a.spsi"),
                                                          reblindedURL: file("2b.spsi"))
        let parallelism = Parallelism(threads: threads, batchSize: 5)
        let outcomeA = try MutualPSIFileExchange.finishInitiator(identity: TestParties.a,
            stateURL: file("a.state"), responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"),
            replyURL: file("3.spsi"), parallelism: parallelism, streaming: streaming)
        let outcomeB = outcomeA.replyWritten
            ? try MutualPSIFileExchange.finishResponder(identity: TestParties.b, stateURL: file("b.state"), replyURL: file("3.spsi"),
                                                        parallelism: parallelism, streaming: streaming)
            : nil
        return (outcomeA, outcomeB, blindingA, blindingB)
    }

    @Test("The file and in-memory entry points, one code path: both equal the Set intersection for every size, thread count, chunk size and bucket layout",
          arguments: zip(layouts, sizes))
    func sameAsSimplePath(layout: (threads: Int, chunk: Int, limit: Int, buckets: Int), size: (a: Int, b: Int)) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let streaming = StreamingOptions(chunkSize: layout.chunk, inMemoryLimit: layout.limit, bucketCount: layout.buckets)
        let listA = Array(Self.listA.prefix(size.a)), listB = Array(Self.listB.prefix(size.b))
        let a = Self.records(listA), b = Self.records(listB)
        let files = try Self.runFiles(a, b, outcome: .bothLearn, threads: layout.threads, streaming: streaming, in: dir)
        let memory = try runMutualPSI(a.map(\.identifier), b.map(\.identifier), outcome: .bothLearn, threads: layout.threads,
                                      streaming: streaming)

        // The plain Set intersection, on both sides and through both entry points.
        let expected = Set(listA).intersection(listB)
        #expect(sharedItems(memory.initiator).map { Set($0.map(\.canonical)) } == expected)
        #expect(sharedItems(memory.responder).map { Set($0.map(\.canonical)) } == expected)
        // Exactly the in-memory results: the same indices into the distinct items, the same items.
        #expect(files.a.result == memory.initiator)
        #expect(files.b?.result == memory.responder)
        // With each match's first record as the operator wrote it.
        #expect(files.a.result.count == expected.count)
        #expect(Set(files.a.matches.map(\.identifier.canonical)) == expected)
        #expect(Set(files.b?.matches.map(\.identifier.canonical) ?? []) == expected)
        let firstLine = Dictionary(listA.enumerated().map { ($1, $0 + 2) }, uniquingKeysWith: { first, _ in first })
        #expect(files.a.matches.allSatisfy { $0.lineNumber == firstLine[$0.identifier.canonical] && $0.original == " \($0.identifier.canonical) " })
        #expect(files.a.matches.map(\.lineNumber) == files.a.matches.map(\.lineNumber).sorted())
        // Repeats are collapsed and counted.
        #expect(files.blindingA.inputSummary == InputSummary(given: size.a, distinct: Set(listA).count))
        #expect(files.blindingB.inputSummary == InputSummary(given: size.b, distinct: Set(listB).count))
        #expect(files.blindingB.peerSetSize == Set(listA).count)
        // The temporary work folders are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
                == ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi", "a.state", "b.state"])
    }

    @Test("Every outcome through partitioned sets: results equal the Set intersection", arguments: MutualPSIOutcome.allCases)
    func outcomesPartitioned(outcome: MutualPSIOutcome) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let streaming = StreamingOptions(chunkSize: 33, inMemoryLimit: 20, bucketCount: 9)
        let files = try Self.runFiles(Self.records(Self.listA), Self.records(Self.listB), outcome: outcome, threads: 2,
                                      streaming: streaming, in: dir)
        let expected = Set(Self.listA).intersection(Self.listB)
        #expect(files.a.result.count == expected.count)
        switch outcome {
        case .bothLearn:
            #expect(Set(files.a.matches.map(\.identifier.canonical)) == expected)
            #expect(Set(files.b?.matches.map(\.identifier.canonical) ?? []) == expected)
        case .initiatorLearns:
            #expect(Set(files.a.matches.map(\.identifier.canonical)) == expected)
            #expect(files.b == nil)
        case .cardinalityOnly:
            #expect(files.a.result == .cardinality(.init(count: expected.count, ownSetSize: 400, peerSetSize: 320)))
            #expect(files.b?.result == .cardinality(.init(count: expected.count, ownSetSize: 320, peerSetSize: 400)))
            #expect(files.a.matches.isEmpty && files.b?.matches.isEmpty == true)
        }
    }

    @Test("The set sent is shuffled: its order is a permutation far from the input order")
    func sentOrderIsShuffled() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let streaming = StreamingOptions(chunkSize: 16, inMemoryLimit: 30, bucketCount: 5)
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("order"), outcome: .bothLearn, streaming: streaming)
        let url = dir.appendingPathComponent("a.state")
        try MutualPSIFileExchange.initiate(records: Self.records((0..<200).map { "o\($0)" }), configuration: config,
                                           stateURL: url, messageURL: dir.appendingPathComponent("1.spsi"))
        let restored = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: url)
        // sentOrder[position] is the record index: a permutation, and far from the input order.
        let order = try restored.sentOrder
        #expect(order.sorted() == Array(0..<200))
        #expect(zip(order, 0..<200).filter { $0 == $1 }.count < 10)
        // Nor in the order of the values (repeats are found by sorting them): a random
        // permutation of 200 has 99.5 ± 4.1 ascents, a sorted run 199.
        let sent = restored.blindedSet.elements
        let ascents = zip(sent, sent.dropFirst()).filter { $0.precedes($1) }.count
        #expect((70...130).contains(ascents))
    }

    @Test("A repeat spread over buckets is refused with the positions the in-memory check names")
    func repeatsAcrossBuckets() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let purpose = try PurposeLabel("repeats")
        let a = try MutualPSIInitiator(items: plainItems((0..<200).map { "r\($0)" }),
                                       configuration: MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn))
        var elements = a.blindedSet.elements
        elements[150] = elements[37]
        elements[170] = elements[12]
        let request = dir.appendingPathComponent("1.spsi")
        try MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: elements).write(to: request)
        let expected = MessageFileError.duplicateElement(path: request.path, index: 150, firstIndex: 37)
        #expect(throws: expected) {
            try MutualPSIMessage.read(from: request, kind: .initiatorBlindedSet, suite: .ristretto255SHA512,
                                      purpose: purpose, outcome: .bothLearn, sessionID: nil)
        }
        let streaming = StreamingOptions(chunkSize: 9, inMemoryLimit: 5, bucketCount: 13)
        let config = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, streaming: streaming)
        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(throws: expected) {
            try MutualPSIFileExchange.respond(records: Self.records(["x"]), configuration: config.counterpart, requestURL: request,
                                              stateURL: out.appendingPathComponent("b.state"),
                                              responderSetURL: out.appendingPathComponent("2a.spsi"),
                                              reblindedURL: out.appendingPathComponent("2b.spsi"))
        }
        // Nothing written, and the work folder is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test("Temporary files go to the work folder given and are removed; the state file's folder stays clean")
    func workDirectory() throws {
        let dir = try temporaryDirectory(), work = try temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: dir)
            try? FileManager.default.removeItem(at: work)
        }
        let streaming = StreamingOptions(chunkSize: 10, inMemoryLimit: 4, bucketCount: 3, workDirectory: work)
        let files = try Self.runFiles(Self.records(Self.listA), Self.records(Self.listB), outcome: .bothLearn, threads: 2,
                                      streaming: streaming, in: dir)
        #expect(files.a.result.count == Set(Self.listA).intersection(Self.listB).count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).isEmpty)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir.path)).contains { $0.hasPrefix(".") })
    }

    @Test("A damaged or truncated state file is refused before anything is read from it")
    func damagedState() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("damage"), outcome: .bothLearn)
        let url = dir.appendingPathComponent("a.state")
        try MutualPSIFileExchange.initiate(records: Self.records((0..<50).map { "d\($0)" }), configuration: config,
                                           stateURL: url, messageURL: dir.appendingPathComponent("1.spsi"))
        let original = try [UInt8](Data(contentsOf: url))
        let damaged = StateFileError.invalidStateFile(path: url.path, reason: "its content does not match its digest; the file is damaged")
        // The secret, the body, the description's last byte, the digest.
        for offset in [30, original.count / 2, original.count - 49, original.count - 1] {
            var bytes = original
            bytes[offset] ^= 0x01
            try SecretFile.write(bytes, to: url)
            #expect(throws: damaged, "byte \(offset)") { try MutualPSIInitiator(identity: TestParties.a, restoringFrom: url) }
            #expect(throws: damaged, "byte \(offset)") {
                try MutualPSIFileExchange.finishInitiator(identity: TestParties.a, stateURL: url, responderSetURL: dir.appendingPathComponent("none-1"),
                                                          reblindedURL: dir.appendingPathComponent("none-2"), replyURL: nil)
            }
        }
        // A flipped length in the trailer, or a truncated file: the sections no longer add up
        // to the file's length, which is checked before anything else is read.
        var lengthFlipped = original
        lengthFlipped[original.count - 40] ^= 0x01
        try SecretFile.write(lengthFlipped, to: url)
        #expect(throws: StateFileError.invalidStateFile(path: url.path, reason: "its sections do not add up to its length of \(original.count) bytes; the file is damaged")) {
            try MutualPSIInitiator(identity: TestParties.a, restoringFrom: url)
        }
        try SecretFile.write(Array(original.dropLast(100)), to: url)
        #expect(throws: StateFileError.invalidStateFile(path: url.path, reason: "its sections do not add up to its length of \(original.count - 100) bytes; the file is damaged")) {
            try MutualPSIInitiator(identity: TestParties.a, restoringFrom: url)
        }
    }
}

@Suite("Partitions")
struct PartitionTests {
    static func element(_ rng: inout SplitMix64) -> BlindedElement {
        var bytes = [UInt8]()
        for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { bytes += $0 } }
        return try! BlindedElement(rawRepresentation: bytes)
    }

    @Test("Bucket-by-bucket intersection equals Set intersection, with the earliest repeats",
          arguments: [(1_000, 1), (20, 16), (0, 5), (1, 256)])
    func intersection(limit: Int, buckets: Int) throws {
        let work = try WorkDirectory(in: FileManager.default.temporaryDirectory)
        var rng = SplitMix64(seed: UInt64(limit * 1000 + buckets))
        let options = StreamingOptions(inMemoryLimit: limit, bucketCount: buckets)
        let shared = (0..<120).map { _ in Self.element(&rng) }
        let peerValues = shared + (0..<300).map { _ in Self.element(&rng) }
        var returnedValues = (0..<250).map { _ in Self.element(&rng) } + shared.prefix(80)
        returnedValues.shuffle(using: &rng)
        let peer = ElementPartition(.byValue, options: options, work: work)
        let returned = ElementPartition(.byValue, options: options, work: work)
        for (i, value) in peerValues.enumerated() { try peer.append(TaggedElement(element: value, tag: UInt64(i))) }
        for (i, value) in returnedValues.enumerated() { try returned.append(TaggedElement(element: value, tag: UInt64(i))) }
        let match = try intersect(peer: peer, returned: returned)
        let expected = returnedValues.indices.filter { Set(peerValues).contains(returnedValues[$0]) }.map { UInt64($0) }
        #expect(match.positions == expected)
        #expect(match.peerRepeat == nil && match.returnedRepeat == nil)

        // Repeats: the earliest second occurrence and its first occurrence, whatever bucket they fall in.
        let again = ElementPartition(.byValue, options: options, work: work)
        var values = (0..<200).map { _ in Self.element(&rng) }
        values[190] = values[3]
        values[120] = values[60]
        values[121] = values[60]
        for (i, value) in values.enumerated() { try again.append(TaggedElement(element: value, tag: UInt64(i))) }
        let found = try earliestRepeat(in: again)
        #expect(found?.index == 120 && found?.firstIndex == 60)
    }

    @Test("The bucketed shuffle makes every permutation equally likely")
    func shuffleUniformity() throws {
        let work = try WorkDirectory(in: FileManager.default.temporaryDirectory)
        var rng = SplitMix64(seed: 7)
        let values = (0..<3).map { _ in PartitionTests.element(&rng) }
        var counts = [[BlindedElement]: Int]()
        let trials = 6_000
        for _ in 0..<trials {
            // An in-memory limit of 1 spills three values over two buckets.
            let partition = ElementPartition(.random, options: StreamingOptions(inMemoryLimit: 1, bucketCount: 2), work: work)
            for value in values { try partition.append(TaggedElement(element: value, tag: 0)) }
            var order = [BlindedElement]()
            try partition.drainShuffled { order += $0.map(\.element) }
            counts[order, default: 0] += 1
        }
        // 6 permutations, 1,000 expected each; the standard deviation is about 29, so 150 is
        // more than 5 standard deviations: a correct shuffle fails this about once in 10^6 runs.
        #expect(counts.count == 6)
        for (_, count) in counts { #expect(abs(count - trials / 6) < 150) }
    }
}
