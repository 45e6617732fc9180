import Foundation

/// The PRF values unbalanced PSI compares, in one place for the hub and the member.
///
/// - OPRF input of an item: ``HashedContext`` (purpose and identifier type) `|| psiEncoding`,
///   so a setup for one purpose, or one identifier type, is useless for another.
/// - Intersection mode: the RFC 9497 VOPRF (mode 0x01) output `F(k, x) = SHA-512(I2OSP(len(x),2) || x ||
///   I2OSP(32,2) || k·H₁(x) || "Finalize")`, `H₁` the verifiable mode's HashToGroup, computed
///   by the hub with Evaluate and by the member with Blind / BlindEvaluate / Finalize, the
///   hub proving each answer.
/// - Cardinality-only mode: `T(x) = SHA-512("SodiumPSI-V1-unbalanced-cardinality" || k·H₀(x))`,
///   `H₀` the base mode's HashToGroup (no proof can be given for a shuffled answer),
///   which does not depend on `x` except through `k·H(x)`, so a member can compute it from a
///   shuffled response (see `Docs/unbalanced.md`).
///
/// Setups keep a prefix of each 64-byte value: the first `t` bytes (truncated tags) or the
/// first 32 (from which a Bloom filter derives its bit positions).
enum UnbalancedPRF {
    static let outputByteCount = OPRF.outputByteCount
    static let cardinalityLabel = Array("SodiumPSI-V1-unbalanced-cardinality".utf8)

    /// The OPRF inputs of many items in one buffer: input `i` is `bytes[offsets[i]..<offsets[i+1]]`.
    struct Inputs {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        var count: Int { offsets.count - 1 }

        init(_ items: [Identifier], purpose: PurposeLabel, identifierType: IdentifierType) {
            let prefix = UnbalancedPRF.prefix(purpose, identifierType: identifierType)
            bytes.reserveCapacity(items.count * (prefix.count + 16))
            offsets.reserveCapacity(items.count + 1)
            for item in items {
                bytes += prefix
                bytes.append(item.kind.rawValue)
                bytes += item.canonical.utf8
                offsets.append(bytes.count)
            }
        }

        func withInput<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offsets[i]..<offsets[i + 1]])) }
        }

        /// The inputs as separate arrays, for the OPRF client API.
        var arrays: [[UInt8]] { (0..<count).map { Array(bytes[offsets[$0]..<offsets[$0 + 1]]) } }
    }

    /// The bytes before every item's encoding in its OPRF input.
    static func prefix(_ purpose: PurposeLabel, identifierType: IdentifierType) -> [UInt8] {
        HashedContext(unbalancedPurpose: purpose, identifierType: identifierType).bytes
    }

    /// `SHA-512("SodiumPSI-V1-unbalanced-cardinality" || element)` into 64 bytes at `output`.
    static func cardinalityTag(_ element: GroupElement, into output: UnsafeMutableRawPointer) {
        var hasher = SHA512Hasher()
        hasher.update(cardinalityLabel)
        element.withUnsafeBytes { hasher.update($0) }
        hasher.finalize(into: output)
    }

    /// The hub's values of its own items (RFC 9497 Evaluate in intersection mode, `T` in
    /// cardinality-only mode), keeping the first `keep` bytes of each, contiguously.
    static func evaluate(_ inputs: Inputs, key: HubKey, keep: Int, parallelism: Parallelism,
                         progress: ProgressHandler?) throws -> [UInt8] {
        precondition((1...outputByteCount).contains(keep))
        var values = [UInt8](repeating: 0, count: inputs.count * keep)
        let scalar = key.privateKey.scalar
        let mode = key.answerMode
        try values.withUnsafeMutableBytes { out in
            try forEachRange(count: inputs.count, parallelism: parallelism,
                             progress: progress.map { ("evaluating the list", $0) }) { range in
                try withUnsafeTemporaryAllocation(byteCount: outputByteCount, alignment: 16) { full in
                    defer { wipe(full) }
                    for i in range {
                        try inputs.withInput(i) { input in
                            let issued = try OPRF.inputElement(input, mode: mode.oprfMode).multiplied(by: scalar)
                            switch mode {
                            case .intersection: OPRF.finalizeHash(input: input, element: issued, into: full.baseAddress!)
                            case .cardinalityOnly: cardinalityTag(issued, into: full.baseAddress!)
                            }
                        }
                        (out.baseAddress! + i * keep).copyMemory(from: full.baseAddress!, byteCount: keep)
                    }
                }
            }
        }
        return values
    }

    /// Refuses the identity, non-canonical encodings (top bit set) and repeats among elements
    /// received from the other party; `scalar multiplication` then refuses invalid encodings.
    static func checkReceived(_ elements: [GroupElement]) throws {
        var seen = [GroupElement: Int](minimumCapacity: elements.count)
        for (index, element) in elements.enumerated() {
            guard element != .zero else { throw PSIError.identityElement(index: index) }
            let topBit = element.withUnsafeBytes { $0[31] & 0x80 }
            guard topBit == 0 else { throw PSIError.invalidElementEncoding(index: index) }
            if let first = seen.updateValue(index, forKey: element) {
                throw PSIError.duplicateElement(index: index, firstIndex: first)
            }
        }
    }

    /// Elements of a message body, copied without checks (``checkReceived(_:)`` and the
    /// scalar multiplications check them).
    static func elements(fromBody body: [UInt8]) -> [GroupElement] {
        var elements = [GroupElement](repeating: .zero, count: body.count / GroupElement.byteCount)
        elements.withUnsafeMutableBytes { out in body.withUnsafeBytes { out.copyMemory(from: $0) } }
        return elements
    }
}

extension UnbalancedAnswerMode {
    /// The RFC 9497 mode whose HashToGroup the values use: verifiable for intersection answers
    /// (each answer carries a DLEQ proof), base for cardinality-only (a shuffled answer cannot).
    var oprfMode: OPRF.Mode { self == .intersection ? .verifiable : .base }
}
