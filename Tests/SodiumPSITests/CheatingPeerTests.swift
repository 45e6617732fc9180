import Foundation
import Testing
@testable import SodiumPSI

/// What a cheating initiator can and cannot do to the responder's result (Docs/threat-model.md,
/// "What a cheating peer can do"). Each test plays the attack through the public API.
@Suite("A cheating initiator against the responder's result")
struct CheatingPeerTests {
    let purpose = try! PurposeLabel("cheating peer tests")
    // A holds a0…a39 and s0…s9; B holds b0…b29 and s0…s9: ten shared items.
    let itemsA = plainItems((0..<40).map { "a\($0)" } + (0..<10).map { "s\($0)" })
    let itemsB = plainItems((0..<30).map { "b\($0)" } + (0..<10).map { "s\($0)" })
    var shared: Set<Identifier> { Set(itemsA).intersection(itemsB) }

    /// Runs steps 1 and 2 honestly and returns A's honest completion with B ready for step 3.
    func honestUntilStep3(_ outcome: MutualPSIOutcome) throws
        -> (a: MutualPSIInitiator, b: MutualPSIResponder, reply: MutualPSIResponder.Reply, step3: MutualPSIMessage) {
        let config = MutualPSIConfiguration(purpose: purpose, outcome: outcome)
        let a = try MutualPSIInitiator(items: itemsA, configuration: config)
        var b = try MutualPSIResponder(items: itemsB, configuration: config.counterpart)
        let reply = try b.respond(to: a.blindedSet)
        let done = try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        return (a, b, reply, try #require(done.responderSetReblinded))
    }

    func forged(_ step3: MutualPSIMessage, _ elements: [BlindedElement]) -> MutualPSIMessage {
        MutualPSIMessage(kind: .responderSetReblinded, context: step3.context, elements: elements, valueLength: step3.valueLength)
    }

    /// The attack of issue 13 finding 1: step 2's re-blinded values of A's own items, copied into
    /// step 3 at the positions of B's items outside the intersection. With points on the wire
    /// they were exactly what B compared against, so B "matched" every one of them.
    @Test("Step 2's values copied into step 3 make no false match", arguments: [MutualPSIOutcome.bothLearn, .cardinalityOnly])
    func copiedValuesDoNotMatch(outcome: MutualPSIOutcome) throws {
        let (_, b, reply, step3) = try honestUntilStep3(outcome)
        let honest = try b.finish(responderSetReblinded: step3)
        #expect(honest.count == shared.count)

        // Every position of step 3 gets one of the values step 2 carried (each distinct).
        let copied = Array(reply.initiatorSetReblinded.elements.prefix(step3.elements.count))
        let result = try b.finish(responderSetReblinded: forged(step3, copied))
        #expect(result.count == 0)

        // Only the positions of true matches keep their honest value; the rest are copies.
        var mixed = step3.elements
        let honestValues = Set(try b.keptPeerHashes())
        var next = 0
        for i in mixed.indices where !honestValues.contains(mixed[i]) {
            mixed[i] = reply.initiatorSetReblinded.elements[next]
            next += 1
        }
        let partly = try b.finish(responderSetReblinded: forged(step3, mixed))
        #expect(partly.count == shared.count)
        if case .intersection(let found) = partly { #expect(Set(found.items) == shared) }
    }

    /// What the initiator can still do: move true matches between positions. The responder's
    /// count never exceeds |A ∩ B|, though the items it names may be the wrong ones.
    @Test("Permuting step 3 moves matches but never adds one")
    func permutingMovesMatches() throws {
        let (_, b, _, step3) = try honestUntilStep3(.bothLearn)
        var moved = step3.elements
        moved.reverse()
        let result = try b.finish(responderSetReblinded: forged(step3, moved))
        #expect(result.count == shared.count)
        guard case .intersection(let found) = result else { Issue.record("expected an intersection"); return }
        #expect(Set(found.items).isSubset(of: Set(itemsB)))
        #expect(Set(found.items) != shared)
    }

    /// And hide matches: replacing values with random bytes only lowers the count.
    @Test("Replacing step 3 values hides matches, in every outcome that sends step 3",
          arguments: [MutualPSIOutcome.bothLearn, .cardinalityOnly])
    func hidingMatches(outcome: MutualPSIOutcome) throws {
        let (_, b, _, step3) = try honestUntilStep3(outcome)
        var hidden = step3.elements
        for i in hidden.indices {
            var random = [UInt8](repeating: 0, count: 32)
            for j in 0..<step3.valueLength { random[j] = UInt8.random(in: 1...255) }
            hidden[i] = try BlindedElement(rawRepresentation: random)
        }
        #expect(try b.finish(responderSetReblinded: forged(step3, hidden)).count == 0)
    }

    /// The compared values are not points: a step 3 of full points (the old format) is refused
    /// for its value length. (On the wire a value is exactly its length: there is no padding.)
    @Test("Step 3 values of the wrong length are refused")
    func valueLengthChecked() throws {
        let (_, b, _, step3) = try honestUntilStep3(.bothLearn)
        let length = step3.valueLength
        #expect(length == ComparisonHash.length(initiatorCount: itemsA.count, responderCount: itemsB.count))
        let asPoints = MutualPSIMessage(kind: .responderSetReblinded, context: step3.context, elements: step3.elements)
        #expect(throws: MessageFileError.elementSizeMismatch(path: MutualPSIMessage.Kind.responderSetReblinded.nameInMemory,
                                                             found: 32, expected: length)) {
            try b.finish(responderSetReblinded: asPoints)
        }
    }

