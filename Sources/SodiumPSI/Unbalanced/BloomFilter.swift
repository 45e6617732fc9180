import Foundation

/// A Bloom filter over pseudorandom 64-byte values (PRF outputs), sized for a stated
/// false-positive rate.
///
/// Parameters, for `n` items and a false-positive rate ε:
/// - `k = round(log2(1/ε))` hash functions (at least 1, at most 64), rounding half away from
///   zero (`log2(2^-10.5)` is exactly −10.5 in binary64, and gives 11);
/// - `m = ceil(−k·n / ln(1 − ε^(1/k)))` bits (at least 64): the fewest bits for which the
///   standard estimate `(1 − e^(−k·n/m))^k` is at most ε with that `k`. With ε a power of two
///   this is the textbook `m = n·log2(1/ε)/ln 2` ≈ 1.44·log2(1/ε) bits an item; for other ε it
///   rounds `m` up so that rounding `k` never pushes the rate above ε.
///
/// The `k` bit positions of a value `v` (the first 32 bytes of a PRF output) are independent:
/// block `j` is `SHA-512("SodiumPSI-V1-bloom-filter" || I2OSP(j, 1) || v)`, and position
/// `i = 0..<k` is `⌊w·m / 2^64⌋` for `w` the little-endian 64-bit word at byte `8·(i mod 8)` of
/// block `⌊i / 8⌋`. (Double hashing, `h1 + i·h2`, is cheaper but its positions collapse onto a
/// few bits in a small filter such as a one-item delta, far above the estimated rate.)
public struct BloomFilter: Sendable, Equatable {
    /// Smallest false-positive rate accepted (2^-40).
    public static let minimumFalsePositiveRate = 0x1p-40
    /// Largest false-positive rate accepted.
    public static let maximumFalsePositiveRate = 0.25
    /// Bytes of a value the filter uses.
    public static let valueByteCount = 32
    static let positionLabel = Array("SodiumPSI-V1-bloom-filter".utf8)

    /// Number of bits, m.
    public let bitCount: Int
    /// Number of hash functions, k.
    public let hashCount: Int
    /// Number of items the filter was built for, n.
    public let itemCount: Int
    /// The configured false-positive rate ε.
    public let falsePositiveRate: Double
    /// The bits: bit `i` is bit `i % 64` of `words[i / 64]`.
    private(set) var words: [UInt64]

