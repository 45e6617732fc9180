import Foundation

/// A Bloom filter over pseudorandom 64-byte values (PRF outputs), sized for a stated
/// false-positive rate.
///
/// Parameters, for `n` items and a false-positive rate ε:
/// - `k = round(log2(1/ε))` hash functions (at least 1, at most 64);
/// - `m = ceil(−k·n / ln(1 − ε^(1/k)))` bits (at least 64): the fewest bits for which the
///   standard estimate `(1 − e^(−k·n/m))^k` is at most ε with that `k`. With ε a power of two
///   this is the textbook `m = n·log2(1/ε)/ln 2` ≈ 1.44·log2(1/ε) bits an item; for other ε it
///   rounds `m` up so that rounding `k` never pushes the rate above ε.
///
/// The `k` bit positions of a value come from its first 16 bytes by double hashing:
/// `h1`, `h2` are bytes 0–7 and 8–15 read as little-endian 64-bit words, position
/// `i = 0..<k` is `⌊(h1 + i·h2 mod 2^64)·m / 2^64⌋`. The values are PRF outputs, already
/// uniformly random, so no further hashing is needed.
public struct BloomFilter: Sendable, Equatable {
    /// Smallest false-positive rate accepted (2^-40).
    public static let minimumFalsePositiveRate = 0x1p-40
    /// Largest false-positive rate accepted.
    public static let maximumFalsePositiveRate = 0.25
    /// Bytes of a value the filter uses.
    public static let valueByteCount = 16

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

    /// Adds a value (its first 16 bytes are used).
    public mutating func insert(_ value: UnsafeRawBufferPointer) {
        precondition(value.count >= Self.valueByteCount, "a Bloom filter value is at least 16 bytes")
        let (h1, h2) = Self.hashes(value)
        let m = UInt64(bitCount)
        words.withUnsafeMutableBufferPointer { w in
            for i in 0..<UInt64(hashCount) {
                let bit = (h1 &+ i &* h2).multipliedFullWidth(by: m).high
                w[Int(bit >> 6)] |= 1 << (bit & 63)
            }
        }
    }

    /// Whether the value may be in the filter (always true for an inserted value; true with
    /// probability about ε for any other).
    public func contains(_ value: UnsafeRawBufferPointer) -> Bool {
        precondition(value.count >= Self.valueByteCount, "a Bloom filter value is at least 16 bytes")
        let (h1, h2) = Self.hashes(value)
        let m = UInt64(bitCount)
        return words.withUnsafeBufferPointer { w in
            for i in 0..<UInt64(hashCount) {
                let bit = (h1 &+ i &* h2).multipliedFullWidth(by: m).high
                if w[Int(bit >> 6)] & (1 << (bit & 63)) == 0 { return false }
            }
            return true
        }
    }

    private static func hashes(_ value: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        (UInt64(littleEndian: value.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
         UInt64(littleEndian: value.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
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
        return .success(BloomFilter(bitCount: Int(m), hashCount: Int(k), itemCount: Int(n), falsePositiveRate: ε, words: words))
    }
}
