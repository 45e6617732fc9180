
/// The hash under which a re-blinded set travels when its receiver only compares it.
///
/// Doubly blinded points `a·b·H(x)` are never sent: a party that received them could copy
/// them into the message it sends back and make the peer "match" items it does not hold.
/// Each re-blinded set travels instead as `SHA-512(DST || kind || point)` truncated to
/// ``length`` bytes, under a different `kind` byte for the initiator's set (step 2) and the
/// responder's set (step 3). The initiator never learns the points behind step 2's values of
/// its items outside the intersection, so it cannot produce an accepted step-3 value for them:
/// a cheating initiator can at most move true matches between positions, or hide them.
///
/// In memory a value is a ``BlindedElement`` whose first ``length`` bytes are the hash and the
/// rest zero, so the engine's partitions compare them as they compare points.
struct ComparisonHash: Sendable {
    /// `"SodiumPSI-V2-mutual-compare"`.
    static let domainSeparationTag = Array("SodiumPSI-V2-mutual-compare".utf8)
    /// Safety margin in bits: a guessed value is accepted, and two honest values collide, with
    /// probability at most 2^-40 over the whole exchange.
    static let securityBits = 40

    /// The message the values travel in: ``MutualPSIMessage/Kind/initiatorSetReblinded`` or
    /// ``MutualPSIMessage/Kind/responderSetReblinded``.
    let kind: MutualPSIMessage.Kind
    /// Bytes kept of each SHA-512 output.
    let length: Int

    /// - Parameters:
    ///   - kind: the message the values travel in.
    ///   - initiatorCount: the initiator's set size.
    ///   - responderCount: the responder's set size.
    init(_ kind: MutualPSIMessage.Kind, initiatorCount: Int, responderCount: Int) {
        precondition(kind == .initiatorSetReblinded || kind == .responderSetReblinded)
        self.kind = kind
        self.length = Self.length(initiatorCount: initiatorCount, responderCount: responderCount)
    }

    /// `ceil((2·bits(max(|A|, |B|)) + 40) / 8)` bytes, at most 32, where `bits(n)` is the bit
    /// length of n: at least `log2(|A|·|B|) + 40` bits, so a guess is accepted with probability
    /// at most 2^-40, and `2·log2(max) + 40` bits, so no two of the at most max(|A|,|B|)
    /// honest values of one set collide but with probability 2^-40 (a collision would be
    /// refused as a repeat). 10 bytes for a million items a side, 11 for ten million.
    static func length(initiatorCount: Int, responderCount: Int) -> Int {
        let largest = max(initiatorCount, responderCount, 1)
        let bits = Int.bitWidth - largest.leadingZeroBitCount
        return min(BlindedElement.byteCount, (2 * bits + securityBits + 7) / 8)
    }

    /// The hash of each point, zero-padded to 32 bytes, in parallel.
    func values(of points: [BlindedElement], parallelism: Parallelism) throws -> [BlindedElement] {
        var result = [BlindedElement](repeating: .zero, count: points.count)
        let length = self.length
        try result.withUnsafeMutableBufferPointer { out in
            try Self.hashPoints(points, tag: Self.domainSeparationTag, kind: kind.rawValue, parallelism: parallelism) { i, digest in
                Swift.withUnsafeMutableBytes(of: &out[i]) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: digest[0..<length])) }
            }
        }
        return result
    }

    /// `SHA-512(len(tag) || tag || kind || point)` of each point, in parallel on `parallelism`
    /// threads: `store(i, digest)` once for each index, from the worker threads (so it may
    /// write only to index i of shared storage). The mutual comparison values and the
    /// incremental exchange's both come from here.
    static func hashPoints(_ points: [BlindedElement], tag: [UInt8], kind: UInt8, parallelism: Parallelism,
                           store: (Int, UnsafeRawBufferPointer) -> Void) throws {
        var head = SHA512Hasher()
        head.update([UInt8(tag.count)] + tag + [kind])
        let prefix = head
        try forEachRange(count: points.count, parallelism: parallelism) { range in
            var digest = [UInt8](repeating: 0, count: 64)
            for i in range {
                var hasher = prefix
                points[i].withUnsafeBytes { hasher.update($0) }
                digest.withUnsafeMutableBytes { hasher.finalize(into: $0.baseAddress!) }
                digest.withUnsafeBytes { store(i, $0) }
            }
        }
    }

    /// The values as they travel: ``length`` bytes each.
    func packed(_ values: [BlindedElement]) -> [UInt8] {
        Self.packed(values, length: length)
    }

    static func packed(_ values: [BlindedElement], length: Int) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * length)
        for value in values {
            value.withUnsafeBytes { bytes.append(contentsOf: $0[0..<length]) }
        }
        return bytes
    }

    /// Received values of `length` bytes each, zero-padded to 32 bytes.
    static func unpacked(_ raw: UnsafeRawBufferPointer, length: Int) -> [BlindedElement] {
        (0..<(raw.count / length)).map { i in
            var element = BlindedElement.zero
            Swift.withUnsafeMutableBytes(of: &element) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[i * length..<(i + 1) * length]))
            }
            return element
        }
    }
}
