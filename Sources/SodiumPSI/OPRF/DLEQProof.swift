public import Foundation

/// A batched discrete-logarithm-equality proof of RFC 9497 §2.2: the scalars `c || s`, 64 bytes,
/// each little-endian and below the group order ℓ.
///
/// It shows that whoever made it knows one scalar `k` with `B = k·A` and `D[i] = k·C[i]` for
/// every pair of a batch, and reveals nothing about `k` (see ``DLEQ``, which makes and checks it).
public struct DLEQProof: Sendable, Hashable, CustomStringConvertible {
    /// Size of an encoded proof.
    public static let byteCount = 2 * Scalar.byteCount

    /// `SerializeScalar(c) || SerializeScalar(s)`.
    public let rawRepresentation: [UInt8]

    /// Decodes a received proof.
    ///
    /// - Parameter bytes: 64 bytes.
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` for another length, and
    ///   ``PSIError/nonCanonicalScalar`` when `c` or `s` is not below ℓ (RFC 9497 DeserializeScalar).
    public init(rawRepresentation bytes: some DataProtocol) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "DLEQ proof", length: bytes.count, expected: Self.byteCount)
        }
        let raw = Array(bytes)
        let canonical = raw.withUnsafeBytes {
            isCanonicalScalar(UnsafeRawBufferPointer(rebasing: $0[0..<32])) && isCanonicalScalar(UnsafeRawBufferPointer(rebasing: $0[32..<64]))
        }
        guard canonical else { throw PSIError.nonCanonicalScalar }
        self.rawRepresentation = raw
    }

    private init(unchecked raw: [UInt8]) { self.rawRepresentation = raw }

    /// `c || s` computed by ``DLEQ``: canonical by construction.
    init(c: UnsafeRawPointer, s: UnsafeRawPointer) {
        var raw = [UInt8](repeating: 0, count: Self.byteCount)
        raw.withUnsafeMutableBytes { out in
            out.baseAddress!.copyMemory(from: c, byteCount: 32)
            (out.baseAddress! + 32).copyMemory(from: s, byteCount: 32)
        }
        self.init(unchecked: raw)
    }

    /// The proof in hex (a proof is public).
    public var description: String { "DLEQProof(\(rawRepresentation.hexString))" }
}

/// Batched DLEQ proofs over ristretto255 with SHA-512 under one context string: RFC 9497 §2.2
/// `GenerateProof` (with `ComputeCompositesFast`) and `VerifyProof` (with `ComputeComposites`),
/// byte for byte.
///
/// A statement is a base `A`, a commitment `B = k·A`, and pairs `(C[i], D[i] = k·C[i])`. The
/// prover, who knows `k`, folds the pairs into one composite pair `M = Σ d_i·C[i]`,
/// `Z = Σ d_i·D[i] = k·M` with coefficients `d_i = HashToScalar(seed, i, C[i], D[i])` it cannot
/// choose, and proves `log_A(B) = log_M(Z)` with a Schnorr-style proof `(c, s)`.
///
/// - RFC 9497 VOPRF: `A` the generator, `B` the server's public key, `C` the blinded elements,
///   `D` the evaluated elements, context string `"OPRFV1-" || 0x01 || "-ristretto255-SHA512"`
///   (``OPRF/VerifiableServer``).
/// - Other protocols (a mutual-PSI party proving that it re-blinded a set with the scalar
///   behind its commitment `a·G`) pass their own context string, so that a proof made for one
///   protocol or session never verifies in another.
///
/// The context string sets the two domain-separation tags: the seed is
/// `SHA-512(I2OSP(32, 2) || B || I2OSP(len(seedDST), 2) || seedDST)` with
/// `seedDST = "Seed-" || contextString`, and every `HashToScalar` uses DST
/// `"HashToScalar-" || contextString` (RFC 9380 `expand_message_xmd`, 64 bytes, reduced mod ℓ).
///
/// Batch size: RFC 9497 numbers the pairs with a two-byte index, so one proof covers at most
/// 65,535 pairs. ``generateProofs(secret:base:commitment:inputs:outputs:parallelism:)`` and
/// ``verifyProofs(_:base:commitment:inputs:outputs:parallelism:)`` take any batch: they split it
/// into consecutive segments of 65,535 pairs (the last one shorter) with one RFC 9497 proof
/// each over that segment's pairs (indices from 0 again). A batch of `n` pairs has
/// ``proofCount(pairs:)`` = ⌈n / 65,535⌉ proofs; an empty batch has none.
///
/// Cost for `n` pairs: the prover `n + 3` scalar multiplications, `n` additions and `n + 1`
/// HashToScalar; the verifier `2n + 4` multiplications and `2n + 2` additions (libsodium has no
/// multi-scalar multiplication). The composite sums are split across threads, each summing
/// its own pieces, and the partial sums are added at the end.
///
/// `package` access: the library's protocols and `psi-bench` use it; it is not public API.
///
/// - Warning: the elements must be canonical (``GroupElement`` values the library made or
///   validated). The prover's random scalar must never be reused: two proofs with one `r`
///   reveal `k`.
package struct DLEQ: Sendable {
    /// The most pairs one proof covers (RFC 9497's `I2OSP(i, 2)`).
    package static let maximumBatchSize = 65_535

    /// The context string given at creation.
    package let contextString: [UInt8]
    /// Pairs per proof in ``generateProofs(secret:base:commitment:inputs:outputs:parallelism:)``:
    /// 65,535, or fewer in tests of the segmenting.
    let segmentSize: Int
    /// `"Seed-" || contextString`.
    private let seedDST: [UInt8]
    /// `"HashToScalar-" || contextString`.
    private let hashToScalarDST: [UInt8]
    /// `HashToScalar` with DST `"HashToScalar-" || contextString`.
    private let hashToScalar: HashToGroup

    private static let compositeLabel = Array("Composite".utf8)
    private static let challengeLabel = Array("Challenge".utf8)

    /// Proofs for one context string.
    ///
    /// - Parameter contextString: the protocol's context (RFC 9497: `"OPRFV1-" || I2OSP(mode, 1) ||
    ///   "-" || identifier`); at most 242 bytes, so both derived tags fit RFC 9380's 255.
    ///   - segmentSize: pairs per proof for batches of any size; always the default outside tests.
    package init(contextString: [UInt8], segmentSize: Int = maximumBatchSize) {
        precondition(contextString.count <= 242, "DLEQ context string too long for its domain-separation tags")
        precondition((1...Self.maximumBatchSize).contains(segmentSize))
        self.contextString = contextString
        self.segmentSize = segmentSize
        self.seedDST = Array("Seed-".utf8) + contextString
        self.hashToScalarDST = Array("HashToScalar-".utf8) + contextString
        self.hashToScalar = HashToGroup(domainSeparationTag: hashToScalarDST)
    }