    /// `(m, k)` for `n` items and false-positive rate ε (see the type's documentation).
    ///
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)`` for ε outside
    ///   2^-40…0.25 or a negative `n`.
    public static func parameters(itemCount n: Int, falsePositiveRate ε: Double) throws -> (bitCount: Int, hashCount: Int) {
        guard ε >= minimumFalsePositiveRate, ε <= maximumFalsePositiveRate, ε.isFinite else {
            throw UnbalancedPSIError.invalidEncodingParameter(
                reason: "false-positive rate \(ε) is out of range; expected 2^-40 (about 9.1e-13) to 0.25")
        }
        guard n >= 0 else { throw UnbalancedPSIError.invalidEncodingParameter(reason: "item count \(n) is negative") }
        let k = min(64, max(1, Int((-log2(ε)).rounded())))
        let bits = -Double(k) * Double(n) / log(1 - pow(ε, 1 / Double(k)))
        return (max(64, Int(bits.rounded(.up))), k)
    }

    /// The standard estimate of the false-positive rate, `(1 − e^(−k·n/m))^k`.
    public static func estimatedFalsePositiveRate(bitCount m: Int, hashCount k: Int, itemCount n: Int) -> Double {
        pow(1 - exp(-Double(k) * Double(n) / Double(m)), Double(k))
    }

    /// An empty filter sized for `itemCount` items.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)`` (see ``parameters(itemCount:falsePositiveRate:)``).
    public init(itemCount: Int, falsePositiveRate: Double) throws {
        let (m, k) = try Self.parameters(itemCount: itemCount, falsePositiveRate: falsePositiveRate)
        bitCount = m
        hashCount = k
        self.itemCount = itemCount
        self.falsePositiveRate = falsePositiveRate
        words = [UInt64](repeating: 0, count: (m + 63) / 64)
    }

    /// A filter read from a file; the caller has checked the parameters.
    init(bitCount: Int, hashCount: Int, itemCount: Int, falsePositiveRate: Double, words: [UInt64]) {
        self.bitCount = bitCount
        self.hashCount = hashCount
        self.itemCount = itemCount
        self.falsePositiveRate = falsePositiveRate
        self.words = words
    }

    /// This filter's estimated false-positive rate.
    public var estimatedFalsePositiveRate: Double {
        Self.estimatedFalsePositiveRate(bitCount: bitCount, hashCount: hashCount, itemCount: itemCount)
    }

    /// Number of bits set.
    public var setBitCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The false-positive rate of this filter's actual bits, `(set bits / m)^k`: a value not
    /// inserted has its `k` independent positions all set with exactly this probability. It
    /// does not rely on the stated `n`.
    public var falsePositiveRateFromFill: Double {
        pow(Double(setBitCount) / Double(bitCount), Double(hashCount))
    }

    /// The expected number of set bits after inserting `n` distinct values, `m·(1 − (1 − 1/m)^(k·n))`.
    static func expectedSetBits(bitCount m: Int, hashCount k: Int, itemCount n: Int) -> Double {
        Double(m) * -expm1(Double(k) * Double(n) * log1p(-1 / Double(m)))
    }

    /// How far the set bits may lie from ``expectedSetBits(bitCount:hashCount:itemCount:)``:
    /// `4·√m + 1`. The number of set bits has a standard deviation of at most `√m / 2`, so an
    /// honest filter lies outside this band with probability below 10^-13 (Hoeffding's bound,
    /// which holds for these negatively associated bits), while a filter whose stated `n` is
    /// far below (or above) its items, or with every bit set, does not.
    static func fillTolerance(bitCount m: Int) -> Double { 4 * Double(m).squareRoot() + 1 }

    /// Adds a value (its first 32 bytes are used).
    public mutating func insert(_ value: UnsafeRawBufferPointer) {
        let m = UInt64(bitCount)
        words.withUnsafeMutableBufferPointer { w in
            _ = Self.forEachPosition(of: value, hashCount: hashCount, bitCount: m) { bit in
                w[Int(bit >> 6)] |= 1 << (bit & 63)
                return true
            }
        }
    }

    /// Whether the value may be in the filter (always true for an inserted value; true with
    /// probability about ε for any other).
    public func contains(_ value: UnsafeRawBufferPointer) -> Bool {
        let m = UInt64(bitCount)
        return words.withUnsafeBufferPointer { w in
            Self.forEachPosition(of: value, hashCount: hashCount, bitCount: m) { bit in
                w[Int(bit >> 6)] & (1 << (bit & 63)) != 0
            }
        }
    }

    /// Calls `body` with each of the value's `k` positions until it returns false; returns
    /// whether it never did.
    private static func forEachPosition(of value: UnsafeRawBufferPointer, hashCount: Int, bitCount m: UInt64,
                                        _ body: (UInt64) -> Bool) -> Bool {
        precondition(value.count >= valueByteCount, "a Bloom filter value is at least 32 bytes")
        return withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { block in
            for i in 0..<hashCount {
                if i % 8 == 0 {
                    var hasher = SHA512Hasher()
                    hasher.update(positionLabel)
                    hasher.update([UInt8(i / 8)])
                    hasher.update(UnsafeRawBufferPointer(rebasing: value[..<valueByteCount]))
                    hasher.finalize(into: block.baseAddress!)
                }
                let word = UInt64(littleEndian: UnsafeRawBufferPointer(block).loadUnaligned(fromByteOffset: 8 * (i % 8), as: UInt64.self))
                if !body(word.multipliedFullWidth(by: m).high) { return false }
            }
            return true
        }
    }

    // MARK: File body

    /// Number of 8-byte words of the parameter block that starts a filter's file body.
    static let parameterWords = 4

    /// The file body: m, k, n and ε (IEEE 754 binary64 bits) as big-endian 64-bit words, then
    /// the bits, 64 to a word, each word little-endian (so bit `i` is bit `i % 8` of byte `i / 8`).
    func encodedBody() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity((Self.parameterWords + words.count) * 8)
        for value in [UInt64(bitCount), UInt64(hashCount), UInt64(itemCount), falsePositiveRate.bitPattern] {
            withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
        }
        for word in words { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        return bytes
    }

    /// Decodes and checks a file body (see ``encodedBody()``).
    ///
    /// - Returns: the filter, or the reason it is refused.
    static func decode(body: [UInt8]) -> Result<BloomFilter, UnbalancedPSIError> {
        func fail(_ reason: String) -> Result<BloomFilter, UnbalancedPSIError> { .failure(.invalidSetup(path: "", reason: reason)) }
        guard body.count >= parameterWords * 8, body.count % 8 == 0 else {
            return fail("a Bloom filter body is \(body.count) bytes; expected a 32-byte parameter block and whole 8-byte words")
        }
        func word(_ i: Int) -> UInt64 { body.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) } }
        let (m, k, n, ε) = (word(0), word(1), word(2), Double(bitPattern: word(3)))
        guard m >= 64, m <= UInt64(1) << 40 else { return fail("the filter has \(m) bits; expected 64 to 2^40") }
        guard (1...64).contains(k) else { return fail("the filter uses \(k) hash functions; expected 1 to 64") }
        guard n <= UInt64(1) << 40 else { return fail("the filter declares \(n) items; expected at most 2^40") }
        guard ε >= minimumFalsePositiveRate, ε <= maximumFalsePositiveRate else {
            return fail("the filter states a false-positive rate of \(ε); expected 2^-40 to 0.25")
        }
        let wordCount = Int((m + 63) / 64)
        guard body.count == (parameterWords + wordCount) * 8 else {
            return fail("the filter body holds \(body.count / 8 - parameterWords) words of bits; expected \(wordCount) for m = \(m) bits")
        }
        let estimate = estimatedFalsePositiveRate(bitCount: Int(m), hashCount: Int(k), itemCount: Int(n))
        guard estimate <= ε * (1 + 1e-9) else {
            return fail("m = \(m) bits and k = \(k) for n = \(n) items give a false-positive rate of \(estimate), above the stated \(ε)")
        }
        let words = body.withUnsafeBytes { raw in
            (0..<wordCount).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: (parameterWords + $0) * 8, as: UInt64.self)) }
        }
        if m % 64 != 0, words[wordCount - 1] >> (m % 64) != 0 {
            return fail("bits beyond m = \(m) are set")
        }
        let filter = BloomFilter(bitCount: Int(m), hashCount: Int(k), itemCount: Int(n), falsePositiveRate: ε, words: words)
        let expected = expectedSetBits(bitCount: Int(m), hashCount: Int(k), itemCount: Int(n))
        let tolerance = fillTolerance(bitCount: Int(m))
        guard abs(Double(filter.setBitCount) - expected) <= tolerance else {
            return fail("\(filter.setBitCount) of its \(m) bits are set, where \(Int(expected.rounded())) ± \(Int(tolerance)) are expected for the stated n = \(n) items and k = \(k): the filter does not hold the items it states")
        }
        return .success(filter)
    }
}
