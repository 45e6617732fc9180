import Foundation
import Testing
@testable import SodiumPSI
import CSodium

/// A folder with the files of one mutual exchange run through ``MutualPSIFileExchange``.
struct ExchangeFolder {
    let dir: URL
    let config: MutualPSIConfiguration

    init(outcome: MutualPSIOutcome = .bothLearn) throws {
        dir = try temporaryDirectory()
        config = MutualPSIConfiguration(purpose: try PurposeLabel("state file test"), outcome: outcome, parallelism: Parallelism(threads: 2))
    }

    func url(_ name: String) -> URL { dir.appendingPathComponent(name) }
    func cleanUp() { try? FileManager.default.removeItem(at: dir) }
    func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    static let listA = (0..<40).map { "r\($0)" }, listB = (25..<70).map { "r\($0)" }
    static var expected: Set<String> { Set(listA).intersection(listB) }

    func initiate(_ values: [String] = listA, state: String = "a.state", out: String = "1.spsi", replacing: Bool = false) throws {
        try MutualPSIFileExchange.initiate(records: StreamingTests.records(values), configuration: config, stateURL: url(state),
                                           messageURL: url(out), replacingState: replacing)
    }

    func respond(_ values: [String] = listB, request: String = "1.spsi", state: String = "b.state",
                 blinded: String = "2a.spsi", reblinded: String = "2b.spsi", replacing: Bool = false) throws {
        try MutualPSIFileExchange.respond(records: StreamingTests.records(values), configuration: config.counterpart, requestURL: url(request),
                                          stateURL: url(state), responderSetURL: url(blinded), reblindedURL: url(reblinded),
                                          replacingState: replacing)
    }

    func finishA(state: String = "a.state", blinded: String = "2a.spsi", reblinded: String = "2b.spsi",
                 reply: String? = "3.spsi") throws -> MutualPSIFileExchange.Outcome {
        try MutualPSIFileExchange.finishInitiator(identity: TestParties.a, stateURL: url(state), responderSetURL: url(blinded), reblindedURL: url(reblinded),
                                                  replyURL: reply.map(url), parallelism: Parallelism(threads: 2))
    }

    func finishB(state: String = "b.state", reply: String = "3.spsi") throws -> MutualPSIFileExchange.Outcome {
        try MutualPSIFileExchange.finishResponder(identity: TestParties.b, stateURL: url(state), replyURL: url(reply), parallelism: Parallelism(threads: 2))
    }

    /// The canonical values of an outcome's matches.
    static func values(_ outcome: MutualPSIFileExchange.Outcome) -> Set<String> { Set(outcome.matches.map(\.identifier.canonical)) }
}