    /// The number of proofs of a batch of `pairs` pairs: ⌈pairs / 65,535⌉.
    package func proofCount(pairs: Int) -> Int { (pairs + segmentSize - 1) / segmentSize }

    // MARK: One proof (RFC 9497 exactly)

    /// RFC 9497 `GenerateProof(k, A, B, C, D)` for 1 to 65,535 pairs, with a fresh random
    /// scalar from libsodium's CSPRNG.
    ///
    /// - Parameters:
    ///   - k: the secret scalar.
    ///   - base: `A`.
    ///   - commitment: `B = k·A`.
    ///   - inputs: `C`.
    ///   - outputs: `D`, with `D[i] = k·C[i]`.
    ///   - parallelism: threads for the composite.
    /// - Throws: ``PSIError/proofBatchMismatch(inputs:outputs:)``,
    ///   ``PSIError/proofBatchSize(count:maximum:)``, and ``PSIError/invalidElementEncoding(index:)``
    ///   or ``PSIError/identityElement(index:)`` for an invalid element at that position.
    package func generateProof(secret k: Scalar, base: GroupElement, commitment: GroupElement, inputs: [GroupElement],
                               outputs: [GroupElement], parallelism: Parallelism = .allCores) throws -> DLEQProof {
        try generateProof(secret: k, base: base, commitment: commitment, inputs: inputs, outputs: outputs, parallelism: parallelism,
                          randomScalar: .random())
    }

