import Foundation
import Testing
@testable import SodiumPSI

@Suite("Binary fuse filter")
struct BinaryFuseFilterTests {
    @Test("Size: about 1.125·f/8 bytes an item for large lists (2.81 at f = 20, where a Bloom filter at 2^-20 takes 3.61)")
    func size() throws {
        #expect(try BinaryFuseFilter.fingerprintBits(falsePositiveRate: 0x1p-20) == 20)
        #expect(try BinaryFuseFilter.fingerprintBits(falsePositiveRate: 0.01) == 7)
        #expect(throws: UnbalancedPSIError.self) { try BinaryFuseFilter.fingerprintBits(falsePositiveRate: 0) }
        for n in [1_000_000, 10_000_000, 100_000_000] {
            let perItem = Double(BinaryFuseFilter.byteCount(itemCount: n, fingerprintBits: 20)) / Double(n)
            #expect(perItem > 2.8 && perItem < 2.85, "\(perItem) bytes an item for \(n) items")
            let bloom = Double(try BloomFilter.parameters(itemCount: n, falsePositiveRate: 0x1p-20).bitCount) / 8 / Double(n)
            #expect(perItem < bloom * 0.8)
        }
    }

    /// The same statistical test as the Bloom filter's: the measured rate over q random
    /// non-members is Binomial(q, 2^-f) with 2^-f ≤ ε; at most ε·q + 5·sqrt(ε·q) false positives
    /// (a correct filter fails with probability below 3·10⁻⁷), and at least half the expected
    /// 2^-f·q (the filter is not trivially sparse).
    @Test("Measured false-positive rate over random queries stays within the configured bound; no false negatives",
          arguments: [(0.01, 10_000, 200_000), (0x1p-10, 20_000, 2_000_000)])
    func falsePositiveRate(ε: Double, n: Int, queries: Int) throws {
        let members = Unbalanced.randomValues(n, seed: 1)
        let filter = try members.withUnsafeBytes { try BinaryFuseFilter(values: $0, count: n, stride: 64, falsePositiveRate: ε) }
        let hits = Unbalanced.checkFalsePositives(members: members, queries: queries, ε: ε) { filter.contains($0) }
        #expect(Double(hits) >= filter.falsePositiveRate * Double(queries) / 2)
    }

    @Test("Tiny filters (a delta of a few items) hold their items and stay near 2^-f", arguments: [1, 2, 3, 6, 50])
    func smallFilters(n: Int) throws {
        let members = Unbalanced.randomValues(n, seed: 77)
        let filter = try members.withUnsafeBytes { try BinaryFuseFilter(values: $0, count: n, stride: 64, falsePositiveRate: 0.01) }
        members.withUnsafeBytes { raw in
            for i in 0..<n { #expect(filter.contains(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)]))) }
        }
        let queries = 100_000
        let values = Unbalanced.randomValues(queries, seed: 4_242)
        var hits = 0
        values.withUnsafeBytes { raw in
            for i in 0..<queries where filter.contains(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) { hits += 1 }
        }
        let expected = filter.falsePositiveRate * Double(queries)
        #expect(Double(hits) <= expected + 5 * expected.squareRoot(), "\(hits) false positives for a filter of \(n) items")
    }

    @Test("Repeated values are refused with a clear error, not a broken filter")
    func repeatedValues() throws {
        var members = Unbalanced.randomValues(100, seed: 9)
        members.replaceSubrange(64..<128, with: members[0..<64])
        #expect(throws: UnbalancedPSIError.self) {
            try members.withUnsafeBytes { try BinaryFuseFilter(values: $0, count: 100, stride: 64, falsePositiveRate: 0.01) }
        }
    }
}