@Suite("Secret-file container, state and key files")
struct StateFileTests {
    /// Every kind of secret file goes through one owner-and-mode check; each kind is attacked here.
    @Test("A secret file readable by others is refused naming its mode: party state, member state, hub key, identity",
          arguments: [0o644, 0o640, 0o604, 0o660])
    func loosePermissions(mode: Int) throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        try files.request(UnbalancedFileTests.memberList)
        try MutualPSIInitiator(items: plainItems(["x"]), configuration: MutualPSIConfiguration(purpose: try PurposeLabel("p"), outcome: .bothLearn))
            .save(to: files.url("a.state"))
        try PartyIdentity().save(to: files.url("me.identity"))
        let cases: [(String, () throws -> Void)] = [
            ("a.state", { _ = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: files.url("a.state")) }),
            ("member.state", { _ = try files.finish() }),
            ("hub.key", { _ = try HubKey.load(from: files.url("hub.key")) }),
            ("me.identity", { _ = try PartyIdentity(contentsOf: files.url("me.identity")) }),
        ]
        for (name, read) in cases {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: files.path(name))
            #expect(throws: StateFileError.insecurePermissions(path: files.path(name), mode: mode), "\(name)") { try read() }
        }
    }

    @Test("Container bytes: magic, versions, content, secret length, lengths that add up, BLAKE2b of the rest")
    func containerLayout() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        let bytes = [UInt8](try Data(contentsOf: f.url("a.state")))
        #expect(Array(bytes[0..<8]) == Array("SPSISECR".utf8))
        #expect(Array(bytes[8..<11]) == [1, 1, 5])                       // container 1, initiator state, layout 5
        #expect(Array(bytes[11..<19]) == [32, 0, 0, 0, 0, 0, 0, 0])       // S = 32, little-endian
        let forged = ForgedContainer(bytes)
        #expect(19 + forged.secret.count + forged.body.count + forged.description.count + 48 == bytes.count)
        // The body: records, then 8 + 32 bytes a distinct item (40 items).
        let metadata = try JSONSerialization.jsonObject(with: Data(forged.description)) as! [String: Any]
        #expect(metadata["itemCount"] as? Int == 40)
        #expect(forged.body.count == (metadata["recordBytes"] as! Int) + 40 * 40)
        // The digest, recomputed by libsodium's one-shot BLAKE2b, is the file's last 32 bytes.
        #expect(redigested(bytes) == bytes)
        #expect(ForgedContainer(bytes).bytes == bytes)
        // The hub key: exactly 116 bytes (header 19, scalar 32, mode and key id 17, trailer 48).
        let key = HubKey.generate(answerMode: .cardinalityOnly)
        try key.save(to: f.url("hub.key"))
        let keyBytes = [UInt8](try Data(contentsOf: f.url("hub.key")))
        #expect(keyBytes.count == 116)
        #expect(Array(keyBytes[8..<11]) == [1, 4, 2])
        #expect(Array(keyBytes[51..<68]) == [2] + key.keyID.bytes)
        #expect(redigested(keyBytes) == keyBytes)
    }

    @Test("A flipped bit anywhere in a member state, a party state or a hub key is refused")
    func flippedBits() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        try files.request(UnbalancedFileTests.memberList)
        try files.respond()
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate(["x", "y", "z"])
        let cases: [(URL, (URL) throws -> Void)] = [
            (files.url("member.state"), { _ in _ = try files.finish() }),
            (f.url("a.state"), { try MutualPSIInitiator(identity: TestParties.a, restoringFrom: $0) }),
            (files.url("hub.key"), { _ = try HubKey.load(from: $0) }),
        ]
        for (url, read) in cases {
            let original = [UInt8](try Data(contentsOf: url))
            try read(url)
            // Every byte for the small files; a stride over the larger member state.
            for offset in stride(from: 0, to: original.count, by: original.count > 600 ? 7 : 1) {
                var bytes = original
                bytes[offset] ^= 0x10
                try SecretFile.write(bytes, to: url)
                #expect(throws: (any Error).self, "\(url.lastPathComponent) byte \(offset)") { try read(url) }
            }
            try SecretFile.write(original, to: url)
        }
        // Before the fix a flipped bit in a blind lost a match silently: now the digest refuses it.
        var bytes = [UInt8](try Data(contentsOf: files.url("member.state")))
        bytes[19 + 5] ^= 0x01
        try SecretFile.write(bytes, to: files.url("member.state"))
        #expect(throws: StateFileError.invalidStateFile(path: files.path("member.state"), reason: "its content does not match its digest; the file is damaged")) {
            _ = try files.finish()
        }
    }

    @Test("Forged sizes with the digest recomputed are refused without a crash",
          arguments: [("itemCount", 1 << 58), ("itemCount", Int.max), ("recordBytes", Int.max), ("recordBytes", -1),
                      ("itemCount", 1_000_000), ("peerCount", 1 << 60)])
    func forgedSizes(field: String, value: Int) throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        try f.respond()
        for (name, restore) in [("a.state", { (u: URL) in _ = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: u) }),
                                ("b.state", { (u: URL) in _ = try MutualPSIResponder(identity: TestParties.b, restoringFrom: u) })] {
            var forged = try ForgedContainer(contentsOf: f.url(name))
            try forged.editDescription { $0[field] = value }
            try forged.write(to: f.url(name))
            #expect(throws: StateFileError.invalidStateFile(path: f.url(name).path, reason: "its sections do not add up to its length")) {
                try restore(f.url(name))
            }
        }
        #expect(throws: StateFileError.self) { try f.finishA() }
    }

    @Test("Forged byte lengths in a state's description (digest recomputed) are refused, never written into a header")
    func forgedDescriptionLengths() throws {
        // The fuzzer's finding: a 31-byte purpose digest restored from a forged state reached
        // the header encoder, whose length check stopped the process.
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        let state = f.url("a.state")
        let original = try ForgedContainer(contentsOf: state)
        let cases: [(String, (inout [String: Any]) -> Void, PSIError)] = [
            ("purposeDigest", { Self.editContext(&$0) { $0["purposeDigest"] = Array(($0["purposeDigest"] as! [Int]).dropLast()) } },
             .invalidLength(what: "purpose digest", length: 31, expected: 32)),
            ("sessionID", { Self.editContext(&$0) { $0["sessionID"] = ["bytes": [1, 2, 3]] } },
             .invalidLength(what: "session identifier", length: 3, expected: 16)),
        ]
        for (field, edit, error) in cases {
            var forged = original
            try forged.editDescription(edit)
            try forged.write(to: state)
            #expect(throws: StateFileError.invalidStateFile(path: state.path, reason: error.localizedDescription), "\(field)") {
                _ = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: state)
            }
        }
        // Member state: a short key identifier, a short session identifier, an empty purpose.
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        try files.request(UnbalancedFileTests.memberList)
        try files.respond()
        let member = files.url("member.state")
        let memberOriginal = try ForgedContainer(contentsOf: member)
        let undecodable = StateFileError.invalidStateFile(path: member.path, reason: "the state description cannot be decoded")
        for (field, value) in [("keyID", ["bytes": [7]] as Any), ("sessionID", ["bytes": [UInt8](repeating: 1, count: 17)]), ("purpose", ["value": ""])] {
            var forged = memberOriginal
            try forged.editDescription { $0[field] = value }
            try forged.write(to: member)
            #expect(throws: undecodable, "\(field)") { _ = try files.finish() }
        }
    }

    static func editContext(_ object: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
        var context = object["context"] as! [String: Any]
        change(&context)
        object["context"] = context
    }

    @Test("Member state and hub key: forged counts and lengths, digest recomputed, are refused")
    func forgedMemberAndKey() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        try files.request(UnbalancedFileTests.memberList)
        try files.respond()
        let state = files.url("member.state")
        let original = try ForgedContainer(contentsOf: state)
        let sections = StateFileError.invalidStateFile(path: state.path, reason: "its sections do not add up to its length")
        for (field, value) in [("itemCount", 1 << 58), ("itemCount", Int.max), ("recordBytes", Int.max), ("itemCount", -3)] {
            var forged = original
            try forged.editDescription { $0[field] = value }
            try forged.write(to: state)
            #expect(throws: sections, "\(field) = \(value)") { _ = try files.finish() }
        }
        // A blind short: the secret no longer matches the item count.
        var short = original
        short.secret.removeLast(32)
        try short.write(to: state)
        #expect(throws: StateFileError.invalidStateFile(path: state.path, reason: "the secret is \(original.secret.count - 32) bytes; expected \(original.secret.count) for 5 items in intersection mode")) {
            _ = try files.finish()
        }
        // A hub key is one exact size.
        let key = files.url("hub.key")
        var longer = try ForgedContainer(contentsOf: key)
        longer.description = Array("{}".utf8)
        try longer.write(to: key)
        #expect(throws: UnbalancedPSIError.invalidKeyFile(path: key.path, reason: "it is 118 bytes long; a hub key is exactly 116 bytes")) {
            try HubKey.load(from: key)
        }
        var moved = try ForgedContainer(contentsOf: key)
        moved.description = []
        moved.secret = Array(moved.secret.prefix(31))
        moved.body.append(0)
        try moved.write(to: key)
        #expect(throws: UnbalancedPSIError.invalidKeyFile(path: key.path, reason: "its secret is 31 bytes; expected 32")) { try HubKey.load(from: key) }
    }

    @Test("A 30 GB sparse hub key or member state is refused from its size and header, without reading it")
    func sparseSecretFiles() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        try files.request(UnbalancedFileTests.memberList)
        try files.respond()
        let size: off_t = 30 << 30
        for name in ["hub.key", "member.state"] {
            let url = files.url(name)
            // Keep the real header, make the file 30 GB of holes after it.
            #expect(truncate(url.path, size) == 0)
        }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(throws: UnbalancedPSIError.invalidKeyFile(path: files.path("hub.key"), reason: "it is \(size) bytes long; a hub key is exactly 116 bytes")) {
            try HubKey.load(from: files.url("hub.key"))
        }
        #expect(throws: StateFileError.invalidStateFile(path: files.path("member.state"), reason: "its sections do not add up to its length of \(size) bytes; the file is damaged")) {
            _ = try files.finish()
        }
        // Zeros from the first byte: not a container at all.
        try SecretFile.write([], to: files.url("zeros"))
        #expect(truncate(files.path("zeros"), size) == 0)
        #expect(throws: StateFileError.invalidStateFile(path: files.path("zeros"), reason: "it does not start with the secret-file magic SPSISECR")) {
            _ = try UnbalancedPSIMember(restoringFrom: files.url("zeros"))
        }
        #expect(clock.now - start < .seconds(5), "the refusals must not read the files")
    }

    @Test("A forged sent order that is not a permutation is refused; a valid one still finishes")
    func sentOrderPermutation() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate(["p", "q", "r", "s"])
        try f.respond(["q", "s", "t"])
        let original = try ForgedContainer(contentsOf: f.url("a.state"))
        let metadata = try JSONSerialization.jsonObject(with: Data(original.description)) as! [String: Any]
        let orderStart = metadata["recordBytes"] as! Int
        var forged = original
        for i in 0..<32 { forged.body[orderStart + i] = 0 }   // [0, 0, 0, 0]
        try forged.write(to: f.url("a.state"))
        let refused = StateFileError.invalidStateFile(path: f.url("a.state").path,
                                                      reason: "the sent order is not a permutation of the records: sent position 1 repeats record 0")
        #expect(throws: refused) { try f.finishA() }
        #expect(throws: refused) { try MutualPSIInitiator(identity: TestParties.a, restoringFrom: f.url("a.state")) }
        #expect(!FileManager.default.fileExists(atPath: f.url("3.spsi").path))
        forged = original
        forged.body[orderStart + 8] = 9                          // record 9 of 4
        try forged.write(to: f.url("a.state"))
        #expect(throws: StateFileError.invalidStateFile(path: f.url("a.state").path, reason: "sent position 1 names record 9, which does not exist")) {
            try f.finishA()
        }
        try original.write(to: f.url("a.state"))
        #expect(ExchangeFolder.values(try f.finishA()) == ["q", "s"])
    }

    @Test("A secret file of another user, or not a regular file, is refused")
    func ownerAndType() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        let other = geteuid() == 0 ? 65_534 : geteuid() + 1
        #expect(throws: StateFileError.foreignOwner(path: f.url("a.state").path, owner: Int(geteuid()))) {
            try PartyStateFile.Reader(url: f.url("a.state"), role: .initiator, expectedOwner: uid_t(other))
        }
        try HubKey.generate(answerMode: .intersection).save(to: f.url("hub.key"))
        #expect(throws: StateFileError.foreignOwner(path: f.url("hub.key").path, owner: Int(geteuid()))) {
            try HubKey.load(from: f.url("hub.key"), expectedOwner: uid_t(other))
        }
        try FileManager.default.createDirectory(at: f.url("folder.state"), withIntermediateDirectories: false)
        #expect(throws: StateFileError.io(path: f.url("folder.state").path, reason: "not a regular file")) {
            try MutualPSIInitiator(identity: TestParties.a, restoringFrom: f.url("folder.state"))
        }
        #expect(throws: StateFileError.io(path: "/dev/zero", reason: "not a regular file")) { try HubKey.load(from: URL(fileURLWithPath: "/dev/zero")) }
        if geteuid() == 0 {
            // A real file of another user (the test runs as root here).
            #expect(chown(f.url("a.state").path, uid_t(other), gid_t(other)) == 0)
            #expect(throws: StateFileError.foreignOwner(path: f.url("a.state").path, owner: Int(other))) { try f.finishA() }
        }
    }

    @Test("A state finishes one exchange: the same messages again give the same result, other messages are refused")
    func finishOnce() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        try f.respond()
        let first = try f.finishA()
        #expect(ExchangeFolder.values(first) == ExchangeFolder.expected)
        let step3 = try Data(contentsOf: f.url("3.spsi"))
        // Idempotent: the same inputs, the same result and the same step 3. (The receipt is
        // signed again with this run's times, which may fall in another second.)
        let again = try f.finishA()
        #expect(again.result == first.result && again.matches == first.matches && again.replyWritten == first.replyWritten)
        #expect(again.receipt.sent == first.receipt.sent && again.receipt.received == first.receipt.received)
        #expect(try Data(contentsOf: f.url("3.spsi")) == step3)
        // A second responder answers the same step 1: the finished state refuses its set, before
        // anything is written (no second re-blinding of a peer set under the same secret).
        try f.respond((60..<90).map { "r\($0)" }, state: "c.state", blinded: "2a-c.spsi", reblinded: "2b-c.spsi")
        #expect(throws: StateFileError.alreadyFinished(path: f.url("a.state").path)) {
            try f.finishA(blinded: "2a-c.spsi", reblinded: "2b-c.spsi", reply: "3-c.spsi")
        }
        #expect(!FileManager.default.fileExists(atPath: f.url("3-c.spsi").path))
        #expect(throws: StateFileError.alreadyFinished(path: f.url("a.state").path)) { try MutualPSIInitiator(identity: TestParties.a, restoringFrom: f.url("a.state")) }
        // The responder: once finished, another step 3 is refused, the same one is accepted.
        #expect(ExchangeFolder.values(try f.finishB()) == ExchangeFolder.expected)
        #expect(ExchangeFolder.values(try f.finishB()) == ExchangeFolder.expected)
        var other = [UInt8](try Data(contentsOf: f.url("3.spsi")))
        other[MessageHeader.fixedByteCount + 4] ^= 1
        try Data(MalformedCorpusTests.redigest(other)).write(to: f.url("3-other.spsi"))
        #expect(throws: StateFileError.alreadyFinished(path: f.url("b.state").path)) { try f.finishB(reply: "3-other.spsi") }
        #expect(throws: StateFileError.alreadyFinished(path: f.url("b.state").path)) { try MutualPSIResponder(identity: TestParties.b, restoringFrom: f.url("b.state")) }
    }

    @Test("A responder answers one step 1: a second is refused in memory")
    func respondOnce() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("respond once"), outcome: .bothLearn)
        let first = try MutualPSIInitiator(items: plainItems(["a", "b"]), configuration: config)
        let second = try MutualPSIInitiator(items: plainItems(["c", "d"]), configuration: config)
        var responder = try MutualPSIResponder(items: plainItems(["b", "c"]), configuration: config.counterpart)
        _ = try responder.respond(to: first.blindedSet)
        #expect(throws: PSIError.unexpectedMessage(
            expected: "no second step 1 (this responder answered session \(first.context.sessionID) already; blind again for another exchange)",
            found: "a step 1 of session \(second.context.sessionID)")) {
            _ = try responder.respond(to: second.blindedSet)
        }
        // Saved after answering and restored: still refused.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try responder.save(to: dir.appendingPathComponent("b.state"))
        var restored = try MutualPSIResponder(identity: TestParties.b, restoringFrom: dir.appendingPathComponent("b.state"))
        #expect(throws: PSIError.self) { _ = try restored.respond(to: second.blindedSet) }
    }

    @Test("An existing state is refused unless replacing it was asked; nothing is written")
    func existingState() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate()
        let before = try Data(contentsOf: f.url("a.state"))
        try FileManager.default.removeItem(at: f.url("1.spsi"))
        #expect(throws: OutputFileError.exists(path: f.url("a.state").path)) { try f.initiate() }
        #expect(try Data(contentsOf: f.url("a.state")) == before)
        #expect(try f.names() == ["a.state"])
        try f.initiate(replacing: true)
        #expect(try Data(contentsOf: f.url("a.state")) != before)
        try f.respond()
        #expect(throws: OutputFileError.exists(path: f.url("b.state").path)) { try f.respond(blinded: "x.spsi", reblinded: "y.spsi") }
        // A state that appears while the step runs is not overwritten either (link, not check-then-rename).
        try FileManager.default.removeItem(at: f.url("b.state"))
        #expect(throws: OutputFileError.exists(path: f.url("b.state").path)) {
            try AtomicFile.$beforeCommit.withValue({ path, _ in
                if path.hasSuffix("b.state") { try Data("someone else's".utf8).write(to: URL(fileURLWithPath: path)) }
            }) { try f.respond(blinded: "x.spsi", reblinded: "y.spsi") }
        }
        #expect(try String(contentsOf: f.url("b.state"), encoding: .utf8) == "someone else's")
        #expect(!(try f.names()).contains("x.spsi"))
        // The hub key likewise.
        let key = f.url("hub.key")
        #expect(throws: UnbalancedPSIError.keyFileExists(path: key.path)) {
            try AtomicFile.$beforeCommit.withValue({ path, _ in try Data("x".utf8).write(to: URL(fileURLWithPath: path)) }) {
                try HubKey.generate(answerMode: .intersection).save(to: key)
            }
        }
        #expect(try String(contentsOf: key, encoding: .utf8) == "x")
    }

    @Test("The state is committed first: when it fails no message appears, when a message fails the state is removed")
    func commitOrder() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        struct Injected: Error {}
        func failing(_ suffix: String) -> @Sendable (String, String) throws -> Void {
            { path, temporary in
                // At this point the file is complete under its temporary name only.
                #expect(FileManager.default.fileExists(atPath: temporary))
                #expect(!FileManager.default.fileExists(atPath: path))
                if path.hasSuffix(suffix) { throw Injected() }
            }
        }
        #expect(throws: Injected.self) { try AtomicFile.$beforeCommit.withValue(failing("a.state")) { try f.initiate() } }
        #expect(try f.names() == [])
        #expect(throws: Injected.self) { try AtomicFile.$beforeCommit.withValue(failing("1.spsi")) { try f.initiate() } }
        #expect(try f.names() == [])
        try f.initiate()
        for failed in ["b.state", "2a.spsi", "2b.spsi"] {
            #expect(throws: Injected.self) { try AtomicFile.$beforeCommit.withValue(failing(failed)) { try f.respond() } }
            #expect(try f.names() == ["1.spsi", "a.state"], "\(failed)")
        }
        // A real failure: the state's name is taken by a folder, so its rename fails.
        try FileManager.default.createDirectory(at: f.url("b.state"), withIntermediateDirectories: false)
        #expect(throws: OutputFileError.self) { try f.respond(replacing: true) }
        #expect(try f.names() == ["1.spsi", "a.state", "b.state"])
        // The member: state first, then the request.
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(UnbalancedFileTests.hubList)
        #expect(throws: Injected.self) {
            try AtomicFile.$beforeCommit.withValue(failing("member.state")) { try files.request(UnbalancedFileTests.memberList) }
        }
        #expect(!FileManager.default.fileExists(atPath: files.path("request.spsi")))
        #expect(throws: Injected.self) {
            try AtomicFile.$beforeCommit.withValue(failing("request.spsi")) { try files.request(UnbalancedFileTests.memberList) }
        }
        #expect(!FileManager.default.fileExists(atPath: files.path("member.state")))
        try files.request(UnbalancedFileTests.memberList)
        #expect(throws: OutputFileError.exists(path: files.path("member.state"))) { try files.request(UnbalancedFileTests.memberList) }
    }

    @Test("Two paths of one step that name the same file are refused before anything is read or written")
    func samePaths() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        #expect(throws: OutputFileError.samePath(path: f.url("x").path, first: "the state file", second: "the step-1 message")) {
            try f.initiate(state: "x", out: "x")
        }
        // Not there yet, spelled differently.
        try FileManager.default.createDirectory(at: f.url("sub"), withIntermediateDirectories: false)
        #expect(throws: OutputFileError.self) { try f.initiate(state: "sub/../y", out: "y") }
        try f.initiate()
        // A symbolic link and a hard link to the step-1 message.
        try FileManager.default.createSymbolicLink(atPath: f.url("link.spsi").path, withDestinationPath: f.url("1.spsi").path)
        #expect(link(f.url("1.spsi").path, f.url("hard.spsi").path) == 0)
        for alias in ["link.spsi", "hard.spsi"] {
            #expect(throws: OutputFileError.samePath(path: f.url(alias).path, first: "the step-1 message", second: "the responder's blinded set")) {
                try f.respond(blinded: alias)
            }
        }
        #expect(throws: OutputFileError.self) { try f.respond(blinded: "2.spsi", reblinded: "2.spsi") }
        #expect(throws: OutputFileError.self) { try f.respond(state: "sub/b", blinded: "sub/../sub/b") }
        try f.respond()
        #expect(throws: OutputFileError.samePath(path: f.url("2a.spsi").path, first: "the responder's blinded set", second: "the step-3 message")) {
            try f.finishA(reply: "2a.spsi")
        }
        #expect(throws: OutputFileError.self) { try f.finishA(state: "a.state", blinded: "a.state") }
        #expect(try f.names() == ["1.spsi", "2a.spsi", "2b.spsi", "a.state", "b.state", "hard.spsi", "link.spsi", "sub"])
        // The distinctness rule itself: inode identity, a missing folder, nil paths.
        try FilePaths.requireDistinct([("a", f.url("nowhere/a")), ("b", f.url("nowhere/b")), ("c", nil), ("d", nil)])
        #expect(throws: OutputFileError.samePath(path: f.url("nowhere/./a").path, first: "a", second: "b")) {
            try FilePaths.requireDistinct([("a", f.url("nowhere/a")), ("b", f.url("nowhere/./a"))])
        }
    }

    @Test("An empty peer set gives an empty result, not a crash (the policy in threat-model.md)")
    func emptySets() throws {
        let f = try ExchangeFolder()
        defer { f.cleanUp() }
        try f.initiate([])
        try f.respond(["a", "b"])
        let a = try f.finishA()
        #expect(a.matches.isEmpty)
        #expect(a.result.count == 0)
        let b = try f.finishB()
        #expect(b.result.count == 0)
        if case .intersection(let i) = b.result { #expect(i.peerSetSize == 0 && i.ownSetSize == 2) } else { Issue.record("not an intersection") }
    }

    @Test("A member names the response element that does not decode (no index -1)")
    func responseElementIndex() throws {
        let hub = Unbalanced.hub(.intersection)
        let setup = try hub.makeSetup(items: Unbalanced.items(["a", "b"]), encoding: .truncatedTags(byteCount: 12))
        let member = try UnbalancedPSIMember(items: Unbalanced.items(["a", "c", "d"]), purpose: Unbalanced.purpose, setup: setup)
        let good = try hub.respond(to: member.request)
        var body = good.evaluatedElements.flatMap(\.rawRepresentation)
        for i in 0..<32 { body[2 * 32 + i] = i == 0 ? 1 : 0 }   // not a canonical encoding, top bit clear
        let forged = UnbalancedResponse(context: good.context, evaluatedElements: UnbalancedPRF.elements(fromBody: body), proofs: good.proofs,
                                        origin: "response.spsi")
        #expect(throws: UnbalancedPSIError.invalidElement(path: "response.spsi", index: 2, reason: PSIError.invalidElementEncoding(index: 2).localizedDescription)) {
            _ = try member.finish(response: forged, setup: setup)
        }
    }
}