    /// `GenerateProof` with the proof's random scalar `r` given: only to reproduce RFC 9497's
    /// test vectors (hence internal). Two proofs with the same `r` reveal `k`.
    func generateProof(secret k: Scalar, base: GroupElement, commitment: GroupElement, inputs: [GroupElement],
                       outputs: [GroupElement], parallelism: Parallelism = .allCores, randomScalar: Scalar) throws -> DLEQProof {
        try Self.checkBatch(inputs: inputs.count, outputs: outputs.count)
        return try inputs.withUnsafeBufferPointer { c in
            try outputs.withUnsafeBufferPointer { d in
                try proof(k, base, commitment, c, d, parallelism, randomScalar)
            }
        }
    }

    /// RFC 9497 `VerifyProof(A, B, C, D, proof)` for 1 to 65,535 pairs.
    ///
    /// - Throws: ``PSIError/invalidProof(index:)`` (index 0) when the proof does not verify,
    ///   ``PSIError/proofBatchMismatch(inputs:outputs:)``, ``PSIError/proofBatchSize(count:maximum:)``,
    ///   and ``PSIError/invalidElementEncoding(index:)`` or ``PSIError/identityElement(index:)``
    ///   for an invalid element at that position.
    package func verifyProof(_ proof: DLEQProof, base: GroupElement, commitment: GroupElement, inputs: [GroupElement],
                             outputs: [GroupElement], parallelism: Parallelism = .allCores) throws {
        try Self.checkBatch(inputs: inputs.count, outputs: outputs.count)
        try inputs.withUnsafeBufferPointer { c in
            try outputs.withUnsafeBufferPointer { d in
                try verify(proof, index: 0, base, commitment, c, d, parallelism)
            }
        }
    }

    // MARK: Any batch size (one proof per 65,535 pairs)

    /// Proofs for a batch of any size: one RFC 9497 proof per consecutive segment of 65,535
    /// pairs, each with a fresh random scalar.
    ///
    /// - Returns: ``proofCount(pairs:)`` proofs (none for an empty batch).
    /// - Throws: ``PSIError/proofBatchMismatch(inputs:outputs:)`` and the element errors of
    ///   ``generateProof(secret:base:commitment:inputs:outputs:parallelism:)``,
    ///   with positions in the whole batch.
    package func generateProofs(secret k: Scalar, base: GroupElement, commitment: GroupElement, inputs: [GroupElement],
                                outputs: [GroupElement], parallelism: Parallelism = .allCores) throws -> [DLEQProof] {
        guard inputs.count == outputs.count else { throw PSIError.proofBatchMismatch(inputs: inputs.count, outputs: outputs.count) }
        return try inputs.withUnsafeBufferPointer { c in
            try outputs.withUnsafeBufferPointer { d in
                try segments(inputs.count).map { range in
                    try Self.offsettingElementErrors(by: range.lowerBound) {
                        try proof(k, base, commitment, UnsafeBufferPointer(rebasing: c[range]), UnsafeBufferPointer(rebasing: d[range]),
                                  parallelism, .random())
                    }
                }
            }
        }
    }