    @Test("Compared values are at least log2(|A|·|B|) + 40 bits and shorter than points", arguments: [
        (1, 1, 6), (50, 40, 7), (1_000, 1_000, 8), (1_000_000, 1_000_000, 10), (1_000_000, 10, 10),
        (10_000_000, 10_000_000, 11), (Int.max, Int.max, 21),
    ])
    func valueLengths(a: Int, b: Int, expected: Int) {
        let length = ComparisonHash.length(initiatorCount: a, responderCount: b)
        #expect(length == expected)
        #expect(Double(8 * length) >= log2(Double(a)) + log2(Double(b)) + 40)
        #expect(length < BlindedElement.byteCount)
    }

    @Test("The two re-blinded sets hash under different domains")
    func domainsDiffer() throws {
        let point = try MutualSuite(.ristretto255SHA512).blind(itemsA, purpose: purpose, secret: Scalar.random().secret,
                                                                parallelism: .serial)
        let three = try ComparisonHash(.initiatorSetReblinded, initiatorCount: 1, responderCount: 1).values(of: point, parallelism: .serial)
        let four = try ComparisonHash(.responderSetReblinded, initiatorCount: 1, responderCount: 1).values(of: point, parallelism: .serial)
        #expect(Set(three).isDisjoint(with: four))
    }

    /// The file exchange carries the hashes on the wire: 32 + L bytes per item and side.
    @Test("Message files: re-blinded sets travel as L-byte hashes")
    func wireBytes() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn)
        let url = { (name: String) in folder.appendingPathComponent(name) }
        let recordsA = itemsA.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) }
        let recordsB = itemsB.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) }
        try MutualPSIFileExchange.initiate(records: recordsA, configuration: config, stateURL: url("a.state"), messageURL: url("1"))
        try MutualPSIFileExchange.respond(records: recordsB, configuration: config.counterpart, requestURL: url("1"), stateURL: url("b.state"),
                                          responderSetURL: url("2a"), reblindedURL: url("2b"))
        let a = try MutualPSIFileExchange.finishInitiator(identity: TestParties.a, stateURL: url("a.state"), responderSetURL: url("2a"),
                                                          reblindedURL: url("2b"), replyURL: url("3"))
        let b = try MutualPSIFileExchange.finishResponder(identity: TestParties.b, stateURL: url("b.state"), replyURL: url("3"))
        #expect(Set(a.matches.map(\.identifier)) == shared)
        #expect(Set(b.matches.map(\.identifier)) == shared)
        let length = ComparisonHash.length(initiatorCount: itemsA.count, responderCount: itemsB.count)
        for (name, size) in [("1", 32), ("2a", 32), ("2b", length), ("3", length)] {
            #expect(try MessageFileReader.inspect(url: url(name)).header.elementSize == size)
        }
    }
}
