import Foundation

/// A 3-wise binary fuse filter (Graf and Lemire, "Binary Fuse Filters: Fast and Smaller Than
/// Xor Filters", 2022) over pseudorandom values (PRF outputs), with `f`-bit fingerprints: about
/// `1.125·f / 8` bytes an item for large lists (2.81 at `f` = 20, the 2^-20 rate a Bloom
/// filter reaches with 3.61), against `1.44·f / 8` for a Bloom filter.
///
/// Not yet a setup encoding (no mode code, no file layout): this is the construction and the
/// lookup, checked by the same statistical false-positive test as ``BloomFilter``, so that a
/// later encoding can adopt it. Its construction holds about 50 bytes an item in memory; a
/// bounded-memory setup would build one filter per bucket of values (split by their first
/// bytes, as the sorted tags are) and state each bucket's offset.
///
/// For a value `v` (its first ``valueByteCount`` bytes), `(h, g)` are the two little-endian
/// 64-bit halves of `crypto_shorthash_siphashx24(v)` under the filter's 16-byte seed; the three
/// slots are `h0 = ⌊h·(segmentCount·L) / 2^64⌋`, `h1 = (h0 + L) ^ ((h >> 18) & (L − 1))`,
/// `h2 = (h0 + 2L) ^ (h & (L − 1))` for segment length `L`, and the fingerprint is the low `f`
/// bits of `g`. A value is in the filter when the xor of its three slots equals its
/// fingerprint, so an item outside the list matches with probability `2^-f`.
struct BinaryFuseFilter: Sendable, Equatable {
    /// Bytes of a value the filter uses.
    static let valueByteCount = 32
    /// Largest segment length (the reference implementation's).
    static let maximumSegmentLength = 1 << 18
    /// Constructions tried, each with a fresh seed, before giving up (one fails with
    /// probability well below 1 % for lists of more than a few items).
    static let attempts = 64

    /// Number of items, n.
    let itemCount: Int
    /// Bits of a fingerprint, f (1 to 32).
    let fingerprintBits: Int
    /// Segment length L (a power of two).
    let segmentLength: Int
    /// Segments a value's first slot can fall in.
    let segmentCount: Int
    /// Slots: `(segmentCount + 2)·L`.
    var slotCount: Int { (segmentCount + 2) * segmentLength }
    /// The SipHash key the slots and fingerprints derive from.
    let seed: [UInt8]
    /// The slots' fingerprints, packed: slot `i` is the `f` bits from bit `i·f` (little-endian),
    /// followed by 8 zero bytes so that every slot reads as one unaligned 64-bit load.
    private(set) var packed: [UInt8]

    /// Bits of a fingerprint for a false-positive rate ε: `⌈log2(1/ε)⌉`, 1 to 32.
    static func fingerprintBits(falsePositiveRate ε: Double) throws -> Int {
        guard ε.isFinite, ε >= 0x1p-32, ε <= 0.5 else {
            throw UnbalancedPSIError.invalidEncodingParameter(reason: "false-positive rate \(ε) is out of range; expected 2^-32 to 0.5")
        }
        return Int((-log2(ε)).rounded(.up))
    }

    /// `(L, segmentCount)` for `n` items: the reference implementation's sizing (segment
    /// length `2^⌊ln n / ln 3.33 + 2.25⌋` up to 2^18, capacity `n·max(1.125, 0.875 + 0.25·ln 10^6 / ln n)`).
    static func layout(itemCount n: Int) -> (segmentLength: Int, segmentCount: Int) {
        guard n > 1 else { return (4, 1) }
        let exponent = Int((log(Double(n)) / log(3.33) + 2.25).rounded(.down))
        let length = min(maximumSegmentLength, 1 << max(2, exponent))
        let factor = max(1.125, 0.875 + 0.25 * log(1_000_000.0) / log(Double(n)))
        let capacity = Int((Double(n) * factor).rounded())
        return (length, max(1, (capacity + length - 1) / length - 2))
    }

    /// Bytes of the packed fingerprints for `n` items of `f` bits (without the 8 bytes of padding).
    static func byteCount(itemCount n: Int, fingerprintBits f: Int) -> Int {
        let (length, count) = layout(itemCount: n)
        return ((count + 2) * length * f + 7) / 8
    }

    /// The slots and fingerprint of `value` (at least ``valueByteCount`` bytes).
    private static func hashes(_ value: UnsafeRawPointer, seed: UnsafePointer<UInt8>) -> (h: UInt64, g: UInt64) {
        let (h, g) = SipHash.hash128(UnsafeRawBufferPointer(start: value, count: valueByteCount), key: seed)
        return (h: h, g: g)
    }

    private func slots(_ h: UInt64) -> (Int, Int, Int) {
        Self.slots(h, segmentLength: segmentLength, segmentCount: segmentCount)
    }

    private static func slots(_ h: UInt64, segmentLength: Int, segmentCount: Int) -> (Int, Int, Int) {
        let h0 = Int(h.multipliedFullWidth(by: UInt64(segmentCount * segmentLength)).high)
        let mask = UInt64(segmentLength - 1)
        return (h0, (h0 + segmentLength) ^ Int((h >> 18) & mask), (h0 + 2 * segmentLength) ^ Int(h & mask))
    }