    /// Verifies the proofs of ``generateProofs(secret:base:commitment:inputs:outputs:parallelism:)``.
    ///
    /// - Throws: ``PSIError/proofCountMismatch(count:expected:)`` for another number of proofs
    ///   than ``proofCount(pairs:)``, ``PSIError/invalidProof(index:)`` naming the first proof
    ///   that fails, ``PSIError/proofBatchMismatch(inputs:outputs:)``, and the element errors
    ///   with positions in the whole batch.
    package func verifyProofs(_ proofs: [DLEQProof], base: GroupElement, commitment: GroupElement, inputs: [GroupElement],
                              outputs: [GroupElement], parallelism: Parallelism = .allCores) throws {
        guard inputs.count == outputs.count else { throw PSIError.proofBatchMismatch(inputs: inputs.count, outputs: outputs.count) }
        let ranges = segments(inputs.count)
        guard proofs.count == ranges.count else { throw PSIError.proofCountMismatch(count: proofs.count, expected: ranges.count) }
        try inputs.withUnsafeBufferPointer { c in
            try outputs.withUnsafeBufferPointer { d in
                for (index, range) in ranges.enumerated() {
                    try Self.offsettingElementErrors(by: range.lowerBound) {
                        try verify(proofs[index], index: index, base, commitment, UnsafeBufferPointer(rebasing: c[range]),
                                   UnsafeBufferPointer(rebasing: d[range]), parallelism)
                    }
                }
            }
        }
    }

    // MARK: The RFC's steps

    private static func checkBatch(inputs: Int, outputs: Int) throws {
        guard inputs == outputs else { throw PSIError.proofBatchMismatch(inputs: inputs, outputs: outputs) }
        guard (1...maximumBatchSize).contains(inputs) else { throw PSIError.proofBatchSize(count: inputs, maximum: maximumBatchSize) }
    }