/// Seeds of the `FuzzStateFile` libFuzzer target: real party states (both roles, before and
/// after step 2), member states (both answer modes), hub keys, an identity, and the forged states of issue
/// 14 (digest recomputed). Run with `SODIUM_PSI_WRITE_FUZZ_SEEDS=1` to rewrite them; otherwise
/// the committed seeds must still be read, or refused with the reason they were made for.
@Suite("State fuzz seeds")
struct StateFuzzSeedTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus/FuzzStateFile")

    @Test("Seeds are read by the state readers, the forged ones refused with their reason")
    func seeds() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let seed = { (name: String) in Self.corpus.appendingPathComponent(name) }
        if ProcessInfo.processInfo.environment["SODIUM_PSI_WRITE_FUZZ_SEEDS"] != nil {
            let f = try ExchangeFolder()
            defer { f.cleanUp() }
            try f.initiate(["a", "b", "c"])
            try f.respond(["b", "c", "d"])
            let config = MutualPSIConfiguration(purpose: try PurposeLabel("fuzz"), outcome: .cardinalityOnly)
            var early = try MutualPSIResponder(items: plainItems(["x", "y"]), configuration: config.counterpart)
            _ = try early.respond(to: try MutualPSIInitiator(items: plainItems(["y", "z"]), configuration: config).blindedSet)
            try early.save(to: f.url("early.state"))
            let files = try HubAndMember()
            defer { files.cleanUp() }
            try files.setup(["a", "b"])
            try files.request(["a", "q"])
            let cardinality = try HubAndMember(mode: .cardinalityOnly)
            defer { cardinality.cleanUp() }
            try cardinality.setup(["a", "b"])
            try cardinality.request(["a", "q", "r"])
            try TestParties.a.save(to: f.url("a.identity"))
            let copies = [("initiator.state", f.url("a.state")), ("responder.state", f.url("b.state")), ("responder-early.state", f.url("early.state")),
                          ("member-intersection.state", files.url("member.state")), ("member-cardinality.state", cardinality.url("member.state")),
                          ("hub-intersection.key", files.url("hub.key")), ("hub-cardinality.key", cardinality.url("hub.key")),
                          ("party.identity", f.url("a.identity"))]
            for (name, url) in copies {
                try? FileManager.default.removeItem(at: seed(name))
                try FileManager.default.copyItem(at: url, to: seed(name))
            }
            let initiator = try ForgedContainer(contentsOf: f.url("a.state"))
            for (name, field, value) in [("forged-item-count.state", "itemCount", 1 << 58), ("forged-record-bytes.state", "recordBytes", Int.max)] {
                var forged = initiator
                try forged.editDescription { $0[field] = value }
                try Data(forged.bytes).write(to: seed(name))
            }
            var order = initiator
            let recordBytes = (try JSONSerialization.jsonObject(with: Data(order.description)) as! [String: Any])["recordBytes"] as! Int
            for i in 0..<24 { order.body[recordBytes + i] = 0 }
            try Data(order.bytes).write(to: seed("forged-sent-order.state"))
        }
        func copy(_ name: String) throws -> URL {
            let url = dir.appendingPathComponent(name)
            try SecretFile.write([UInt8](try Data(contentsOf: seed(name))), to: url)
            return url
        }
        #expect(try MutualPSIInitiator(identity: TestParties.a, restoringFrom: copy("initiator.state")).items.count == 3)
        #expect(try MutualPSIResponder(identity: TestParties.b, restoringFrom: copy("responder.state")).items.count == 3)
        #expect(try MutualPSIResponder(identity: TestParties.b, restoringFrom: copy("responder-early.state")).items.count == 2)
        #expect(try UnbalancedPSIMember(restoringFrom: copy("member-intersection.state")).items.count == 2)
        #expect(try UnbalancedPSIMember(restoringFrom: copy("member-cardinality.state")).items.count == 3)
        #expect(try HubKey.load(from: copy("hub-intersection.key")).answerMode == .intersection)
        #expect(try HubKey.load(from: copy("hub-cardinality.key")).answerMode == .cardinalityOnly)
        #expect(try PartyIdentity(contentsOf: copy("party.identity")).publicKey == TestParties.a.publicKey)
        for name in ["forged-item-count.state", "forged-record-bytes.state"] {
            let url = try copy(name)
            #expect(throws: StateFileError.invalidStateFile(path: url.path, reason: "its sections do not add up to its length")) {
                try MutualPSIInitiator(identity: TestParties.a, restoringFrom: url)
            }
        }
        let order = try copy("forged-sent-order.state")
        #expect(throws: StateFileError.invalidStateFile(path: order.path, reason: "the sent order is not a permutation of the records: sent position 1 repeats record 0")) {
            try MutualPSIInitiator(identity: TestParties.a, restoringFrom: order)
        }
    }
}
