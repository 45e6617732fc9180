import Foundation
import Testing
@testable import SodiumPSI

/// RFC 9497 Appendix A.1 (ristretto255-SHA512), committed as `Resources/rfc9497-ristretto255-sha512.json`:
/// the base-mode (A.1.1) and verifiable-mode (A.1.2) vectors.
struct RFC9497Vectors: Decodable {
    struct Suite<V: Decodable>: Decodable {
        let mode: Int
        let Seed: String
        let KeyInfo: String
        let skSm: String
        /// Verifiable mode only.
        let pkSm: String?
        let vectors: [V]
    }
    struct Vector: Decodable {
        let Input: String
        let Blind: String
        let BlindedElement: String
        let EvaluationElement: String
        let Output: String
    }
    /// A verifiable-mode vector: its fields are single hex strings, or lists for the batched
    /// vector (one proof over two inputs).
    struct VerifiableVector: Decodable {
        let Input: HexList
        let Blind: HexList
        let BlindedElement: HexList
        let EvaluationElement: HexList
        let Proof: String
        let ProofRandomScalar: String
        let Output: HexList
    }
    /// A hex string or a list of them.
    struct HexList: Decodable {
        let values: [String]
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { values = [one] } else { values = try container.decode([String].self) }
        }
    }
    let suite: String
    let oprf: Suite<Vector>
    let voprf: Suite<VerifiableVector>

    static func load() throws -> RFC9497Vectors {
        try JSONDecoder().decode(RFC9497Vectors.self, from: Fixtures.resource("rfc9497-ristretto255-sha512.json"))
    }
}

@Suite("RFC 9497 OPRF(ristretto255, SHA-512) test vectors")
struct OPRFVectorTests {
    @Test("DeriveKeyPair reproduces skSm")
    func deriveKeyPair() throws {
        let v = try RFC9497Vectors.load()
        #expect(v.suite == "ristretto255-SHA512")
        #expect(v.oprf.mode == 0)
        let key = try OPRF.PrivateKey.derive(seed: hex(v.oprf.Seed), info: hex(v.oprf.KeyInfo))
        #expect(key.scalar.rawRepresentation.hexString == v.oprf.skSm)
    }

    @Test("Blind, BlindEvaluate, Finalize and Evaluate reproduce every vector")
    func protocolVectors() throws {
        let v = try RFC9497Vectors.load()
        #expect(v.oprf.vectors.count >= 2)
        let key = try OPRF.PrivateKey.derive(seed: hex(v.oprf.Seed), info: hex(v.oprf.KeyInfo))
        let server = OPRF.Server(privateKey: key)
        for vector in v.oprf.vectors {
            let input = hex(vector.Input)
            let blind = try Scalar(rawRepresentation: hex(vector.Blind))
            let batch = try OPRF.blind([input], blinds: [blind])
            #expect(batch.blindedElements[0].hexString == vector.BlindedElement)
            let evaluated = try server.blindEvaluate(batch.blindedElements)
            #expect(evaluated[0].hexString == vector.EvaluationElement)
            let output = try OPRF.finalize([input], batch: batch, evaluatedElements: evaluated)
            #expect(output[0].hexString == vector.Output)
            #expect(try server.evaluate(input).hexString == vector.Output)
        }
    }

    @Test("Batch forms (all vectors in one batch, several thread counts) match the single forms")
    func batchMatchesVectors() throws {
        let v = try RFC9497Vectors.load()
        let key = try OPRF.PrivateKey.derive(seed: hex(v.oprf.Seed), info: hex(v.oprf.KeyInfo))
        let server = OPRF.Server(privateKey: key)
        let inputs = v.oprf.vectors.map { hex($0.Input) }
        let blinds = try v.oprf.vectors.map { try Scalar(rawRepresentation: hex($0.Blind)) }
        for threads in [1, 2, 3] {
            let batch = try OPRF.blind(inputs, blinds: blinds, parallelism: Parallelism(threads: threads))
            #expect(batch.blindedElements.map(\.hexString) == v.oprf.vectors.map(\.BlindedElement))
            let evaluated = try server.blindEvaluate(batch.blindedElements, parallelism: Parallelism(threads: threads))
            let outputs = try OPRF.finalize(inputs, batch: batch, evaluatedElements: evaluated, parallelism: Parallelism(threads: threads))
            #expect(outputs.map(\.hexString) == v.oprf.vectors.map(\.Output))
            #expect(try server.evaluate(inputs).map(\.hexString) == v.oprf.vectors.map(\.Output))
        }
    }

