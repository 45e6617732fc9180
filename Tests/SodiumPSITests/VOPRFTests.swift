import Foundation
import Testing
@testable import SodiumPSI

extension RFC9497Vectors {
    /// The verifiable-mode key of Appendix A.1.2.
    func verifiableKey() throws -> OPRF.PrivateKey {
        try OPRF.PrivateKey.derive(seed: hex(voprf.Seed), info: hex(voprf.KeyInfo), mode: .verifiable)
    }
}

@Suite("RFC 9497 VOPRF(ristretto255, SHA-512) test vectors")
struct VOPRFVectorTests {
    @Test("DeriveKeyPair in verifiable mode reproduces skSm and pkSm")
    func deriveKeyPair() throws {
        let v = try RFC9497Vectors.load()
        #expect(v.voprf.mode == 1)
        let key = try v.verifiableKey()
        #expect(key.scalar.rawRepresentation.hexString == v.voprf.skSm)
        #expect(key.publicKey.hexString == (try #require(v.voprf.pkSm)))
        // The base-mode derivation of the same seed is another key: the mode is in the DST.
        #expect(try OPRF.PrivateKey.derive(seed: hex(v.voprf.Seed), info: hex(v.voprf.KeyInfo)).scalar != key.scalar)
    }

    @Test("Blind, BlindEvaluate with its proof, Finalize and Evaluate reproduce every vector (single and batched), on 1–3 threads",
          arguments: [1, 2, 3])
    func protocolVectors(threads: Int) throws {
        let v = try RFC9497Vectors.load()
        #expect(v.voprf.vectors.count == 3)
        #expect(v.voprf.vectors.map(\.Input.values.count) == [1, 1, 2])
        let parallelism = Parallelism(threads: threads, batchSize: 1)
        let server = OPRF.VerifiableServer(privateKey: try v.verifiableKey())
        for vector in v.voprf.vectors {
            let inputs = vector.Input.values.map(hex)
            let blinds = try vector.Blind.values.map { try Scalar(rawRepresentation: hex($0)) }
            let batch = try OPRF.blind(inputs, blinds: blinds, mode: .verifiable, parallelism: parallelism)
            #expect(batch.mode == .verifiable)
            #expect(batch.blindedElements.map(\.hexString) == vector.BlindedElement.values)
            let evaluation = try server.blindEvaluate(batch.blindedElements, proofRandomScalar: try Scalar(rawRepresentation: hex(vector.ProofRandomScalar)),
                                                      parallelism: parallelism)
            #expect(evaluation.evaluatedElements.map(\.hexString) == vector.EvaluationElement.values)
            #expect(evaluation.proofs.map(\.rawRepresentation.hexString) == [vector.Proof])
            // The client checks the RFC's own proof bytes, not only the ones made here.
            let received = OPRF.VerifiableEvaluation(evaluatedElements: try vector.EvaluationElement.values.map { try GroupElement(validating: hex($0)) },
                                                     proofs: [try DLEQProof(rawRepresentation: hex(vector.Proof))])
            let outputs = try OPRF.finalize(inputs, batch: batch, evaluation: received, publicKey: try GroupElement(validating: hex(try #require(v.voprf.pkSm))),
                                            parallelism: parallelism)
            #expect(outputs.map(\.hexString) == vector.Output.values)
            #expect(try server.evaluate(inputs, parallelism: parallelism).map(\.hexString) == vector.Output.values)
        }
    }

    @Test("The proof's random scalar is fresh by default: two proofs of one batch differ, and both verify")
    func freshProofScalar() throws {
        let server = OPRF.VerifiableServer(privateKey: .random())
        let inputs = (0..<20).map { Array("item-\($0)".utf8) }
        let batch = try OPRF.blind(inputs, mode: .verifiable)
        let first = try server.blindEvaluate(batch.blindedElements)
        let second = try server.blindEvaluate(batch.blindedElements)
        #expect(first.evaluatedElements == second.evaluatedElements)
        #expect(first.proofs.count == 1 && second.proofs.count == 1)
        #expect(first.proofs != second.proofs)
        for evaluation in [first, second] {
            #expect(try OPRF.finalize(inputs, batch: batch, evaluation: evaluation, publicKey: server.publicKey) == (try server.evaluate(inputs)))
        }
    }

    @Test("Finalize refuses an evaluation under another key, an altered element and an altered proof, naming the proof")
    func forgedEvaluations() throws {
        let v = try RFC9497Vectors.load()
        let vector = v.voprf.vectors[2]
        let inputs = vector.Input.values.map(hex)
        let batch = try OPRF.blind(inputs, blinds: try vector.Blind.values.map { try Scalar(rawRepresentation: hex($0)) }, mode: .verifiable)
        let honest = OPRF.VerifiableServer(privateKey: try v.verifiableKey())
        let pkS = honest.publicKey

        // Another key: a consistent proof, but for another public key.
        let other = try OPRF.VerifiableServer(privateKey: .random()).blindEvaluate(batch.blindedElements)
        #expect(throws: PSIError.invalidProof(index: 0)) { try OPRF.finalize(inputs, batch: batch, evaluation: other, publicKey: pkS) }

        // One element replaced by another valid element (the other key's), the honest proof kept.
        let evaluation = try honest.blindEvaluate(batch.blindedElements)
        var elements = evaluation.evaluatedElements
        elements[1] = other.evaluatedElements[1]
        #expect(throws: PSIError.invalidProof(index: 0)) {
            try OPRF.finalize(inputs, batch: batch, evaluation: .init(evaluatedElements: elements, proofs: evaluation.proofs), publicKey: pkS)
        }
        // Elements swapped: each is honest, but no longer for its blinded element.
        #expect(throws: PSIError.invalidProof(index: 0)) {
            try OPRF.finalize(inputs, batch: batch, evaluation: .init(evaluatedElements: evaluation.evaluatedElements.reversed(), proofs: evaluation.proofs),
                              publicKey: pkS)
        }
        // The proof altered (c, then s), or missing.
        for byte in [0, 40] {
            var proof = evaluation.proofs[0].rawRepresentation
            proof[byte] ^= 0x01
            let altered = try DLEQProof(rawRepresentation: proof)
            #expect(throws: PSIError.invalidProof(index: 0)) {
                try OPRF.finalize(inputs, batch: batch, evaluation: .init(evaluatedElements: evaluation.evaluatedElements, proofs: [altered]), publicKey: pkS)
            }
        }
        #expect(throws: PSIError.proofCountMismatch(count: 0, expected: 1)) {
            try OPRF.finalize(inputs, batch: batch, evaluation: .init(evaluatedElements: evaluation.evaluatedElements, proofs: []), publicKey: pkS)
        }
        // The honest evaluation finalises.
        #expect(try OPRF.finalize(inputs, batch: batch, evaluation: evaluation, publicKey: pkS).map(\.hexString) == vector.Output.values)
    }

    @Test("A zero or non-canonical proof scalar: refused on decoding (non-canonical) or by verification (zero)")
    func proofScalars() throws {
        // ℓ = 2^252 + 2774…8493, so a scalar whose last byte is 0x1f is above it: as c, then as s.
        for offset in [0, 32] {
            var bytes = [UInt8](repeating: 0, count: 64)
            bytes[offset + 31] = 0x1f
            #expect(throws: PSIError.nonCanonicalScalar) { try DLEQProof(rawRepresentation: bytes) }
        }
        #expect(throws: PSIError.invalidLength(what: "DLEQ proof", length: 63, expected: 64)) {
            try DLEQProof(rawRepresentation: [UInt8](repeating: 0, count: 63))
        }
        let zero = try DLEQProof(rawRepresentation: [UInt8](repeating: 0, count: 64))
        let server = OPRF.VerifiableServer(privateKey: .random())
        let batch = try OPRF.blind([[1], [2]], mode: .verifiable)
        let evaluation = try server.blindEvaluate(batch.blindedElements)
        #expect(throws: PSIError.invalidProof(index: 0)) {
            try OPRF.finalize([[1], [2]], batch: batch, evaluation: .init(evaluatedElements: evaluation.evaluatedElements, proofs: [zero]),
                              publicKey: server.publicKey)
        }
    }

    @Test("Modes do not mix: base Finalize refuses a verifiable batch, verifiable Finalize a base batch")
    func modeMismatch() throws {
        let server = OPRF.VerifiableServer(privateKey: .random())
        let verifiable = try OPRF.blind([[1]], mode: .verifiable)
        let evaluation = try server.blindEvaluate(verifiable.blindedElements)
        #expect(throws: PSIError.oprfModeMismatch(expected: "base", found: "verifiable")) {
            try OPRF.finalize([[1]], batch: verifiable, evaluatedElements: evaluation.evaluatedElements)
        }
        let base = try OPRF.blind([[1]])
        let baseEvaluation = try server.blindEvaluate(base.blindedElements)
        #expect(throws: PSIError.oprfModeMismatch(expected: "verifiable", found: "base")) {
            try OPRF.finalize([[1]], batch: base, evaluation: baseEvaluation, publicKey: server.publicKey)
        }
        // Same key, same input: the two modes' outputs differ (different HashToGroup DSTs).
        #expect(try server.evaluate([1]) != (try OPRF.Server(privateKey: server.privateKey).evaluate([1])))
    }
}

