import Foundation
import Testing
@testable import SodiumPSI

/// A cheating hub against a member (issue 13 finding 5): intersection-mode answers are RFC 9497
/// VOPRF evaluations with a batched DLEQ proof, verified before any result, and a request names
/// the one setup it may be finished against. Every forged file has its digest recomputed, so
/// only the proof (or the setup binding) can catch it.
@Suite("Verifiable hub answers and the setup a request is bound to")
struct VerifiableHubTests {
    static let hubList = (0..<60).map { "agent-\($0)" }
    static let memberList = ["agent-3", "nobody", "agent-59", "someone", "agent-40"]

    /// The file's bytes with its body replaced, its digest recomputed and signed again by its
    /// sender, as a sender forging its own file would.
    static func resealed(_ url: URL, body: (inout [UInt8]) throws -> Void) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        var content = Array(bytes[MessageHeader.fixedByteCount..<(bytes.count - MessageHeader.trailerByteCount)])
        try body(&content)
        let forged = Array(bytes[0..<MessageHeader.fixedByteCount]) + content + [UInt8](repeating: 0, count: MessageHeader.trailerByteCount)
        try Data(resigned(forged)).write(to: url)
    }

    /// An honest query up to the response, with the member's blinded elements.
    static func honestQuery(_ files: HubAndMember) throws -> UnbalancedPSIMember {
        try files.setup(Self.hubList)
        let member = try files.request(Self.memberList)
        try files.respond()
        return member
    }

    @Test("Wire layout: pkS, the setup digest and the proof ride in the signed header's extension block; bodies hold list data only")
    func layout() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let setup = try files.setup(Self.hubList)
        let setupBytes = [UInt8](try Data(contentsOf: files.url("setup.spsi")))
        #expect(setup.publicKey == files.hub.key.privateKey.publicKey)
        #expect(setup.digest == Array(setupBytes.dropLast(64).suffix(32)))
        // Extension block of 35 bytes: record 1 (32 bytes), pkS; then the 60 tags of 12 bytes.
        #expect(Array(setupBytes[18..<20]) == [0, 35] && Array(setupBytes[156..<159]) == [1, 0, 32])
        #expect(Array(setupBytes[159..<191]) == files.hub.key.privateKey.publicKey.rawRepresentation)
        #expect(Array(setupBytes[120..<124]) == [0, 0, 0, 0])
        #expect(try MessageFileReader.inspect(url: files.url("setup.spsi")).header.count == 60)
        #expect(setupBytes.count == 156 + 35 + 60 * 12 + 96)
        #expect(try UnbalancedSetup.read(from: files.url("setup.spsi")).digest == setup.digest)

        let member = try files.request(Self.memberList)
        let requestBytes = [UInt8](try Data(contentsOf: files.url("request.spsi")))
        #expect(Array(requestBytes[18..<20]) == [0, 35] && Array(requestBytes[156..<159]) == [2, 0, 32])
        #expect(Array(requestBytes[159..<191]) == setup.digest)
        #expect(member.context.setupDigest == setup.digest)
        #expect(try MessageFileReader.inspect(url: files.url("request.spsi")).header.count == 5)
        #expect(requestBytes.count == 156 + 35 + 5 * 32 + 96)
        let read = try UnbalancedRequest.read(from: files.url("request.spsi"), purpose: Unbalanced.purpose, key: files.hub.key, maximumCount: 5)
        #expect(read.context == member.context && read.blindedElements == member.request.blindedElements)

        try files.respond()
        let response = try UnbalancedResponse.read(from: files.url("response.spsi"), request: member.context, count: 5)
        #expect(response.proofs.count == 1)
        let responseBytes = [UInt8](try Data(contentsOf: files.url("response.spsi")))
        #expect(Array(responseBytes[18..<20]) == [0, 67] && Array(responseBytes[156..<159]) == [3, 0, 64])
        #expect(Array(responseBytes[159..<223]) == response.proofs[0].rawRepresentation)
        #expect(try MessageFileReader.inspect(url: files.url("response.spsi")).header.count == 5)
        #expect(responseBytes.count == 156 + 67 + 5 * 32 + 96)
        // The proof is RFC 9497's, under the VOPRF context: it verifies with the DLEQ API directly.
        try OPRF.verifiableParameters.dleq.verifyProof(response.proofs[0], base: .generator, commitment: setup.publicKey,
                                                        inputs: member.request.blindedElements, outputs: response.evaluatedElements)
        #expect(try files.finish().matches.map(\.original) == ["agent-3", "agent-59", "agent-40"])
    }

    @Test("A response evaluated under another key (the setup's key id kept, a valid proof for the other key) is refused")
    func otherKey() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let member = try Self.honestQuery(files)
        // The cheating hub evaluates with k' and proves that honestly — against k'·G, not pkS.
        let other = OPRF.VerifiableServer(privateKey: .random())
        let evaluation = try other.blindEvaluate(member.request.blindedElements)
        try Self.resealed(files.url("response.spsi")) { body in
            body = [3, 0, 64] + evaluation.proofs[0].rawRepresentation + evaluation.evaluatedElements.flatMap(\.rawRepresentation)
        }
        #expect(throws: UnbalancedPSIError.invalidResponseProof(path: files.path("response.spsi"), proof: 0,
                                                                reason: UnbalancedPSIMember.unverifiedProofReason)) { try files.finish() }
        // The same response under base mode would have finalised silently, finding nothing.
    }

    @Test("A response with one element altered, or its proof altered, is refused with the digest recomputed")
    func alteredResponse() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let member = try Self.honestQuery(files)
        let honest = [UInt8](try Data(contentsOf: files.url("response.spsi")))
        let refused = UnbalancedPSIError.invalidResponseProof(path: files.path("response.spsi"), proof: 0,
                                                             reason: UnbalancedPSIMember.unverifiedProofReason)
        // Element 2 replaced by a valid element: k·(another blinded element), so only the proof tells.
        let elsewhere = try member.request.blindedElements[0].multiplied(by: files.hub.key.privateKey.scalar).multiplied(by: .random())
        try Self.resealed(files.url("response.spsi")) { body in
            body.replaceSubrange((67 + 2 * 32)..<(67 + 3 * 32), with: elsewhere.rawRepresentation)
        }
        #expect(throws: refused) { try files.finish() }
        // Two honest elements swapped.
        try Data(honest).write(to: files.url("response.spsi"))
        try Self.resealed(files.url("response.spsi")) { body in
            let first = Array(body[67..<99])
            body.replaceSubrange(67..<99, with: body[99..<131])
            body.replaceSubrange(99..<131, with: first)
        }
        #expect(throws: refused) { try files.finish() }
        // s altered by one bit (the block: record type and length, c, s).
        try Data(honest).write(to: files.url("response.spsi"))
        try Self.resealed(files.url("response.spsi")) { body in body[40] ^= 0x01 }
        #expect(throws: refused) { try files.finish() }
        // c made non-canonical: refused on decoding.
        try Data(honest).write(to: files.url("response.spsi"))
        try Self.resealed(files.url("response.spsi")) { body in body[34] = 0xff }
        #expect(throws: UnbalancedPSIError.invalidResponseProof(path: files.path("response.spsi"), proof: 0,
                                                                reason: "is not a proof encoding (a scalar is not below the group order)")) { try files.finish() }
        // An element made invalid: refused with its position, before any proof arithmetic.
        try Data(honest).write(to: files.url("response.spsi"))
        try Self.resealed(files.url("response.spsi")) { body in body.replaceSubrange(99..<131, with: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: UnbalancedPSIError.invalidElement(path: files.path("response.spsi"), index: 1,
                                                          reason: PSIError.identityElement(index: 1).localizedDescription)) { try files.finish() }
        // The honest response finishes.
        try Data(honest).write(to: files.url("response.spsi"))
        #expect(try files.finish().result.count == 3)
    }

    @Test("In memory: a response without its proof, or under another key, is refused; a service passes the proofs along")
    func inMemory() throws {
        let hub = Unbalanced.hub(.intersection)
        let setup = try hub.makeSetup(items: Unbalanced.items(Self.hubList), encoding: .bloomFilter(falsePositiveRate: 0x1p-20))
        let member = try UnbalancedPSIMember(items: Unbalanced.items(Self.memberList), purpose: Unbalanced.purpose, setup: setup)
        let response = try hub.respond(to: member.request)
        let stripped = UnbalancedResponse(context: response.context, evaluatedElements: response.evaluatedElements, proofs: [])
        #expect(throws: UnbalancedPSIError.invalidResponseProof(path: "response", proof: 0,
                                                                reason: "is missing or extra: the response carries 0 proofs; expected 1")) {
            try member.finish(response: stripped, setup: setup)
        }
        let other = try OPRF.VerifiableServer(privateKey: .random()).blindEvaluate(member.request.blindedElements)
        let relabelled = UnbalancedResponse(context: response.context, evaluatedElements: other.evaluatedElements, proofs: other.proofs)
        #expect(throws: UnbalancedPSIError.invalidResponseProof(path: "response", proof: 0, reason: UnbalancedPSIMember.unverifiedProofReason)) {
            try member.finish(response: relabelled, setup: setup)
        }
        let passedAlong = UnbalancedResponse(context: response.context, evaluatedElements: response.evaluatedElements, proofs: response.proofs)
        #expect(try member.finish(response: passedAlong, setup: setup).count == 3)
    }

    @Test("Cardinality-only responses are shuffled and carry no proof")
    func cardinalityHasNoProof() throws {
        let files = try HubAndMember(mode: .cardinalityOnly)
        defer { files.cleanUp() }
        let member = try Self.honestQuery(files)
        let response = try UnbalancedResponse.read(from: files.url("response.spsi"), request: member.context, count: 5)
        #expect(response.proofs.isEmpty)
        #expect(try MessageFileReader.inspect(url: files.url("response.spsi")).header.count == 5)
        #expect(try files.finish().result == .cardinality(count: 3))
    }

    @Test("A request is bound to its setup: finishing against another setup under the same key is refused")
    func boundToSetup() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let first = try files.setup(Self.hubList)
        // The same hub, same key, same purpose: a second setup (another list version).
        let second = try files.setup(Self.hubList + ["late"], to: "setup-2.spsi")
        #expect(first.keyID == second.keyID && first.digest != second.digest)
        try files.request(Self.memberList)
        try files.respond()
        #expect(throws: UnbalancedPSIError.setupMismatch(path: files.path("setup-2.spsi"), setupDigest: second.digest.hexString,
                                                         requestSetupDigest: first.digest.hexString)) { try files.finish(setup: "setup-2.spsi") }
        // Nor against a copy of the setup with one tag altered and its digest recomputed.
        try FileManager.default.copyItem(at: files.url("setup.spsi"), to: files.url("setup-altered.spsi"))
        try Self.resealed(files.url("setup-altered.spsi")) { body in body[40] ^= 0x01 }
        let altered = try UnbalancedSetup.read(from: files.url("setup-altered.spsi"))
        #expect(throws: UnbalancedPSIError.setupMismatch(path: files.path("setup-altered.spsi"), setupDigest: altered.digest.hexString,
                                                         requestSetupDigest: first.digest.hexString)) { try files.finish(setup: "setup-altered.spsi") }
        #expect(try files.finish().result.count == 3)
    }

    @Test("A setup whose public key does not match its key id, or is not an element, is refused")
    func setupPublicKey() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let setup = try files.setup(Self.hubList, encoding: .bloomFilter(falsePositiveRate: 0x1p-20))
        let other = OPRF.PrivateKey.random().publicKey
        try Self.resealed(files.url("setup.spsi")) { body in body.replaceSubrange(3..<35, with: other.rawRepresentation) }
        #expect(throws: UnbalancedPSIError.invalidSetup(path: files.path("setup.spsi"),
                                                        reason: "its hub public key has key id \(HubKeyID(publicKey: other)), not the header's \(setup.keyID)")) {
            try UnbalancedSetup.read(from: files.url("setup.spsi"))
        }
        try Self.resealed(files.url("setup.spsi")) { body in body.replaceSubrange(3..<35, with: [UInt8](repeating: 0xff, count: 32)) }
        #expect(throws: UnbalancedPSIError.invalidSetup(path: files.path("setup.spsi"), reason: "its hub public key is not a valid ristretto255 element")) {
            try UnbalancedSetup.read(from: files.url("setup.spsi"))
        }
        // A setup without its key record, a request without its setup digest or with a short one,
        // a response without its proofs or with one proof too few (each signed by its sender).
        func rewritten(_ name: String, by signer: PartyIdentity, _ edit: (inout MessageExtensions) throws -> Void) throws {
            let reader = try MessageFileReader.inspect(url: files.url(name))
            var header = reader.header
            try edit(&header.extensions)
            let bytes = [UInt8](try Data(contentsOf: files.url(name)))
            let body = Array(bytes[reader.header.byteCount..<(bytes.count - MessageHeader.trailerByteCount)])
            let writer = try MessageFileWriter(url: files.url(name), header: header, signer: signer)
            try body.withUnsafeBytes { try writer.append(elements: $0) }
            try writer.commit()
        }
        try files.setup(Self.hubList)
        try rewritten("setup.spsi", by: TestParties.hub) { $0.removeValue(for: 1) }
        #expect(throws: MessageFileError.badExtensionRecord(path: files.path("setup.spsi"), type: 1,
                                                              reason: "is missing; expected the hub's public key (32 bytes)")) {
            try UnbalancedSetup.read(from: files.url("setup.spsi"))
        }
        try files.setup(Self.hubList)
        let member = try files.request(Self.memberList)
        try rewritten("request.spsi", by: TestParties.member) { $0.removeValue(for: 2) }
        #expect(throws: MessageFileError.badExtensionRecord(path: files.path("request.spsi"), type: 2,
                                                              reason: "is missing; expected the setup digest (32 bytes)")) { try files.respond() }
        try rewritten("request.spsi", by: TestParties.member) { try $0.set(Array(member.context.setupDigest.dropLast()), for: .setupDigest) }
        #expect(throws: MessageFileError.badExtensionRecord(path: files.path("request.spsi"), type: 2,
                                                              reason: "holds 31 bytes; expected the setup digest (32 bytes)")) { try files.respond() }
        try FileManager.default.removeItem(at: files.url("member.state"))
        try files.request(Self.memberList)
        try files.respond()
        try rewritten("response.spsi", by: TestParties.hub) { $0.removeValue(for: 3) }
        #expect(throws: MessageFileError.badExtensionRecord(path: files.path("response.spsi"), type: 3,
                                                              reason: "is missing; expected the response's DLEQ proofs (64 bytes)")) { try files.finish() }
    }
}