    @Test("Random blinds: a large batch finalises to the server's direct evaluation (batch inversion)")
    func randomBlindsAgreeWithEvaluate() throws {
        let server = OPRF.Server(privateKey: .random())
        let inputs = (0..<300).map { Array("item-\($0)".utf8) }
        let batch = try OPRF.blind(inputs, parallelism: Parallelism(threads: 2))
        #expect(Set(batch.blindedElements).count == inputs.count)
        let evaluated = try server.blindEvaluate(batch.blindedElements)
        let outputs = try OPRF.finalize(inputs, batch: batch, evaluatedElements: evaluated)
        #expect(outputs == (try server.evaluate(inputs)))
    }

    @Test("Finalize refuses mismatched batch sizes")
    func finalizeSizeMismatch() throws {
        let batch = try OPRF.blind([[1], [2]])
        #expect(throws: PSIError.batchSizeMismatch(inputs: 2, blinds: 2, evaluatedElements: 1)) {
            try OPRF.finalize([[1], [2]], batch: batch, evaluatedElements: [batch.blindedElements[0]])
        }
    }

    @Test("DeriveKeyPair refuses a seed that is not 32 bytes")
    func deriveKeyPairSeedLength() {
        #expect(throws: PSIError.invalidLength(what: "DeriveKeyPair seed", length: 31, expected: 32)) {
            try OPRF.PrivateKey.derive(seed: [UInt8](repeating: 1, count: 31), info: [UInt8]())
        }
    }

    @Test("Inputs longer than the two-byte length prefix are refused")
    func inputTooLong() {
        let server = OPRF.Server(privateKey: .random())
        #expect(throws: PSIError.inputTooLong(what: "OPRF input", length: 65_536, maximum: 65_535)) {
            try server.evaluate([UInt8](repeating: 0, count: 65_536))
        }
    }
}

@Suite("RFC 9380 expand_message_xmd(SHA-512)")
struct ExpandMessageTests {
    static let dst = Array("QUUX-V01-CS02-with-expander-SHA512-256".utf8)

    @Test("RFC 9380 Appendix K.3 vector (empty message, 32 bytes)")
    func rfcVector() {
        let out = HashToGroup(domainSeparationTag: Self.dst).expandMessage([UInt8](), length: 0x20)
        #expect(out.hexString == "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba")
    }

    // Expected values computed once with an independent implementation (Python hashlib).
    @Test("Several blocks, and a message prefix equals prefix-concatenated input")
    func multiBlock() {
        let h = HashToGroup(domainSeparationTag: Self.dst)
        #expect(h.expandMessage(Array("abc".utf8), length: 0x80).hexString ==
            "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb1347ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b488431851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1")
        let expected200 = "1c002b80a6fff73652e6dde6626d0ba78c5a2dc7c4d8f70b0fac0485aea2cef9f6d7a88e4b7f166ff35758c6f7caae9675e8ac621b00b257491bbf96cb771754bcfe89cb6c6fd989d1afc6619c1a2b4190627e53df0ec266b300cebd05c5d1df2624df44a532a1813a49734452a1eaaa98aab7e254961e7065a01dd6f8597a63a6809fe2c98555efd13869e3260f4e34d9c98c844ae50907d2f6b8b03b3531fe3726f23e7a40511ca1cdcf0d9adb6e59fb42bad0dacbe85df1ca5232cfc3e86f0e96343db4557818"
        #expect(h.expandMessage(Array("abcdef0123456789".utf8), length: 200).hexString == expected200)
        let prefixed = HashToGroup(domainSeparationTag: Self.dst, messagePrefix: Array("abcdef".utf8))
        #expect(prefixed.expandMessage(Array("0123456789".utf8), length: 200).hexString == expected200)
    }

    @Test("A DST over 255 bytes is hashed first (H2C-OVERSIZE-DST-)")
    func oversizeDST() {
        let h = HashToGroup(domainSeparationTag: [UInt8](repeating: UInt8(ascii: "X"), count: 300))
        #expect(h.expandMessage(Array("abc".utf8), length: 64).hexString ==
            "ee1f8405725cd88114e306aa317ecbfda814bbb42610930c3075fb47e1068bd30462ad755fd2952d1df4dae353d24ac3e8283c5d3eede89dede92d1868cd90f9")
    }
}
