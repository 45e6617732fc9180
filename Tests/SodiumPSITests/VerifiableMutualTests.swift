import Foundation
import Testing
@testable import SodiumPSI

/// Issue 13, finding 1's verifiable option: the initiator commits to `A = a·G` in step 1 and
/// proves step 3 (points, in the order of the responder's set) with a batched DLEQ proof, which
/// the responder verifies before computing any match; a cheating initiator can no longer move
/// matches between positions.
@Suite("Verifiable mutual PSI")
struct VerifiableMutualTests {
    static let purpose = try! PurposeLabel("verifiable tests")
    static var config: MutualPSIConfiguration {
        MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: TestParties.a, peer: TestParties.b.publicKey,
                               identifierType: .plain, verifiable: true)
    }
    static let step3Name = MutualPSIMessage.Kind.responderSetReblinded.nameInMemory

    /// An honest run up to step 3: the responder (after step 2) and step 3 as A sent it.
    static func upToStepThree(_ a: [Identifier], _ b: [Identifier]) throws
        -> (responder: MutualPSIResponder, reply: MutualPSIResponder.Reply, step3: MutualPSIMessage, result: MutualPSIResult) {
        let initiator = try MutualPSIInitiator(items: a, configuration: config)
        var responder = try MutualPSIResponder(items: b, configuration: config.counterpart)
        let reply = try responder.respond(to: initiator.blindedSet)
        let done = try initiator.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        return (responder, reply, try #require(done.responderSetReblinded), done.result)
    }

    /// Step 3 with other points (and, when given, another extension block), signed by A as a
    /// cheating initiator would.
    static func forged(_ step3: MutualPSIMessage, points: [BlindedElement], extensions: MessageExtensions? = nil) throws -> MutualPSIMessage {
        var header = step3.header
        if let extensions { header.extensions = extensions }
        let writer = MessageFileWriter(header: header, signer: TestParties.a, name: step3Name)
        try ComparisonHash.packed(points, length: header.elementSize).withUnsafeBytes { try writer.append(elements: $0) }
        try writer.seal()
        return MutualPSIMessage(written: writer)
    }

    @Test("Results equal the Set intersection, in memory and over files", arguments: [(0, 5, 0), (1, 1, 1), (60, 45, 20), (700, 500, 300)])
    func intersections(sizes: (Int, Int, Int)) throws {
        let (sizeA, sizeB, shared) = sizes
        let a = plainItems((0..<sizeA).map { "v\($0)" })
        let b = plainItems((sizeA - shared..<(sizeA - shared + sizeB)).map { "v\($0)" })
        let expected = Set(a).intersection(b)
        let run = try Self.upToStepThree(a, b)
        #expect(sharedItems(run.result) == expected)
        #expect(sharedItems(try run.responder.finish(responderSetReblinded: run.step3)) == expected)
        // Step 1 carries a·G, step 3 the points (32 bytes each) and ⌈|B| / 65,535⌉ proofs.
        #expect(run.step3.header.elementSize == 32 && run.step3.header.mode == 0x11)
        #expect(run.step3.header.extensions[.reblindingProofs]?.count == (sizeB == 0 ? nil : 64))

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = { (name: String) in dir.appendingPathComponent(name) }
        let records = { (items: [Identifier]) in items.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) } }
        try MutualPSIFileExchange.initiate(records: records(a), configuration: Self.config, stateURL: file("a.state"), messageURL: file("1.spsi"))
        let step1 = try MessageFileReader.inspect(url: file("1.spsi")).header
        #expect(step1.mode == 0x11 && step1.extensions[.initiatorCommitment]?.count == 32)
        try MutualPSIFileExchange.respond(records: records(b), configuration: Self.config.counterpart, requestURL: file("1.spsi"),
                                          stateURL: file("b.state"), responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"))
        let outcomeA = try MutualPSIFileExchange.finishInitiator(identity: TestParties.a, stateURL: file("a.state"), responderSetURL: file("2a.spsi"),
                                                                 reblindedURL: file("2b.spsi"), replyURL: file("3.spsi"))
        let outcomeB = try MutualPSIFileExchange.finishResponder(identity: TestParties.b, stateURL: file("b.state"), replyURL: file("3.spsi"))
        #expect(sharedItems(outcomeA.result) == expected && sharedItems(outcomeB.result) == expected)
    }

    @Test("A permuted step 3, one replaced point, and a proof under another commitment are each refused before any match")
    func cheatingInitiator() throws {
        let a = plainItems((0..<40).map { "c\($0)" }), b = plainItems((20..<60).map { "c\($0)" })
        let run = try Self.upToStepThree(a, b)
        let points = run.step3.elements
        let refused = MessageFileError.invalidProof(path: Self.step3Name, proof: 0)
        // Two points swapped: a true match moved to another position.
        var permuted = points
        permuted.swapAt(0, 1)
        #expect(throws: refused) { try run.responder.finish(responderSetReblinded: try Self.forged(run.step3, points: permuted)) }
        // One point replaced by another valid element.
        var replaced = points
        let elsewhere = try GroupElement(validating: points[2].rawRepresentation).multiplied(by: .random())
        replaced[2] = try BlindedElement(rawRepresentation: elsewhere.rawRepresentation)
        #expect(throws: refused) { try run.responder.finish(responderSetReblinded: try Self.forged(run.step3, points: replaced)) }
        // Another scalar a′, honestly proved — but against a′·G, not the A of step 1.
        let other = Scalar.random()
        let inputs = try run.reply.responderBlindedSet.elements.map { try GroupElement(validating: $0.rawRepresentation) }
        let outputs = try inputs.map { try $0.multiplied(by: other) }
        let proofs = try MutualSteps.stepThreeProof.generateProofs(secret: other, base: .generator,
                                                                   commitment: try GroupElement.generatorMultiplied(by: other),
                                                                   inputs: inputs, outputs: outputs)
        var block = MessageExtensions()
        try block.set(proofs.flatMap(\.rawRepresentation), for: .reblindingProofs)
        let underOther = try Self.forged(run.step3, points: try outputs.map { try BlindedElement(rawRepresentation: $0.rawRepresentation) },
                                         extensions: block)
        #expect(throws: refused) { try run.responder.finish(responderSetReblinded: underOther) }
        // Without its proofs record.
        #expect(throws: MessageFileError.badExtensionRecord(path: Self.step3Name, type: 5, reason: "is missing; expected the step-3 DLEQ proofs (64 bytes)")) {
            try run.responder.finish(responderSetReblinded: try Self.forged(run.step3, points: points, extensions: MessageExtensions()))
        }
        // The honest step 3 still finishes, with the true intersection.
        #expect(sharedItems(try run.responder.finish(responderSetReblinded: run.step3)) == Set(a).intersection(b))
    }

    /// What the verifiable mode rules out: without it, the same permutation goes unnoticed and the
    /// responder reports an item the initiator does not hold (the count stays right).
    @Test("Without verifiable mode a permuted step 3 moves a match undetected")
    func plainModeMovesMatches() throws {
        var plain = Self.config
        plain.verifiable = false
        let a = plainItems(["m0", "m1"]), b = plainItems(["m0", "n1", "n2", "n3"])
        let initiator = try MutualPSIInitiator(items: a, configuration: plain)
        var responder = try MutualPSIResponder(items: b, configuration: plain.counterpart)
        let reply = try responder.respond(to: initiator.blindedSet)
        let step3 = try #require(try initiator.finish(responderBlindedSet: reply.responderBlindedSet,
                                                      initiatorSetReblinded: reply.initiatorSetReblinded).responderSetReblinded)
        let values = step3.elements
        var moved = values
        moved.swapAt(0, 1); moved.swapAt(1, 2); moved.swapAt(2, 3)   // every value one position on
        let result = try responder.finish(responderSetReblinded: try Self.forged(step3, points: moved))
        let m0 = try Identifier.plain("m0")
        #expect(result.count == 1 && sharedItems(result) != [m0])
    }

    @Test("Both sides must agree: a mismatch is refused naming both modes; only ristretto255 and both-learn can be verifiable")
    func agreement() throws {
        let initiator = try MutualPSIInitiator(items: plainItems(["x"]), configuration: Self.config)
        var plain = Self.config.counterpart
        plain.verifiable = false
        var responder = try MutualPSIResponder(items: plainItems(["x"]), configuration: plain)
        #expect(throws: MessageFileError.modeMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory,
                                                      found: "both-learn, verifiable", expected: "both-learn")) {
            try responder.respond(to: initiator.blindedSet)
        }
        var x25519 = Self.config
        x25519.suite = .x25519ELL2SHA512
        #expect(throws: PSIError.suiteMismatch(expected: "ristretto255-SHA512 (verifiable mode proves over ristretto255)", found: "x25519-ELL2-SHA512")) {
            try MutualPSIInitiator(items: plainItems(["x"]), configuration: x25519)
        }
        var counts = Self.config
        counts.outcome = .cardinalityOnly
        #expect(throws: PSIError.outcomeMismatch(expected: "both-learn (verifiable mode proves step 3 in the order the responder sent)",
                                                 found: "cardinality-only")) {
            try MutualPSIInitiator(items: plainItems(["x"]), configuration: counts)
        }
    }
}
