public import Foundation

/// RFC 9497 OPRF(ristretto255, SHA-512) in base mode (`modeOPRF`, 0x00) and verifiable mode
/// (`modeVOPRF`, 0x01).
///
/// The client blinds its inputs, the server evaluates the blinded elements with its private
/// key without learning the inputs, and the client finalises to the PRF outputs. The server
/// can also evaluate its own inputs directly (``Server/evaluate(_:)``); both paths give the
/// same 64-byte output for the same input and key, which is what unbalanced PSI builds on.
///
/// In verifiable mode (``VerifiableServer``) the server also proves, with one batched DLEQ
/// proof, that it evaluated every element with the key behind its public key, and the client
/// checks the proof before it finalises (``finalize(_:batch:evaluation:publicKey:parallelism:)``).
/// The two modes hash inputs under different context strings, so their outputs differ.
public enum OPRF {
    /// The ciphersuite identifier of RFC 9497 §4.1.
    public static let suiteIdentifier = "ristretto255-SHA512"
    /// Size of a PRF output (SHA-512).
    public static let outputByteCount = 64
    /// Longest input, key-info string or seed the RFC's two-byte length prefixes allow.
    public static let maximumInputLength = 65_535

    /// The RFC 9497 protocol variant, which is part of every context string.
    public enum Mode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        /// `modeOPRF`: no proof.
        case base = 0x00
        /// `modeVOPRF`: the server proves each evaluation against its public key.
        case verifiable = 0x01

        /// `"base"` or `"verifiable"`.
        public var description: String { self == .base ? "base" : "verifiable" }

