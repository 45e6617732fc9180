import Foundation
import Testing
@testable import SodiumPSI

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sodium-psi-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func fileMode(_ url: URL) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as! NSNumber).intValue
}

@Suite("Party state files")
struct PartyStateTests {
    @Test("Both parties survive a save and restore between every step, for every outcome", arguments: MutualPSIOutcome.allCases)
    func saveRestoreExchange(outcome: MutualPSIOutcome) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = plainItems((0..<300).map { "s\($0)" }), b = plainItems((200..<450).map { "s\($0)" })
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("state test"), outcome: outcome)
        let aURL = dir.appendingPathComponent("a.state"), bURL = dir.appendingPathComponent("b.state")

        let initiator = try MutualPSIInitiator(items: a, configuration: config)
        try initiator.save(to: aURL)
        // A responder blinds only once step 1 has arrived (in its exchange), so it saves after answering.
        var responder = try MutualPSIResponder(items: b, configuration: config.counterpart)
        #expect(throws: PSIError.unexpectedMessage(expected: "a step 1 answered before saving (a responder blinds its items in the initiator's exchange)",
                                                   found: "no step 1 yet")) { try responder.save(to: bURL) }
        let reply = try responder.respond(to: initiator.blindedSet)
        try responder.save(to: bURL)
        #expect(try fileMode(aURL) == 0o600)
        #expect(try fileMode(bURL) == 0o600)

        let restoredA = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: aURL)
        #expect(restoredA.blindedSet == initiator.blindedSet)
        let done = try restoredA.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        let expected = Set(a).intersection(b)
        #expect(done.result.count == expected.count)
        if outcome != .cardinalityOnly { #expect(sharedItems(done.result) == expected) }
        if let step3 = done.responderSetReblinded {
            let restoredB = try MutualPSIResponder(identity: TestParties.b, restoringFrom: bURL)
            let result = try restoredB.finish(responderSetReblinded: step3)
            #expect(result.count == expected.count)
            if outcome == .bothLearn { #expect(sharedItems(result) == expected) }
        } else {
            #expect(outcome == .initiatorLearns)
        }
        // The file is a state file of this library (magic first).
        let bytes = try [UInt8](Data(contentsOf: aURL))
        #expect(Array(bytes[0..<11]) == Array("SPSISECR".utf8) + [1, 1, 5])
    }

    @Test("The other role's state, a foreign file and a missing file are refused")
    func wrongFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("p"), outcome: .bothLearn)
        let bURL = dir.appendingPathComponent("b.state")
        let initiator = try MutualPSIInitiator(items: plainItems(["x"]), configuration: config)
        var responder = try MutualPSIResponder(items: plainItems(["x"]), configuration: config.counterpart)
        _ = try responder.respond(to: initiator.blindedSet)
        try responder.save(to: bURL)
        #expect(throws: StateFileError.invalidStateFile(path: bURL.path, reason: "it holds a responder's state; expected an initiator's state")) {
            try MutualPSIInitiator(identity: TestParties.a, restoringFrom: bURL)
        }
        let junk = dir.appendingPathComponent("junk.state")
        try SecretFile.write(Array("hello, this is not a state file at all...........".utf8), to: junk)
        #expect(throws: StateFileError.invalidStateFile(path: junk.path, reason: "it does not start with the secret-file magic SPSISECR")) {
            try MutualPSIResponder(identity: TestParties.b, restoringFrom: junk)
        }
        let missing = dir.appendingPathComponent("missing.state")
        #expect(throws: StateFileError.io(path: missing.path, reason: "No such file or directory")) { try MutualPSIResponder(identity: TestParties.b, restoringFrom: missing) }
        // No temporary files are left behind by the atomic writes.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["b.state", "junk.state"])
    }
}