@Suite("Batched DLEQ proofs (RFC 9497 §2.2) for any statement")
struct DLEQTests {
    static let context = Array("SodiumPSI-test-DLEQ".utf8)

    /// A statement `B = k·A`, `D[i] = k·C[i]` with a base `A` that is not the generator.
    static func statement(_ count: Int) throws -> (k: Scalar, a: GroupElement, b: GroupElement, c: [GroupElement], d: [GroupElement]) {
        let k = Scalar.random()
        let a = try GroupElement.generatorMultiplied(by: .random())
        let c = try (0..<count).map { _ in try GroupElement.generatorMultiplied(by: .random()) }
        return (k, a, try a.multiplied(by: k), c, try c.map { try $0.multiplied(by: k) })
    }

    @Test("A proof with a given base and context verifies, and identically on 1–3 threads with the same random scalar")
    func anyBase() throws {
        let (k, a, b, c, d) = try Self.statement(50)
        let dleq = DLEQ(contextString: Self.context)
        let r = Scalar.random()
        let proofs = try [1, 2, 3].map { threads in
            try dleq.generateProof(secret: k, base: a, commitment: b, inputs: c, outputs: d,
                                   parallelism: Parallelism(threads: threads, batchSize: 3), randomScalar: r)
        }
        #expect(Set(proofs).count == 1)
        for threads in [1, 2] {
            try dleq.verifyProof(proofs[0], base: a, commitment: b, inputs: c, outputs: d, parallelism: Parallelism(threads: threads, batchSize: 5))
        }
        // The statement is what is proven: another commitment, base or context fails.
        let other = try a.multiplied(by: .random())
        #expect(throws: PSIError.invalidProof(index: 0)) { try dleq.verifyProof(proofs[0], base: a, commitment: other, inputs: c, outputs: d) }
        #expect(throws: PSIError.invalidProof(index: 0)) { try dleq.verifyProof(proofs[0], base: .generator, commitment: b, inputs: c, outputs: d) }
        #expect(throws: PSIError.invalidProof(index: 0)) {
            try DLEQ(contextString: Array("SodiumPSI-other-DLEQ".utf8)).verifyProof(proofs[0], base: a, commitment: b, inputs: c, outputs: d)
        }
        // A prover that does not hold one k for all pairs cannot make a verifying proof.
        var cheating = d
        cheating[7] = try c[7].multiplied(by: .random())
        let forged = try dleq.generateProof(secret: k, base: a, commitment: b, inputs: c, outputs: cheating)
        #expect(throws: PSIError.invalidProof(index: 0)) { try dleq.verifyProof(forged, base: a, commitment: b, inputs: c, outputs: cheating) }
    }

    @Test("Long batches: one proof per segment, the failing segment named, element positions in the whole batch")
    func segments() throws {
        let (k, a, b, c, d) = try Self.statement(7)
        let dleq = DLEQ(contextString: Self.context, segmentSize: 3)
        let proofs = try dleq.generateProofs(secret: k, base: a, commitment: b, inputs: c, outputs: d, parallelism: .serial)
        #expect(proofs.count == 3 && dleq.proofCount(pairs: 7) == 3 && dleq.proofCount(pairs: 6) == 2 && dleq.proofCount(pairs: 0) == 0)
        try dleq.verifyProofs(proofs, base: a, commitment: b, inputs: c, outputs: d)
        // Each segment's proof is an RFC 9497 proof of that segment alone.
        try dleq.verifyProof(proofs[1], base: a, commitment: b, inputs: Array(c[3..<6]), outputs: Array(d[3..<6]))
        var altered = d
        altered[4] = try c[4].multiplied(by: .random())
        #expect(throws: PSIError.invalidProof(index: 1)) { try dleq.verifyProofs(proofs, base: a, commitment: b, inputs: c, outputs: altered) }
        #expect(throws: PSIError.proofCountMismatch(count: 2, expected: 3)) {
            try dleq.verifyProofs(Array(proofs.prefix(2)), base: a, commitment: b, inputs: c, outputs: d)
        }
        var invalid = d
        invalid[5].withUnsafeMutableBytes { $0[31] |= 0x80 }
        #expect(throws: PSIError.invalidElementEncoding(index: 5)) { try dleq.verifyProofs(proofs, base: a, commitment: b, inputs: c, outputs: invalid) }
        invalid = d
        invalid[6] = .zero
        #expect(throws: PSIError.identityElement(index: 6)) { try dleq.verifyProofs(proofs, base: a, commitment: b, inputs: c, outputs: invalid) }
        // An empty batch has no proofs; one proof needs 1 to 65,535 pairs.
        #expect(try dleq.generateProofs(secret: k, base: a, commitment: b, inputs: [], outputs: []).isEmpty)
        try dleq.verifyProofs([], base: a, commitment: b, inputs: [], outputs: [])
        #expect(throws: PSIError.proofBatchSize(count: 0, maximum: 65_535)) {
            try dleq.generateProof(secret: k, base: a, commitment: b, inputs: [], outputs: [])
        }
        #expect(throws: PSIError.proofBatchMismatch(inputs: 7, outputs: 6)) {
            try dleq.verifyProofs(proofs, base: a, commitment: b, inputs: c, outputs: Array(d.dropLast()))
        }
    }
}
