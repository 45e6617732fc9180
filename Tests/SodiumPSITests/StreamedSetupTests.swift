import Foundation
import Testing
@testable import SodiumPSI

@Suite("Streamed setups")
struct StreamedSetupTests {
    /// A partition that put every entry in one bucket still wrote a correct setup, but sorted
    /// it whole in memory (peak RSS grew with the list: 397 MiB at 1,000,000 labeled items).
    @Test("Setup entries spread over every bucket by tag, none holding the whole setup; drained in order they are the sorted setup")
    func entriesSpreadOverBuckets() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let work = try WorkDirectory(in: folder)
        let entrySize = 32, n = 30_000
        // Sized for 3,000,000 entries of 32 bytes: 12 buckets of about 8 MiB.
        let partition = SortedEntryPartition(entrySize: entrySize, tagSize: 12, expected: 3_000_000,
                                             options: StreamingOptions(inMemoryLimit: 1_000), work: work)
        let entries = Unbalanced.randomValues(n / 2, seed: 5)
        for start in stride(from: 0, to: entries.count, by: 32_000) {
            try partition.append(Array(entries[start..<min(entries.count, start + 32_000)]))
        }
        let sizes = partition.bucketByteCounts
        #expect(sizes.count == 12)
        // Each bucket holds about 1/12 of the entries (2,500 ± 48 for a binomial; 20 % is 10σ).
        let mean = Double(n * entrySize) / Double(sizes.count)
        #expect(sizes.allSatisfy { abs(Double($0) - mean) < 0.2 * mean }, "bucket sizes \(sizes)")
        var drained = [UInt8]()
        try partition.drainSorted { drained += $0 }
        #expect(drained == SetupEntryTable.sortEntries(entries, entrySize: entrySize, tagSize: 12))
    }

    @Test("A Bloom filter setup streamed through spilled buckets has the in-memory filter's bits and answers (5,000 items, repeats collapsed)")
    func streamedBloomEqualsInMemory() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let hub = Unbalanced.hub(.intersection)
        let count = 5_000
        let values = (0..<count).map { "item-\($0)" }
        let list = folder.appendingPathComponent("list.txt")
        try Data((values + stride(from: 0, to: count, by: 10).map { values[$0] }).joined(separator: "\n").utf8).write(to: list)
        let setupURL = folder.appendingPathComponent("streamed.spsi")
        let encoding = SetupEncoding.bloomFilter(falsePositiveRate: 0x1p-20)
        let published = try UnbalancedPSIFileExchange.publishSetup(
            contributions: [HubContribution(name: "hub", reader: IdentifierListReader(url: list, kind: .plain))], hub: hub,
            encoding: encoding, setupURL: setupURL, options: StreamingOptions(chunkSize: 1_024, inMemoryLimit: 250, bucketCount: 16))
        let memory = try hub.makeSetup(items: Unbalanced.items(values), encoding: encoding)
        #expect(published.itemCount == count)
        #expect(published.encoding == encoding)
        let streamed = try UnbalancedSetup.read(from: setupURL)
        #expect(published.digest == streamed.digest)
        #expect(published.fileByteCount == memory.fileByteCount)
        #expect(streamed.bloomFilter!.encodedBody() == memory.bloomFilter!.encodedBody())
        let member = Unbalanced.items(stride(from: 0, to: count, by: 10).map { values[$0] } + ["not-listed"])
        #expect(try Unbalanced.query(hub: hub, setup: streamed, member: member) == Unbalanced.query(hub: hub, setup: memory, member: member))
    }
}