        /// The mode's context string, tags and proof system.
        var parameters: ModeParameters { self == .base ? OPRF.baseParameters : OPRF.verifiableParameters }
    }

    /// What a mode's context string determines.
    struct ModeParameters: Sendable {
        /// `contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier`.
        let contextString: [UInt8]
        /// HashToGroup with DST `"HashToGroup-" || contextString`.
        let hashToGroup: HashToGroup
        /// `"DeriveKeyPair" || contextString`.
        let deriveKeyPairDST: [UInt8]
        /// DLEQ proofs under `contextString` (used in verifiable mode only).
        let dleq: DLEQ

        init(_ mode: Mode) {
            contextString = Array("OPRFV1-".utf8) + [mode.rawValue] + Array("-\(OPRF.suiteIdentifier)".utf8)
            hashToGroup = HashToGroup(domainSeparationTag: Array("HashToGroup-".utf8) + contextString)
            deriveKeyPairDST = Array("DeriveKeyPair".utf8) + contextString
            dleq = DLEQ(contextString: contextString)
        }
    }

    static let baseParameters = ModeParameters(.base)
    static let verifiableParameters = ModeParameters(.verifiable)
    static let finalizeLabel = Array("Finalize".utf8)

    /// An OPRF private key (skS) and its public key (pkS = skS·B).
    public struct PrivateKey: Sendable {
        /// The secret scalar skS.
        public let scalar: Scalar
        /// The public key pkS.
        public let publicKey: GroupElement

        /// Wraps an existing scalar.
        public init(scalar: Scalar) throws {
            self.scalar = scalar
            self.publicKey = try GroupElement.generatorMultiplied(by: scalar)
        }

        /// A fresh random key (RFC 9497 §3.2 GenerateKeyPair).
        public static func random() -> PrivateKey {
            // A random scalar is non-zero, so the base multiplication cannot fail.
            try! PrivateKey(scalar: .random())
        }

        /// RFC 9497 §3.2.1 DeriveKeyPair: a key derived deterministically from a seed.
        ///
        /// - Parameters:
        ///   - seed: 32 bytes of high-entropy secret seed.
        ///   - info: public key information (for example a key identifier), at most 65,535 bytes.
        ///   - mode: the mode the key is for (its context string is part of the derivation).
        /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` for a seed that is not
        ///   32 bytes, ``PSIError/inputTooLong(what:length:maximum:)`` for a long `info`, and
        ///   ``PSIError/deriveKeyPairError`` in the (negligible) case the RFC describes.
        public static func derive(seed: some DataProtocol, info: some DataProtocol, mode: Mode = .base) throws -> PrivateKey {
            guard seed.count == 32 else {
                throw PSIError.invalidLength(what: "DeriveKeyPair seed", length: seed.count, expected: 32)
            }
            guard info.count <= OPRF.maximumInputLength else {
                throw PSIError.inputTooLong(what: "key info", length: info.count, maximum: OPRF.maximumInputLength)
            }
            let expander = HashToGroup(domainSeparationTag: mode.parameters.deriveKeyPairDST)
            // seed || I2OSP(len(info), 2) || info || counter, built once in place and wiped, so
            // that no copy of the seed outlives the call (Swift arrays are not wiped).
            let inputCount = 32 + 2 + info.count + 1
            let scalar = withUnsafeTemporaryAllocation(byteCount: inputCount, alignment: 16) { input -> Scalar? in
                defer { wipe(input) }
                _ = seed.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: input[0..<32]))
                input[32] = UInt8(info.count >> 8)
                input[33] = UInt8(info.count & 0xff)
                _ = info.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: input[34..<(34 + info.count)]))
                return withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { uniform -> Scalar? in
                    defer { wipe(uniform) }
                    for counter in 0...255 {
                        input[inputCount - 1] = UInt8(counter)
                        expander.expandMessage(UnsafeRawBufferPointer(input), into: uniform)
                        if let scalar = Scalar.reducing(wide: uniform.baseAddress!) { return scalar }
                    }
                    return nil
                }
            }
            guard let scalar else { throw PSIError.deriveKeyPairError }
            return try PrivateKey(scalar: scalar)
        }
    }

    /// `Finalize`'s hash: `SHA-512(I2OSP(len(input), 2) || input || I2OSP(32, 2) || element || "Finalize")`.
    static func finalizeHash(input: UnsafeRawBufferPointer, element: GroupElement, into output: UnsafeMutableRawPointer) {
        var hasher = SHA512Hasher()
        hasher.update(i2osp2(input.count))
        hasher.update(input)
        hasher.update(i2osp2(GroupElement.byteCount))
        element.withUnsafeBytes { hasher.update($0) }
        hasher.update(finalizeLabel)
        hasher.finalize(into: output)
    }

    /// Hashes an input to the group under the mode's context, refusing the identity (RFC 9497
    /// InvalidInputError).
    static func inputElement(_ input: UnsafeRawBufferPointer, mode: Mode) throws -> GroupElement {
        guard input.count <= maximumInputLength else {
            throw PSIError.inputTooLong(what: "OPRF input", length: input.count, maximum: maximumInputLength)
        }
        let element = mode.parameters.hashToGroup.element(for: input)
        guard element != .zero else { throw PSIError.invalidInput }
        return element
    }
}

// MARK: - Client

extension OPRF {
    /// The client's blinded inputs and the secret blinds needed to finalise them.
    ///
    /// The blinds are kept in one contiguous allocation that is wiped when the batch is released.
    public struct BlindedBatch: Sendable {
        /// The elements to send to the server, in input order.
        public let blindedElements: [GroupElement]
        /// The mode whose context the inputs were hashed under.
        public let mode: Mode
        /// `count × 32` bytes of blinds, wiped on release.
        let blinds: SecretBytes

        /// The number of inputs in the batch.
        public var count: Int { blindedElements.count }

        /// The blind of input `index`.
        ///
        /// - Warning: the blind is a secret; it is exposed for tests and state files only.
        public func blind(at index: Int) -> Scalar {
            blinds.withUnsafeBytes { try! Scalar(rawRepresentation: UnsafeRawBufferPointer(rebasing: $0[(index * 32)..<(index * 32 + 32)])) }
        }
    }

    /// RFC 9497 Blind for a batch of inputs, with fresh random blinds.
    ///
    /// - Parameters:
    ///   - inputs: the client's inputs.
    ///   - mode: base or verifiable (the inputs are hashed under the mode's context string).
    ///   - parallelism: threads to use.
    /// - Throws: ``PSIError/invalidInput`` if an input hashes to the identity, and
    ///   ``PSIError/inputTooLong(what:length:maximum:)`` for an input over 65,535 bytes.
    public static func blind(_ inputs: [[UInt8]], mode: Mode = .base, parallelism: Parallelism = .allCores) throws -> BlindedBatch {
        ensureSodiumInitialized()
        let blinds = SecretBytes(count: inputs.count * 32) { buffer in
            for i in 0..<inputs.count { ScalarArithmetic.random(into: buffer.baseAddress! + i * 32) }
        }
        return try blind(inputs, blinds: blinds, mode: mode, parallelism: parallelism)
    }

    /// RFC 9497 Blind with the blinds given, for reproducing test vectors.
    ///
    /// - Warning: reusing a blind across inputs links them; use only for tests.
    public static func blind(_ inputs: [[UInt8]], blinds: [Scalar], mode: Mode = .base,
                             parallelism: Parallelism = .allCores) throws -> BlindedBatch {
        guard inputs.count == blinds.count else {
            throw PSIError.batchSizeMismatch(inputs: inputs.count, blinds: blinds.count, evaluatedElements: inputs.count)
        }
        let storage = SecretBytes(count: blinds.count * 32) { buffer in
            for (i, blind) in blinds.enumerated() {
                blind.secret.withUnsafeBytes { (buffer.baseAddress! + i * 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            }
        }
        return try blind(inputs, blinds: storage, mode: mode, parallelism: parallelism)
    }

    private static func blind(_ inputs: [[UInt8]], blinds: SecretBytes, mode: Mode, parallelism: Parallelism) throws -> BlindedBatch {
        var elements = [GroupElement](repeating: .zero, count: inputs.count)
        try elements.withUnsafeMutableBufferPointer { out in
            try blinds.withUnsafeBytes { blindBytes in
                try forEachRange(count: inputs.count, parallelism: parallelism) { range in
                    for i in range {
                        let element = try inputs[i].withUnsafeBytes { try inputElement($0, mode: mode) }
                        let multiplied = element.withUnsafeBytes { p in
                            withUnsafeMutableBytes(of: &out[i]) { q in
                                Curve.ristretto255.multiply(q.baseAddress!, scalar: blindBytes.baseAddress! + i * 32, point: p.baseAddress!)
                            }
                        }
                        guard multiplied else { throw PSIError.scalarMultiplicationFailed }
                    }
                }
            }
        }
        return BlindedBatch(blindedElements: elements, mode: mode, blinds: blinds)
    }

    /// RFC 9497 Finalize for a base-mode batch: unblinds each evaluated element and hashes it
    /// with its input.
    ///
    /// All blinds are inverted together with one inversion (Montgomery's trick), so the cost
    /// per item is one scalar multiplication of a group element plus three cheap scalar products.
    ///
    /// - Parameters:
    ///   - inputs: the inputs given to ``blind(_:mode:parallelism:)``, in the same order.
    ///   - batch: the batch returned by `blind`.
    ///   - evaluatedElements: the server's answer, in the order of `batch.blindedElements`.
    ///   - parallelism: threads to use.
    /// - Returns: one 64-byte output per input.
    /// - Throws: ``PSIError/batchSizeMismatch(inputs:blinds:evaluatedElements:)`` when the
    ///   counts differ, and ``PSIError/oprfModeMismatch(expected:found:)`` for a verifiable-mode
    ///   batch, which must be finalised with its proof
    ///   (``finalize(_:batch:evaluation:publicKey:parallelism:)``). Repeated evaluated elements
    ///   are allowed: repeated inputs give them.
    public static func finalize(_ inputs: [[UInt8]], batch: BlindedBatch, evaluatedElements: [GroupElement],
                                parallelism: Parallelism = .allCores) throws -> [[UInt8]] {
        try checkBatch(inputs, batch, evaluatedElements, mode: .base)
        return try unblindAndHash(inputs, batch: batch, evaluatedElements: evaluatedElements, parallelism: parallelism)
    }

    /// RFC 9497 VOPRF Finalize for a batch: verifies the server's DLEQ proof that every
    /// evaluated element was made with the key behind `publicKey`, then finalises as
    /// ``finalize(_:batch:evaluatedElements:parallelism:)`` does.
    ///
    /// Nothing is unblinded unless the proof verifies.
    ///
    /// - Parameters:
    ///   - inputs: the inputs given to ``blind(_:mode:parallelism:)`` (verifiable mode), in order.
    ///   - batch: the batch returned by `blind`.
    ///   - evaluation: the server's answer and proof (one proof per 65,535 elements).
    ///   - publicKey: the server's public key `pkS`, obtained beforehand from a source the
    ///     client trusts (not from the answer).
    ///   - parallelism: threads to use.
    /// - Returns: one 64-byte output per input.
    /// - Throws: ``PSIError/invalidProof(index:)`` when a proof does not verify (another key, or
    ///   an altered element or proof), ``PSIError/proofCountMismatch(count:expected:)``,
    ///   ``PSIError/batchSizeMismatch(inputs:blinds:evaluatedElements:)``,
    ///   ``PSIError/oprfModeMismatch(expected:found:)`` for a base-mode batch, and
    ///   ``PSIError/invalidElementEncoding(index:)`` or ``PSIError/identityElement(index:)`` for
    ///   an evaluated element that is not a valid element.
    public static func finalize(_ inputs: [[UInt8]], batch: BlindedBatch, evaluation: VerifiableEvaluation, publicKey: GroupElement,
                                parallelism: Parallelism = .allCores) throws -> [[UInt8]] {
        try checkBatch(inputs, batch, evaluation.evaluatedElements, mode: .verifiable)
        try verifiableParameters.dleq.verifyProofs(evaluation.proofs, base: .generator, commitment: publicKey,
                                                   inputs: batch.blindedElements, outputs: evaluation.evaluatedElements,
                                                   parallelism: parallelism)
        return try unblindAndHash(inputs, batch: batch, evaluatedElements: evaluation.evaluatedElements, parallelism: parallelism)
    }

    private static func checkBatch(_ inputs: [[UInt8]], _ batch: BlindedBatch, _ evaluatedElements: [GroupElement], mode: Mode) throws {
        guard inputs.count == batch.count, evaluatedElements.count == batch.count else {
            throw PSIError.batchSizeMismatch(inputs: inputs.count, blinds: batch.count, evaluatedElements: evaluatedElements.count)
        }
        guard batch.mode == mode else { throw PSIError.oprfModeMismatch(expected: mode.description, found: batch.mode.description) }
    }

    /// `SHA-512(… input … blind⁻¹·evaluated … "Finalize")` for every element (the blinds inverted at once).
    private static func unblindAndHash(_ inputs: [[UInt8]], batch: BlindedBatch, evaluatedElements: [GroupElement],
                                       parallelism: Parallelism) throws -> [[UInt8]] {
        let inverses = invertAll(batch.blinds, count: batch.count)
        var outputs = [UInt8](repeating: 0, count: batch.count * outputByteCount)
        try outputs.withUnsafeMutableBytes { out in
            try inverses.withUnsafeBytes { inv in
                try forEachRange(count: batch.count, parallelism: parallelism) { range in
                    for i in range {
                        var unblinded = GroupElement.zero
                        let multiplied = evaluatedElements[i].withUnsafeBytes { p in
                            unblinded.withUnsafeMutableBytes { q in
                                Curve.ristretto255.multiply(q.baseAddress!, scalar: inv.baseAddress! + i * 32, point: p.baseAddress!)
                            }
                        }
                        // The inverse is never zero: a failure is the evaluated element's.
                        guard multiplied else { throw evaluatedElements[i].multiplicationFailure(index: i) }
                        inputs[i].withUnsafeBytes { finalizeHash(input: $0, element: unblinded, into: out.baseAddress! + i * outputByteCount) }
                    }
                }
            }
        }
        return (0..<batch.count).map { Array(outputs[($0 * outputByteCount)..<(($0 + 1) * outputByteCount)]) }
    }

    /// Inverts `count` scalars stored contiguously with one field inversion (Montgomery's trick).
    static func invertAll(_ scalars: SecretBytes, count: Int) -> SecretBytes {
        SecretBytes(count: count * 32) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBytes { s in
                let base = out.baseAddress!
                let src = s.baseAddress!
                // out[i] = s[0]·…·s[i] (prefix products)
                base.copyMemory(from: src, byteCount: 32)
                for i in 1..<count {
                    ScalarArithmetic.multiply(base + i * 32, base + (i - 1) * 32, src + i * 32)
                }
                withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { tmp in
                    let running = tmp.baseAddress!          // (s[0]·…·s[i])⁻¹
                    let scratch = tmp.baseAddress! + 32
                    // Every blind is non-zero, so the product is non-zero and invertible.
                    precondition(ScalarArithmetic.invert(running, base + (count - 1) * 32))
                    for i in stride(from: count - 1, to: 0, by: -1) {
                        // s[i]⁻¹ = (s[0]·…·s[i])⁻¹ · (s[0]·…·s[i-1])
                        ScalarArithmetic.multiply(scratch, running, base + (i - 1) * 32)
                        // (s[0]·…·s[i-1])⁻¹ = (s[0]·…·s[i])⁻¹ · s[i]
                        ScalarArithmetic.multiply(running, running, src + i * 32)
                        (base + i * 32).copyMemory(from: scratch, byteCount: 32)
                    }
                    base.copyMemory(from: running, byteCount: 32)
                    wipe(tmp)
                }
            }
        }
    }
}

// MARK: - Server

extension OPRF {
    /// The base-mode server: holds the private key and evaluates.
    ///
    /// A `Server` is immutable and `Sendable`: load the key once and serve many requests
    /// concurrently.
    public struct Server: Sendable {
        /// The server's key.
        public let privateKey: PrivateKey

        /// A server with this key.
        ///
        /// - Parameter privateKey: the server's key.
        public init(privateKey: PrivateKey) { self.privateKey = privateKey }

        /// RFC 9497 BlindEvaluate for a batch of blinded elements: `skS · blindedElement` each.
        ///
        /// The elements are already validated (``GroupElement`` values always are).
        public func blindEvaluate(_ blindedElements: [GroupElement], parallelism: Parallelism = .allCores) throws -> [GroupElement] {
            try multiply(blindedElements, by: privateKey.scalar, parallelism: parallelism)
        }

        /// RFC 9497 Evaluate: the PRF output of the server's own input, without blinding.
        public func evaluate(_ input: [UInt8]) throws -> [UInt8] {
            try evaluate([input], parallelism: .serial)[0]
        }

        /// RFC 9497 Evaluate for a batch of inputs.
        public func evaluate(_ inputs: [[UInt8]], parallelism: Parallelism = .allCores) throws -> [[UInt8]] {
            try OPRF.evaluate(inputs, key: privateKey, mode: .base, parallelism: parallelism)
        }
    }

    /// What a verifiable-mode server returns for a batch: the evaluated elements, and the DLEQ
    /// proof that all of them were made with the key behind the server's public key.
    public struct VerifiableEvaluation: Sendable, Equatable {
        /// `skS · blindedElement` for each blinded element, in the batch's order.
        public let evaluatedElements: [GroupElement]
        /// RFC 9497's one proof for a batch of up to 65,535 elements; a longer batch has one
        /// proof per consecutive 65,535 elements (see ``DLEQProof``), an empty batch none.
        public let proofs: [DLEQProof]

        /// Wraps a received evaluation (for a client that moves it over its own transport).
        public init(evaluatedElements: [GroupElement], proofs: [DLEQProof]) {
            self.evaluatedElements = evaluatedElements
            self.proofs = proofs
        }
    }

    /// The verifiable-mode (VOPRF) server: evaluates and proves each evaluation against its
    /// public key.
    ///
    /// Immutable and `Sendable`, like ``Server``.
    public struct VerifiableServer: Sendable {
        /// The server's key.
        public let privateKey: PrivateKey
        /// The public key `pkS` clients verify against; publish it where clients can trust it.
        public var publicKey: GroupElement { privateKey.publicKey }
        /// The proofs of verifiable mode: RFC 9497 §2.2 under this mode's context string.
        package static var dleq: DLEQ { OPRF.verifiableParameters.dleq }

        /// A server with this key (derive it with `mode: .verifiable`, or draw it at random).
        ///
        /// - Parameter privateKey: the server's key.
        public init(privateKey: PrivateKey) { self.privateKey = privateKey }

        /// RFC 9497 VOPRF BlindEvaluate for a batch: `skS · blindedElement` each, and one
        /// batched DLEQ proof (`GenerateProof(skS, G, pkS, blindedElements, evaluatedElements)`)
        /// per 65,535 elements, with a fresh random scalar each.
        ///
        /// - Throws: ``PSIError/invalidElementEncoding(index:)`` or ``PSIError/identityElement(index:)``
        ///   for an invalid blinded element.
        public func blindEvaluate(_ blindedElements: [GroupElement], parallelism: Parallelism = .allCores) throws -> VerifiableEvaluation {
            let evaluated = try multiply(blindedElements, by: privateKey.scalar, parallelism: parallelism)
            let proofs = try OPRF.verifiableParameters.dleq.generateProofs(
                secret: privateKey.scalar, base: .generator, commitment: publicKey, inputs: blindedElements, outputs: evaluated,
                parallelism: parallelism)
            return VerifiableEvaluation(evaluatedElements: evaluated, proofs: proofs)
        }

        /// BlindEvaluate with the proof's random scalar given, to reproduce RFC 9497's test
        /// vectors (1 to 65,535 elements, one proof). Never call it with a scalar used before:
        /// two proofs with the same scalar reveal the key.
        func blindEvaluate(_ blindedElements: [GroupElement], proofRandomScalar: Scalar,
                           parallelism: Parallelism = .allCores) throws -> VerifiableEvaluation {
            let evaluated = try multiply(blindedElements, by: privateKey.scalar, parallelism: parallelism)
            let proof = try OPRF.verifiableParameters.dleq.generateProof(
                secret: privateKey.scalar, base: .generator, commitment: publicKey, inputs: blindedElements, outputs: evaluated,
                parallelism: parallelism, randomScalar: proofRandomScalar)
            return VerifiableEvaluation(evaluatedElements: evaluated, proofs: [proof])
        }

        /// RFC 9497 Evaluate in verifiable mode: the PRF output of the server's own input.
        public func evaluate(_ input: [UInt8]) throws -> [UInt8] {
            try evaluate([input], parallelism: .serial)[0]
        }

        /// RFC 9497 Evaluate in verifiable mode for a batch of inputs.
        public func evaluate(_ inputs: [[UInt8]], parallelism: Parallelism = .allCores) throws -> [[UInt8]] {
            try OPRF.evaluate(inputs, key: privateKey, mode: .verifiable, parallelism: parallelism)
        }
    }

    /// `SHA-512(I2OSP(len(x), 2) || x || I2OSP(32, 2) || skS·H(x) || "Finalize")` for each input.
    private static func evaluate(_ inputs: [[UInt8]], key: PrivateKey, mode: Mode, parallelism: Parallelism) throws -> [[UInt8]] {
        var outputs = [UInt8](repeating: 0, count: inputs.count * outputByteCount)
        try outputs.withUnsafeMutableBytes { out in
            try forEachRange(count: inputs.count, parallelism: parallelism) { range in
                for i in range {
                    try inputs[i].withUnsafeBytes { input in
                        let issued = try inputElement(input, mode: mode).multiplied(by: key.scalar)
                        finalizeHash(input: input, element: issued, into: out.baseAddress! + i * outputByteCount)
                    }
                }
            }
        }
        return (0..<inputs.count).map { Array(outputs[($0 * outputByteCount)..<(($0 + 1) * outputByteCount)]) }
    }
}

/// `scalar · element` for every element, in parallel, into one contiguous array.
///
/// libsodium decodes each element inside the multiplication and fails on an invalid encoding,
/// so this also validates every element at no extra cost: a failure is reported as the
/// identity (all-zero bytes) or an invalid encoding, with the element's position.
func multiply(_ elements: [GroupElement], by scalar: Scalar, parallelism: Parallelism) throws -> [GroupElement] {
    try scalar.secret.withUnsafeBytes { n in
        try Curve.ristretto255.multiplyAll(elements, by: .one(n.baseAddress!), parallelism: parallelism) {
            elements[$0].multiplicationFailure(index: $0)
        }
    }
}