    private func segments(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: segmentSize).map { $0..<min(count, $0 + segmentSize) }
    }

    /// Element errors of a segment, renumbered to positions in the whole batch.
    private static func offsettingElementErrors<T>(by offset: Int, _ body: () throws -> T) throws -> T {
        do { return try body() } catch PSIError.invalidElementEncoding(let index?) {
            throw PSIError.invalidElementEncoding(index: index + offset)
        } catch PSIError.identityElement(let index?) {
            throw PSIError.identityElement(index: index + offset)
        }
    }

    /// `GenerateProof`: `(M, Z) = ComputeCompositesFast`, `t2 = r·A`, `t3 = r·M`,
    /// `c = HashToScalar(challenge transcript)`, `s = r − c·k`.
    private func proof(_ k: Scalar, _ a: GroupElement, _ b: GroupElement, _ c: UnsafeBufferPointer<GroupElement>,
                       _ d: UnsafeBufferPointer<GroupElement>, _ parallelism: Parallelism, _ r: Scalar) throws -> DLEQProof {
        let (m, z) = try composites(commitment: b, inputs: c, outputs: d, secret: k, parallelism: parallelism)
        let (t2, t3) = try r.secret.withUnsafeBytes { r -> (GroupElement, GroupElement) in
            guard let t2 = Self.multiply(a, by: r.baseAddress!), let t3 = m.multiplied(byScalarBytes: r.baseAddress!) else {
                throw PSIError.scalarMultiplicationFailed
            }
            return (t2, t3)
        }
        return withUnsafeTemporaryAllocation(byteCount: 96, alignment: 16) { scratch in
            let challenge = scratch.baseAddress!, s = challenge + 32, ck = challenge + 64
            self.challenge(b, m, z, t2, t3, into: challenge)
            k.secret.withUnsafeBytes { ScalarArithmetic.multiply(ck, challenge, $0.baseAddress!) }
            r.secret.withUnsafeBytes { ScalarArithmetic.subtract(s, $0.baseAddress!, ck) }
            wipe(UnsafeMutableRawBufferPointer(start: ck, count: 32))
            return DLEQProof(c: challenge, s: s)
        }
    }

    /// `VerifyProof`: `(M, Z) = ComputeComposites`, `t2 = s·A + c·B`, `t3 = s·M + c·Z`, and
    /// `c` must equal `HashToScalar(challenge transcript)`.
    private func verify(_ proof: DLEQProof, index: Int, _ a: GroupElement, _ b: GroupElement, _ c: UnsafeBufferPointer<GroupElement>,
                        _ d: UnsafeBufferPointer<GroupElement>, _ parallelism: Parallelism) throws {
        let (m, z) = try composites(commitment: b, inputs: c, outputs: d, secret: nil, parallelism: parallelism)
        let verified = proof.rawRepresentation.withUnsafeBytes { raw in
            let c = raw.baseAddress!, s = raw.baseAddress! + 32
            // A zero c or s makes libsodium refuse a product: such a proof does not verify.
            guard let t2 = Self.multiply(a, by: s).flatMap({ sa in b.multiplied(byScalarBytes: c).flatMap { sa.adding($0) } }),
                  let t3 = m.multiplied(byScalarBytes: s).flatMap({ sm in z.multiplied(byScalarBytes: c).flatMap { sm.adding($0) } })
            else { return false }
            return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { expected in
                challenge(b, m, z, t2, t3, into: expected.baseAddress!)
                return constantTimeEqual(UnsafeRawBufferPointer(expected), UnsafeRawBufferPointer(start: c, count: 32))
            }
        }
        guard verified else { throw PSIError.invalidProof(index: index) }
    }

    /// `A·scalar`, with libsodium's faster fixed-base multiplication when `A` is the generator.
    private static func multiply(_ a: GroupElement, by scalar: UnsafeRawPointer) -> GroupElement? {
        a == .generator ? GroupElement.generatorMultiplied(byScalarBytes: scalar) : a.multiplied(byScalarBytes: scalar)
    }

    /// `HashToScalar(I2OSP(32, 2) || B || I2OSP(32, 2) || M || I2OSP(32, 2) || Z ||
    /// I2OSP(32, 2) || t2 || I2OSP(32, 2) || t3 || "Challenge")`.
    private func challenge(_ b: GroupElement, _ m: GroupElement, _ z: GroupElement, _ t2: GroupElement, _ t3: GroupElement,
                           into output: UnsafeMutableRawPointer) {
        let part = 2 + GroupElement.byteCount
        withUnsafeTemporaryAllocation(byteCount: 5 * part + Self.challengeLabel.count, alignment: 16) { transcript in
            for (n, element) in [b, m, z, t2, t3].enumerated() {
                transcript[n * part] = 0
                transcript[n * part + 1] = UInt8(GroupElement.byteCount)
                element.withUnsafeBytes { (transcript.baseAddress! + n * part + 2).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            }
            Self.challengeLabel.withUnsafeBytes { (transcript.baseAddress! + 5 * part).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            hashToScalar.scalar(for: UnsafeRawBufferPointer(transcript), into: output)
        }
    }

    /// `ComputeCompositesFast` (prover: `Z = k·M`) when `k` is given, else `ComputeComposites`
    /// (verifier: `Z = Σ d_i·D[i]`).
    ///
    /// `d_i = HashToScalar(I2OSP(64, 2) || seed || I2OSP(i, 2) || I2OSP(32, 2) || C[i] ||
    /// I2OSP(32, 2) || D[i] || "Composite")`; the constant prefix is absorbed into the hash
    /// state once.
    private func composites(commitment b: GroupElement, inputs c: UnsafeBufferPointer<GroupElement>,
                            outputs d: UnsafeBufferPointer<GroupElement>, secret k: Scalar?,
                            parallelism: Parallelism) throws -> (GroupElement, GroupElement) {
        precondition(c.count == d.count && (1...Self.maximumBatchSize).contains(c.count))
        let seed = sha512(i2osp2(GroupElement.byteCount) + b.rawRepresentation + i2osp2(seedDST.count) + seedDST)
        let coefficients = HashToGroup(domainSeparationTag: hashToScalarDST, messagePrefix: i2osp2(seed.count) + seed)
        let partialSums = PartialSums()
        try forEachRange(count: c.count, parallelism: parallelism, minimumPerThread: 16) { range in
            // I2OSP(i, 2) || I2OSP(32, 2) || C[i] || I2OSP(32, 2) || D[i] || "Composite", then d_i
            let length = 2 + 2 * (2 + GroupElement.byteCount) + Self.compositeLabel.count
            try withUnsafeTemporaryAllocation(byteCount: length + Scalar.byteCount, alignment: 16) { scratch in
                let transcript = scratch.baseAddress!, coefficient = scratch.baseAddress! + length
                scratch[2] = 0
                scratch[3] = UInt8(GroupElement.byteCount)
                scratch[36] = 0
                scratch[37] = UInt8(GroupElement.byteCount)
                Self.compositeLabel.withUnsafeBytes { (transcript + 70).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                var m: GroupElement?, z: GroupElement?
                for i in range {
                    scratch[0] = UInt8(i >> 8)
                    scratch[1] = UInt8(i & 0xff)
                    try Self.copyCanonical(c[i], index: i, to: transcript + 4)
                    try Self.copyCanonical(d[i], index: i, to: transcript + 38)
                    coefficients.scalar(for: UnsafeRawBufferPointer(start: transcript, count: length), into: coefficient)
                    m = try Self.accumulate(m, c[i], index: i, coefficient)
                    if k == nil { z = try Self.accumulate(z, d[i], index: i, coefficient) }
                }
                partialSums.add(m!, z)
            }
        }
        let (m, z) = try partialSums.totals()
        if let k {
            // ComputeCompositesFast: one multiplication instead of n.
            return (m, try m.multiplied(by: k))
        }
        return (m, z!)
    }

    /// Copies an element into the transcript, refusing a set top bit (libsodium would ignore it
    /// and decode an alias of another encoding than the one hashed).
    private static func copyCanonical(_ element: GroupElement, index: Int, to destination: UnsafeMutableRawPointer) throws {
        try element.withUnsafeBytes { bytes in
            guard bytes[31] & 0x80 == 0 else { throw PSIError.invalidElementEncoding(index: index) }
            destination.copyMemory(from: bytes.baseAddress!, byteCount: 32)
        }
    }

    /// `sum + coefficient·element` (just the product for the first term).
    private static func accumulate(_ sum: GroupElement?, _ element: GroupElement, index: Int, _ coefficient: UnsafeRawPointer) throws -> GroupElement {
        guard let term = element.multiplied(byScalarBytes: coefficient) else { throw element.multiplicationFailure(index: index) }
        guard let sum else { return term }
        guard let total = sum.adding(term) else { throw PSIError.scalarMultiplicationFailed }
        return total
    }
}

/// The composite sums of the worker threads, added together once they are all done.
///
/// `@unchecked Sendable` is safe: the arrays are accessed only under the lock.
private final class PartialSums: @unchecked Sendable {
    private let lock = NSLock()
    private var m: [GroupElement] = []
    private var z: [GroupElement] = []

    func add(_ m: GroupElement, _ z: GroupElement?) {
        lock.withLock {
            self.m.append(m)
            if let z { self.z.append(z) }
        }
    }

    /// `(Σ M parts, Σ Z parts)`; Z is nil when no Z parts were added (the prover's case).
    func totals() throws -> (GroupElement, GroupElement?) {
        try lock.withLock {
            func sum(_ parts: [GroupElement]) throws -> GroupElement {
                try parts.dropFirst().reduce(parts[0]) { total, part in
                    guard let next = total.adding(part) else { throw PSIError.scalarMultiplicationFailed }
                    return next
                }
            }
            return (try sum(m), z.isEmpty ? nil : try sum(z))
        }
    }
}
