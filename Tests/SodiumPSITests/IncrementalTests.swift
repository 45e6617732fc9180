import Foundation
import Testing
@testable import SodiumPSI

/// Two banks of an incremental relationship, with their state files in one folder.
struct IncrementalPair {
    static let purpose = try! PurposeLabel("incremental tests")
    let dir: URL
    let a: MutualPSIConfiguration
    let b: MutualPSIConfiguration
    var stateA: URL { dir.appendingPathComponent("a.rel") }
    var stateB: URL { dir.appendingPathComponent("b.rel") }
    func message(_ n: Int) -> URL { dir.appendingPathComponent("\(n).spsi") }

    init() throws {
        dir = try temporaryDirectory()
        a = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn, identity: TestParties.a, peer: TestParties.b.publicKey,
                                   identifierType: .plain, parallelism: Parallelism(threads: 2))
        b = a.counterpart
    }

    struct Day {
        let sentA: IncrementalPSI.Sent
        let sentB: IncrementalPSI.Sent
        let a: IncrementalPSI.Outcome
        let b: IncrementalPSI.Outcome
    }

    /// One whole run over files.
    func run(_ listA: Set<String>, _ listB: Set<String>, epoch: UInt64? = nil) throws -> Day {
        let sentA = try IncrementalPSI.initiate(items: plainItems(listA.sorted()), configuration: a, state: stateA, epoch: epoch,
                                                messageURL: message(1))
        let sentB = try IncrementalPSI.respond(request: try IncrementalPSI.readMessage(message(1)), items: plainItems(listB.sorted()),
                                               configuration: b, state: stateB, messageURL: message(2))
        let outA = try IncrementalPSI.finishInitiator(response: try IncrementalPSI.readMessage(message(2)), configuration: a, state: stateA,
                                                      replyURL: message(3))
        let outB = try IncrementalPSI.finishResponder(reply: try IncrementalPSI.readMessage(message(3)), configuration: b, state: stateB)
        return Day(sentA: sentA, sentB: sentB, a: outA, b: outB)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

/// The blinded elements of a message 1's added part (to check what the peer can link).
func addedElements(_ message: [UInt8]) throws -> Set<[UInt8]> {
    let parts = try IncrementalPSI.splitParts(message, name: "message 1", expected: 3)
    let raw = Array(parts[1][(MessageHeader.fixedByteCount)..<(parts[1].count - MessageHeader.trailerByteCount)])
    return Set(stride(from: 0, to: raw.count, by: 32).map { Array(raw[$0..<($0 + 32)]) })
}

@Suite("Incremental relationships")
struct IncrementalTests {
    @Test("30 days of random additions and removals on both sides (matched items removed, a removed item re-added, an empty day, epoch rotations): each day both results are the Set intersection")
    func thirtyDays() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        var random = SplitMix64(seed: 19)
        let universe = (0..<600).map { "item-\($0)" }
        var listA = Set(universe[0..<220])
        var listB = Set(universe[120..<330])
        var previous = Set<String>()
        var removedMatch: String?
        var epoch: UInt64 = 1
        for day in 1...30 {
            if day > 1 && day != 10 {
                for _ in 0..<Int(random.next() % 12) { listA.insert(universe[Int(random.next() % 600)]) }
                for _ in 0..<Int(random.next() % 12) { if let x = listA.sorted().randomElement(using: &random) { listA.remove(x) } }
                for _ in 0..<Int(random.next() % 12) { listB.insert(universe[Int(random.next() % 600)]) }
                for _ in 0..<Int(random.next() % 12) { if let x = listB.sorted().randomElement(using: &random) { listB.remove(x) } }
            }
            if day == 5 { removedMatch = listA.intersection(listB).sorted().first; listA.remove(removedMatch!) }
            if day == 8 { listA.insert(removedMatch!); listB.insert(removedMatch!) }
            if day == 15 || day == 24 { epoch += 1 }
            let result = try pair.run(listA, listB, epoch: epoch)
            let expected = listA.intersection(listB)
            #expect(result.a.matches == expected.sorted(), "day \(day), A")
            #expect(result.b.matches == expected.sorted(), "day \(day), B")
            #expect(result.a.newMatches == expected.subtracting(previous).sorted(), "day \(day)")
            #expect(result.b.vanishedMatches == previous.subtracting(expected).sorted(), "day \(day)")
            #expect(result.a.day == UInt64(day) && result.b.epoch == epoch)
            #expect(result.sentA.full == (day == 1 || day == 15 || day == 24))
            if day == 10 { #expect(result.sentA.added == 0 && result.sentA.removed == 0 && result.sentB.added == 0 && result.sentB.removed == 0) }
            if day == 5 { #expect(!result.a.matches.contains(removedMatch!) && result.a.vanishedMatches.contains(removedMatch!)) }
            if day == 8 { #expect(result.b.newMatches.contains(removedMatch!)) }
            #expect(try fileMode(pair.stateA) & 0o777 == 0o600)
            #expect(!FileManager.default.fileExists(atPath: IncrementalPSI.pendingURL(pair.stateB).path))
            previous = expected
        }
    }

    @Test("Edge days against the Set oracle: one side removes everything, both lists empty, everything re-added, then a new epoch on empty lists")
    func edgeDays() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        let listA = Set((0..<40).map { "e\($0)" }), listB = Set((20..<70).map { "e\($0)" })
        let days: [(Set<String>, Set<String>, UInt64)] = [
            (listA, listB, 1),
            ([], listB, 1),                 // A removes everything: every match vanishes
            ([], [], 1),                    // both empty
            ([], [], 1),                    // an empty day on empty lists
            (listA, listB, 1),              // everything re-added in the same epoch
            (listA.subtracting(listB), listB.subtracting(listA), 1), // every match removed on both sides at once
            ([], [], 2),                    // a new epoch on empty lists
            (listA, listB, 2),
        ]
        var previous = Set<String>()
        for (index, (a, b, epoch)) in days.enumerated() {
            let result = try pair.run(a, b, epoch: epoch)
            let expected = a.intersection(b)
            #expect(result.a.matches == expected.sorted() && result.b.matches == expected.sorted(), "day \(index + 1)")
            #expect(result.a.newMatches == expected.subtracting(previous).sorted() && result.b.newMatches == expected.subtracting(previous).sorted(), "day \(index + 1)")
            #expect(result.a.vanishedMatches == previous.subtracting(expected).sorted() && result.b.vanishedMatches == previous.subtracting(expected).sorted(), "day \(index + 1)")
            #expect(result.a.ownCount == a.count && result.a.peerCount == b.count && result.b.ownCount == b.count && result.b.peerCount == a.count, "day \(index + 1)")
            previous = expected
        }
    }

    static let seams = ["initiate: pending run written", "initiate: message 1 written", "respond: pending run written",
                        "respond: message 2 written", "finish (initiator): message 3 written", "finish: state replaced"]

    struct Stopped: Error {}

    @Test("A run stopped at any point leaves the previous day's state valid; repeating the stopped step and the rest gives the right result",
          arguments: ["A", "B"], seams)
    func stoppedRun(side: String, seam: String) throws {
        if side == "B" && (seam.hasPrefix("initiate") || seam.hasPrefix("finish (initiator)")) { return }
        if side == "A" && seam.hasPrefix("respond") { return }
        let pair = try IncrementalPair()
        defer { pair.remove() }
        let day1A = Set((0..<60).map { "x\($0)" }), day1B = Set((30..<90).map { "x\($0)" })
        _ = try pair.run(day1A, day1B)
        let savedA = try Data(contentsOf: pair.stateA), savedB = try Data(contentsOf: pair.stateB)
        let listA = day1A.subtracting(["x31", "x40"]).union(["x95", "x80"]), listB = day1B.subtracting(["x41"]).union(["x96", "x5"])
        let stop = IncrementalPSI.Seam { if $0 == seam { throw Stopped() } }
        let none = IncrementalPSI.Seam.none
        // The four steps; `stopAt` names the step that stops (A: initiate or finish, B: respond or finish).
        let steps: [(String, (IncrementalPSI.Seam) throws -> Void)] = [
            ("A initiate", { s in _ = try IncrementalPSI.initiate(items: plainItems(listA.sorted()), configuration: pair.a, state: pair.stateA,
                                                                  epoch: nil, messageURL: pair.message(1), seam: s) }),
            ("B respond", { s in _ = try IncrementalPSI.respond(request: try IncrementalPSI.readMessage(pair.message(1)), requestName: "1",
                                                               items: plainItems(listB.sorted()), configuration: pair.b, state: pair.stateB,
                                                               epoch: nil, messageURL: pair.message(2), seam: s) }),
            ("A finish", { s in _ = try IncrementalPSI.finishInitiator(response: try IncrementalPSI.readMessage(pair.message(2)), responseName: "2",
                                                                      configuration: pair.a, state: pair.stateA, replyURL: pair.message(3), seam: s) }),
            ("B finish", { s in _ = try IncrementalPSI.finishResponder(reply: try IncrementalPSI.readMessage(pair.message(3)), replyName: "3",
                                                                      configuration: pair.b, state: pair.stateB, seam: s) }),
        ]
        let target: String
        switch (side, seam) {
        case (_, let s) where s.hasPrefix("initiate"): target = "A initiate"
        case (_, let s) where s.hasPrefix("respond"): target = "B respond"
        case ("A", _): target = "A finish"
        default: target = "B finish"
        }
        var stoppedAt: Int?
        for (index, step) in steps.enumerated() {
            if step.0 == target {
                #expect(throws: Stopped.self) { try step.1(stop) }
                stoppedAt = index
                break
            }
            try step.1(none)
        }
        // The stopped side's state is the previous day's, or (stopped after the replace) the new day's, never half-updated.
        let a = try #require(try RelationshipState.read(from: pair.stateA)), b = try #require(try RelationshipState.read(from: pair.stateB))
        let committed = seam == "finish: state replaced"
        if !(committed && side == "A") && stoppedAt! <= 2 { #expect(try Data(contentsOf: pair.stateA) == savedA && a.day == 1) }
        if !(committed && side == "B") { #expect(try Data(contentsOf: pair.stateB) == savedB && b.day == 1) }
        // Repeat the stopped step, then the rest.
        for step in steps[stoppedAt!...] { try step.1(none) }
        let expected = listA.intersection(listB).sorted()
        let outA = try IncrementalPSI.finishInitiator(response: try IncrementalPSI.readMessage(pair.message(2)), configuration: pair.a,
                                                      state: pair.stateA, replyURL: nil)
        let outB = try IncrementalPSI.finishResponder(reply: try IncrementalPSI.readMessage(pair.message(3)), configuration: pair.b, state: pair.stateB)
        #expect(outA.alreadyFinished && outB.alreadyFinished)
        #expect(outA.matches == expected && outB.matches == expected)
        // And the next day runs normally.
        let day3 = try pair.run(listA.union(["x1000"]), listB.union(["x1000"]))
        #expect(day3.a.matches == (expected + ["x1000"]).sorted() && day3.b.newMatches == ["x1000"])
    }

    @Test("A stopped respond can also be restarted from message 1: the responder's pending run is replaced")
    func restartFromInitiate() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        _ = try pair.run(["p", "q", "r"], ["q", "r", "s"])
        _ = try IncrementalPSI.initiate(items: plainItems(["p", "q", "t"]), configuration: pair.a, state: pair.stateA, messageURL: pair.message(1))
        _ = try IncrementalPSI.respond(request: try IncrementalPSI.readMessage(pair.message(1)), items: plainItems(["q", "r", "s", "t"]),
                                       configuration: pair.b, state: pair.stateB, messageURL: pair.message(2))
        let day = try pair.run(["p", "q", "t"], ["q", "r", "s", "t"])
        #expect(day.a.matches == ["q", "t"] && day.b.matches == ["q", "t"] && day.a.day == 2)
    }

    @Test("Exact errors: days out of order, a gap, a stale epoch, a state of another relationship, a message of another peer, an unknown removal, no pending run")
    func exactErrors() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        _ = try pair.run(["a", "b"], ["b", "c"])
        let day1B = try Data(contentsOf: pair.stateB)
        _ = try pair.run(["a", "b", "d"], ["b", "c"])
        let day2Request = try IncrementalPSI.readMessage(pair.message(1))
        // Message 1 of day 2 again: already finished.
        #expect(throws: IncrementalPSIError.dayOutOfOrder(path: "1", day: 2, expected: 3)) {
            try IncrementalPSI.respond(request: day2Request, requestName: "1", items: plainItems(["b"]), configuration: pair.b, state: pair.stateB)
        }
        _ = try pair.run(["a", "b"], ["b", "c"])
        // B's state back at day 1, A's message for day 4: a gap.
        try SecretFile.write([UInt8](day1B), to: pair.stateB)
        _ = try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: pair.a, state: pair.stateA, messageURL: pair.message(1))
        #expect(throws: IncrementalPSIError.missingDays(path: "1", day: 4, expected: 2)) {
            try IncrementalPSI.respond(request: try IncrementalPSI.readMessage(pair.message(1)), requestName: "1", items: plainItems(["b"]),
                                       configuration: pair.b, state: pair.stateB)
        }
        // An epoch older than the state's.
        let rotated = try IncrementalPair()
        defer { rotated.remove() }
        _ = try rotated.run(["a"], ["a"])
        _ = try rotated.run(["a"], ["a"], epoch: 2)
        #expect(throws: IncrementalPSIError.staleEpoch(path: rotated.stateA.path, epoch: 1, current: 2)) {
            try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: rotated.a, state: rotated.stateA, epoch: 1)
        }
        // The responder expects another epoch.
        _ = try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: rotated.a, state: rotated.stateA, epoch: 3, messageURL: rotated.message(1))
        #expect(throws: IncrementalPSIError.epochMismatch(path: "1", found: "epoch 3", expected: "epoch 2")) {
            try IncrementalPSI.respond(request: try IncrementalPSI.readMessage(rotated.message(1)), requestName: "1", items: plainItems(["a"]),
                                       configuration: rotated.b, state: rotated.stateB, epoch: 2)
        }
        // A state of another relationship: another purpose, another peer, the other role.
        var otherPurpose = pair.a
        otherPurpose.purpose = try PurposeLabel("another purpose")
        #expect(throws: IncrementalPSIError.wrongRelationship(path: pair.stateA.path, field: "purpose", found: hexString(pair.a.purpose.digest),
                                                              expected: hexString(otherPurpose.purpose.digest) + " (\"another purpose\")")) {
            try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: otherPurpose, state: pair.stateA)
        }
        var otherPeer = pair.a
        otherPeer.peer = TestParties.outsider.publicKey
        #expect(throws: IncrementalPSIError.wrongRelationship(path: pair.stateA.path, field: "peer", found: TestParties.b.publicKey.fingerprint,
                                                              expected: TestParties.outsider.publicKey.fingerprint)) {
            try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: otherPeer, state: pair.stateA)
        }
        #expect(throws: IncrementalPSIError.wrongRelationship(path: pair.stateA.path, field: "role", found: "initiator", expected: "responder")) {
            try IncrementalPSI.respond(request: day2Request, items: plainItems(["a"]), configuration: pair.b, state: pair.stateA)
        }
        // A message signed by someone else than the peer.
        var outsider = pair.b
        outsider.identity = TestParties.outsider
        let forged = try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: { var c = pair.a; c.identity = TestParties.outsider; return c }(),
                                                 state: pair.dir.appendingPathComponent("outsider.rel"))
        #expect(throws: MessageFileError.untrustedSender(path: "1 (incremental run info)", sender: TestParties.outsider.publicKey.fingerprint,
                                                         expected: TestParties.a.publicKey.fingerprint)) {
            try IncrementalPSI.respond(request: forged.message, requestName: "1", items: plainItems(["a"]), configuration: pair.b, state: pair.stateB)
        }
        _ = outsider
        // A removal of a value the responder does not hold (a message A signs with a forged removal).
        let fresh = try IncrementalPair()
        defer { fresh.remove() }
        _ = try fresh.run(["a", "b"], ["b"])
        let state = try #require(try RelationshipState.read(from: fresh.stateA))
        let header = IncrementalPSI.PartHeader(configuration: fresh.a, session: .random(), epochID: state.epochID)
        var message = try header.part(.runInfo, elements: bigEndian(1) + bigEndian(2) + bigEndian(0), count: 3)
        message += try header.part(.initiatorAdded, elements: [], count: 0)
        message += try header.part(.initiatorRemoved, values: [Value16(high: 1, low: 2)])
        #expect(throws: IncrementalPSIError.unknownRemoval(path: "1 (initiator's removed items)", index: 0)) {
            try IncrementalPSI.respond(request: message, requestName: "1", items: plainItems(["b"]), configuration: fresh.b, state: fresh.stateB)
        }
        // A finish without a run started from this state.
        #expect(throws: IncrementalPSIError.noPendingRun(path: IncrementalPSI.pendingURL(fresh.stateB).path)) {
            try IncrementalPSI.finishResponder(reply: try header.part(.responderAddedReblinded, values: []), configuration: fresh.b, state: fresh.stateB)
        }
    }

    @Test("Leakage as stated: the peer learns each day's numbers of added and removed items, and links an item removed and re-added in one epoch; a new epoch unlinks every item")
    func leakage() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        let base = Set((0..<40).map { "k\($0)" })
        let day1 = try pair.run(base, ["k1"])
        let epoch1 = try addedElements(day1.sentA.message)
        // Day 2: A removes 3 and adds 2; B sees exactly those counts.
        let day2 = try pair.run(base.subtracting(["k1", "k2", "k3"]).union(["n1", "n2"]), ["k1"])
        #expect(day2.sentB.peerAdded == 2 && day2.sentB.peerRemoved == 3 && day2.b.peerAdded == 2 && day2.b.peerRemoved == 3)
        // Day 3: k2 re-added: its blinded element is the one B received on day 1.
        let day3 = try pair.run(base.subtracting(["k1", "k3"]).union(["n1", "n2"]), ["k1"])
        let readded = try addedElements(day3.sentA.message)
        #expect(readded.count == 1 && epoch1.isSuperset(of: readded))
        // A new epoch: every element differs from the earlier epoch's.
        let day4 = try pair.run(base, ["k1"], epoch: 2)
        let epoch2 = try addedElements(day4.sentA.message)
        #expect(epoch2.count == base.count && epoch2.isDisjoint(with: epoch1) && day4.a.matches == ["k1"])
    }

    @Test("The relationship state and the pending run are 0600 secret containers; a damaged state is refused")
    func stateFile() throws {
        let pair = try IncrementalPair()
        defer { pair.remove() }
        _ = try pair.run(["a", "b"], ["b"])
        _ = try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: pair.a, state: pair.stateA, messageURL: pair.message(1))
        #expect(try fileMode(pair.stateA) & 0o777 == 0o600 && fileMode(IncrementalPSI.pendingURL(pair.stateA)) & 0o777 == 0o600)
        var bytes = [UInt8](try Data(contentsOf: pair.stateA))
        bytes[bytes.count / 2] ^= 1
        try SecretFile.write(bytes, to: pair.stateA)
        #expect(throws: StateFileError.invalidStateFile(path: pair.stateA.path, reason: "its content does not match its digest; the file is damaged")) {
            try IncrementalPSI.initiate(items: plainItems(["a"]), configuration: pair.a, state: pair.stateA)
        }
    }
}

private func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