    /// Builds the filter of `count` distinct values, value `i` at byte `i·stride` of `values`.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)`` for a rate out of
    ///   range, or when no construction succeeds (values repeat).
    init(values: UnsafeRawBufferPointer, count n: Int, stride: Int, falsePositiveRate ε: Double) throws {
        precondition(stride >= Self.valueByteCount && values.count >= n * stride)
        let f = try Self.fingerprintBits(falsePositiveRate: ε)
        let (length, segments) = Self.layout(itemCount: n)
        let slotCount = (segments + 2) * length
        // Per slot: how many values touch it (times 4) xor the index (0, 1, 2) of the slot
        // among each value's three, and the xor of those values' indices.
        var counts = [UInt32](repeating: 0, count: slotCount)
        var indices = [Int](repeating: 0, count: slotCount)
        var hashes = [(h: UInt64, g: UInt64)](repeating: (0, 0), count: n)
        var order = [(item: Int, which: UInt8)]()
        order.reserveCapacity(n)
        var queue = [Int]()
        queue.reserveCapacity(slotCount)
        var seed = [UInt8](repeating: 0, count: SipHash.keyByteCount)
        for _ in 0..<Self.attempts {
            seed.withUnsafeMutableBytes { fillRandom($0) }
            seed.withUnsafeBufferPointer { key in
                for i in 0..<n { hashes[i] = Self.hashes(values.baseAddress! + i * stride, seed: key.baseAddress!) }
            }
            for i in 0..<slotCount { counts[i] = 0; indices[i] = 0 }
            for i in 0..<n {
                let (a, b, c) = Self.slots(hashes[i].h, segmentLength: length, segmentCount: segments)
                counts[a] &+= 4; indices[a] ^= i
                counts[b] &+= 4; counts[b] ^= 1; indices[b] ^= i
                counts[c] &+= 4; counts[c] ^= 2; indices[c] ^= i
            }
            // Peel: a slot touched by one value fixes that value last; removing it may leave
            // another slot with one value.
            order.removeAll(keepingCapacity: true)
            queue.removeAll(keepingCapacity: true)
            for i in 0..<slotCount where counts[i] >> 2 == 1 { queue.append(i) }
            while let slot = queue.popLast() {
                guard counts[slot] >> 2 == 1 else { continue }
                let item = indices[slot], which = UInt8(counts[slot] & 3)
                order.append((item, which))
                let (a, b, c) = Self.slots(hashes[item].h, segmentLength: length, segmentCount: segments)
                for (position, other) in [a, b, c].enumerated() where position != Int(which) {
                    counts[other] &-= 4
                    counts[other] ^= UInt32(position)
                    indices[other] ^= item
                    if counts[other] >> 2 == 1 { queue.append(other) }
                }
            }
            guard order.count == n else { continue }
            itemCount = n
            fingerprintBits = f
            segmentLength = length
            segmentCount = segments
            self.seed = seed
            packed = [UInt8](repeating: 0, count: (slotCount * f + 7) / 8 + 8)
            // Assign in reverse peeling order: each value's own slot is the last of its three set.
            let mask = f == 64 ? UInt64.max : (UInt64(1) << UInt64(f)) - 1
            for (item, which) in order.reversed() {
                let (a, b, c) = slots(hashes[item].h)
                let three = [a, b, c]
                let own = three[Int(which)]
                var value = hashes[item].g & mask
                for (position, slot) in three.enumerated() where position != Int(which) { value ^= fingerprint(at: slot) }
                setFingerprint(value, at: own)
            }
            return
        }
        throw UnbalancedPSIError.invalidEncodingParameter(
            reason: "no binary fuse filter of \(n) values was found in \(Self.attempts) attempts; are values repeated?")
    }

    private func fingerprint(at slot: Int) -> UInt64 {
        let bit = slot * fingerprintBits
        let word = packed.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self)) }
        return (word >> UInt64(bit & 7)) & ((UInt64(1) << UInt64(fingerprintBits)) - 1)
    }

    private mutating func setFingerprint(_ value: UInt64, at slot: Int) {
        let bit = slot * fingerprintBits
        let mask = ((UInt64(1) << UInt64(fingerprintBits)) - 1) << UInt64(bit & 7)
        packed.withUnsafeMutableBytes { raw in
            let old = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self))
            raw.storeBytes(of: ((old & ~mask) | (value << UInt64(bit & 7))).littleEndian, toByteOffset: bit >> 3, as: UInt64.self)
        }
    }

    /// Whether `value` (its first ``valueByteCount`` bytes) is in the filter (or a false positive).
    func contains(_ value: UnsafeRawBufferPointer) -> Bool {
        precondition(value.count >= Self.valueByteCount)
        let (h, g) = seed.withUnsafeBufferPointer { Self.hashes(value.baseAddress!, seed: $0.baseAddress!) }
        let (a, b, c) = slots(h)
        let mask = (UInt64(1) << UInt64(fingerprintBits)) - 1
        return (g & mask) == fingerprint(at: a) ^ fingerprint(at: b) ^ fingerprint(at: c)
    }

    /// Bytes of the fingerprints (without the padding).
    var byteCount: Int { packed.count - 8 }

    /// The false-positive rate: `2^-f`.
    var falsePositiveRate: Double { pow(2, -Double(fingerprintBits)) }
}
