import Foundation
import Testing
@testable import SodiumPSI

@Suite("Trust: parties bound to every message")
struct TrustTests {
    static let purpose = try! PurposeLabel("trust tests")
    static let items = plainItems((0..<30).map { "t\($0)" })

    @Test("In memory: a relayed step 1, a message for another party and another identifier type are refused")
    func inMemoryRelay() throws {
        let config = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn)
        let a = try MutualPSIInitiator(items: Self.items, configuration: config)
        // A third bank C that trusts A, handed A's step 1 (addressed to B).
        let c = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn, identity: TestParties.outsider,
                                       peer: TestParties.a.publicKey, identifierType: .plain)
        var responderC = try MutualPSIResponder(items: Self.items, configuration: c)
        #expect(throws: MessageFileError.wrongRecipient(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, found: TestParties.b.publicKey.fingerprint, expected: TestParties.outsider.publicKey.fingerprint)) {
            try responderC.respond(to: a.blindedSet)
        }
        // B, which trusts only A, handed C's step 1.
        let fromC = try MutualPSIInitiator(items: Self.items, configuration: MutualPSIConfiguration(
            purpose: Self.purpose, outcome: .bothLearn, identity: TestParties.outsider, peer: TestParties.b.publicKey, identifierType: .plain))
        var b = try MutualPSIResponder(items: Self.items, configuration: config.counterpart)
        #expect(throws: MessageFileError.untrustedSender(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, sender: TestParties.outsider.publicKey.fingerprint, expected: TestParties.a.publicKey.fingerprint)) {
            try b.respond(to: fromC.blindedSet)
        }
        // B declared case-insensitive plain identifiers; A did not.
        var caseless = config.counterpart
        caseless.identifierType = IdentifierType(kind: .plain, caseInsensitive: true)
        var other = try MutualPSIResponder(items: Self.items, configuration: caseless)
        #expect(throws: MessageFileError.identifierTypeMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, found: "plain identifiers", expected: "plain identifiers, case-insensitive")) {
            try other.respond(to: a.blindedSet)
        }
        // Step 2 handed back to another initiator's state is refused too: its sender is not that initiator's peer.
        let reply = try b.respond(to: a.blindedSet)
        #expect(reply.responderBlindedSet.sender == TestParties.b.publicKey && reply.responderBlindedSet.recipient == TestParties.a.publicKey)
        let done = try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(done.result.count == Self.items.count)
    }

    @Test("Over files: the responder refuses a relayed request and writes nothing; finish steps refuse another identity or peer")
    func fileRelay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = { (name: String) in dir.appendingPathComponent(name) }
        let records = Self.items.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) }
        let config = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn)
        try MutualPSIFileExchange.initiate(records: records, configuration: config, stateURL: file("a.state"), messageURL: file("1.spsi"))
        // The outsider re-signs A's step 1 as its own and sends it to B.
        var bytes = try [UInt8](Data(contentsOf: file("1.spsi")))
        put(TestParties.outsider.publicKey.bytes, at: 84, in: &bytes)
        let digest = sha256(Array(bytes.dropLast(96)))
        bytes.replaceSubrange((bytes.count - 96)..., with: digest + TestParties.outsider.signature(of: MessageHeader.signedBytes(digest: digest)))
        try Data(bytes).write(to: file("relayed.spsi"))
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(throws: MessageFileError.untrustedSender(path: file("relayed.spsi").path, sender: TestParties.outsider.publicKey.fingerprint,
                                                         expected: TestParties.a.publicKey.fingerprint)) {
            try MutualPSIFileExchange.respond(records: records, configuration: config.counterpart, requestURL: file("relayed.spsi"),
                                              stateURL: file("b.state"), responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == before)
        try MutualPSIFileExchange.respond(records: records, configuration: config.counterpart, requestURL: file("1.spsi"),
                                          stateURL: file("b.state"), responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"))
        #expect(throws: PSIError.identityMismatch(found: TestParties.outsider.publicKey.fingerprint, expected: TestParties.a.publicKey.fingerprint)) {
            try MutualPSIFileExchange.finishInitiator(stateURL: file("a.state"), identity: TestParties.outsider, peer: TestParties.b.publicKey,
                                                      responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"), replyURL: file("3.spsi"))
        }
        #expect(throws: PSIError.peerMismatch(found: TestParties.outsider.publicKey.fingerprint, expected: TestParties.b.publicKey.fingerprint)) {
            try MutualPSIFileExchange.finishInitiator(stateURL: file("a.state"), identity: TestParties.a, peer: TestParties.outsider.publicKey,
                                                      responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"), replyURL: file("3.spsi"))
        }
        #expect(throws: PSIError.identityMismatch(found: TestParties.a.publicKey.fingerprint, expected: TestParties.b.publicKey.fingerprint)) {
            try MutualPSIResponder(restoringFrom: file("b.state"), identity: TestParties.a)
        }
        #expect(!FileManager.default.fileExists(atPath: file("3.spsi").path))
        let outcome = try MutualPSIFileExchange.finishInitiator(stateURL: file("a.state"), identity: TestParties.a, peer: TestParties.b.publicKey,
                                                                responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"),
                                                                replyURL: file("3.spsi"))
        #expect(outcome.result.count == Self.items.count)
    }

    @Test("Unbalanced: the hub answers only its members; members accept only their hub's setups and responses")
    func unbalancedParties() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(["a", "b", "c"])
        let setupHeader = try MessageFileReader.inspect(url: files.url("setup.spsi")).header
        #expect(setupHeader.sender == TestParties.hub.publicKey && setupHeader.recipient == nil && setupHeader.identifierType == .plain)
        // A member that trusts another hub refuses this setup.
        #expect(throws: MessageFileError.untrustedSender(path: files.path("setup.spsi"), sender: TestParties.hub.publicKey.fingerprint,
                                                         expected: TestParties.outsider.publicKey.fingerprint)) {
            try UnbalancedPSIFileExchange.request(records: HubAndMember.records(["a"]), purpose: Unbalanced.purpose, identifierType: .plain,
                                                  identity: TestParties.member, hub: TestParties.outsider.publicKey,
                                                  setupURL: files.url("setup.spsi"), stateURL: files.url("m.state"), requestURL: files.url("r.spsi"))
        }
        // A member of another identifier type is refused, naming both.
        #expect(throws: MessageFileError.identifierTypeMismatch(path: files.path("setup.spsi"), found: "plain identifiers", expected: "phone numbers")) {
            try UnbalancedPSIFileExchange.request(records: [], purpose: Unbalanced.purpose, identifierType: .phone, identity: TestParties.member,
                                                  hub: TestParties.hub.publicKey, setupURL: files.url("setup.spsi"),
                                                  stateURL: files.url("m.state"), requestURL: files.url("r.spsi"))
        }
        // A party that is not a member: its request is refused from the header.
        try UnbalancedPSIFileExchange.request(records: HubAndMember.records(["a", "z"]), purpose: Unbalanced.purpose, identifierType: .plain,
                                              identity: TestParties.outsider, hub: TestParties.hub.publicKey, setupURL: files.url("setup.spsi"),
                                              stateURL: files.url("o.state"), requestURL: files.url("outsider.spsi"))
        #expect(throws: MessageFileError.untrustedSender(path: files.path("outsider.spsi"), sender: TestParties.outsider.publicKey.fingerprint,
                                                         expected: TestParties.member.publicKey.fingerprint)) {
            try files.respond("outsider.spsi")
        }
        // In memory, the same refusal.
        let member0 = try files.request(["a"], state: "m0.state", to: "r0.spsi")
        let outsiderMember = try UnbalancedPSIMember(items: Unbalanced.items(["a"]), purpose: Unbalanced.purpose, identifierType: .plain,
                                                     setupDigest: member0.context.setupDigest, keyID: files.hub.key.keyID, answerMode: .intersection, identity: TestParties.outsider,
                                                     hub: TestParties.hub.publicKey)
        #expect(throws: PSIError.untrustedSender(sender: TestParties.outsider.publicKey.fingerprint, expected: "one of the hub's 1 members")) {
            try files.hub.respond(to: outsiderMember.request)
        }
        // A request for another hub.
        let forOther = try UnbalancedPSIMember(items: Unbalanced.items(["a"]), purpose: Unbalanced.purpose, identifierType: .plain,
                                               setupDigest: member0.context.setupDigest, keyID: files.hub.key.keyID, answerMode: .intersection, identity: TestParties.member,
                                               hub: TestParties.outsider.publicKey)
        #expect(throws: PSIError.wrongRecipient(found: TestParties.outsider.publicKey.fingerprint, expected: TestParties.hub.publicKey.fingerprint)) {
            try files.hub.respond(to: forOther.request)
        }
        try forOther.request.write(to: files.url("other-hub.spsi"), signedBy: TestParties.member)
        #expect(throws: MessageFileError.wrongRecipient(path: files.path("other-hub.spsi"), found: TestParties.outsider.publicKey.fingerprint,
                                                        expected: TestParties.hub.publicKey.fingerprint)) {
            try files.respond("other-hub.spsi")
        }
        // The genuine member; a response signed by another party than the hub is refused.
        let member = try files.request(["a", "z"])
        try files.respond()
        let honest = try files.hub.respond(to: member.request)
        let forged = UnbalancedResponse(context: UnbalancedQueryContext(
            sessionID: member.context.sessionID, setupDigest: member.context.setupDigest, keyID: member.context.keyID,
            purposeDigest: member.context.purposeDigest, answerMode: member.context.answerMode, member: TestParties.member.publicKey,
            hub: TestParties.outsider.publicKey, identifierType: .plain), evaluatedElements: honest.evaluatedElements, proofs: honest.proofs)
        try forged.write(to: files.url("forged.spsi"), signedBy: TestParties.outsider)
        #expect(throws: MessageFileError.untrustedSender(path: files.path("forged.spsi"), sender: TestParties.outsider.publicKey.fingerprint,
                                                         expected: TestParties.hub.publicKey.fingerprint)) {
            try files.finish(response: "forged.spsi")
        }
        #expect(throws: PSIError.untrustedSender(sender: TestParties.outsider.publicKey.fingerprint, expected: TestParties.hub.publicKey.fingerprint)) {
            try member.finish(response: forged, setup: try UnbalancedSetup.read(from: files.url("setup.spsi")))
        }
        #expect(throws: PSIError.identityMismatch(found: TestParties.outsider.publicKey.fingerprint, expected: TestParties.member.publicKey.fingerprint)) {
            try UnbalancedPSIFileExchange.finish(stateURL: files.url("member.state"), identity: TestParties.outsider, hub: TestParties.hub.publicKey,
                                                 responseURL: files.url("response.spsi"), setupURL: files.url("setup.spsi"))
        }
        #expect(try files.finish().result.count == 1)
    }

    @Test("Identity files: round trip with mode 0600, never replaced without being asked, damage refused")
    func identityFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("me.identity")
        let identity = PartyIdentity()
        try identity.save(to: url)
        #expect(try fileMode(url) == 0o600)
                let loaded = try PartyIdentity(contentsOf: url)
        #expect(loaded.publicKey == identity.publicKey)
        #expect(loaded.signature(of: [1, 2, 3]) == identity.signature(of: [1, 2, 3]))
        #expect(throws: TrustError.identityFileExists(path: url.path)) { try PartyIdentity().save(to: url) }
        #expect(try PartyIdentity(contentsOf: url).publicKey == identity.publicKey)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["me.identity"])
        let replacement = PartyIdentity()
        try replacement.save(to: url, replacing: true)
        #expect(try PartyIdentity(contentsOf: url).publicKey == replacement.publicKey)

        // The secret-file container: header 19, seed 32, public key 32, no description, trailer 48.
        let bytes = try [UInt8](Data(contentsOf: url))
        #expect(bytes.count == 131 && Array(bytes[0..<11]) == Array("SPSISECR".utf8) + [1, 5, 1])
        #expect(Array(bytes[51..<83]) == replacement.publicKey.bytes)
        let path = dir.appendingPathComponent("damaged.identity").path
        func write(_ b: [UInt8]) throws -> URL {
            let damaged = URL(fileURLWithPath: path)
            try? FileManager.default.removeItem(at: damaged)
            try SecretFile.write(b, to: damaged)
            return damaged
        }
        func refusal(_ reason: String) -> TrustError { .invalidIdentityFile(path: path, reason: reason) }
        #expect(throws: refusal("its content does not match its digest; the file is damaged")) {
            try PartyIdentity(contentsOf: write({ var b = bytes; b[20] ^= 1; return b }()))
        }
        #expect(throws: refusal("a party identity of layout version 2; this version of the library reads version 1")) {
            try PartyIdentity(contentsOf: write(redigested({ var b = bytes; b[10] = 2; return b }())))
        }
        #expect(throws: refusal("it is 130 bytes long; a party identity is exactly 131 bytes")) {
            try PartyIdentity(contentsOf: write(Array(bytes.dropLast())))
        }
        #expect(throws: refusal("it does not start with the secret-file magic SPSISECR")) {
            try PartyIdentity(contentsOf: write(Array("SPSISTAT".utf8) + bytes.dropFirst(8)))
        }
        let hubKey = dir.appendingPathComponent("hub.key")
        try HubKey.generate(answerMode: .intersection).save(to: hubKey)
        #expect(throws: TrustError.invalidIdentityFile(path: hubKey.path, reason: "it holds a hub key; expected a party identity")) {
            try PartyIdentity(contentsOf: hubKey)
        }
        // A public key that is not the seed's, with the digest recomputed.
        #expect(throws: refusal("the stored public key does not match the seed; the file is damaged")) {
            try PartyIdentity(contentsOf: write(redigested({ var b = bytes; b.replaceSubrange(51..<83, with: PartyIdentity().publicKey.bytes); return b }())))
        }
        // Loose permissions: StateFileTests.loosePermissions, with every other kind of secret file.
    }

    @Test("Peers files: names, keys and purposes; every mistake refused with where and why")
    func peersFiles() throws {
        let keyA = TestParties.a.publicKey, keyB = TestParties.b.publicKey
        let json = """
        {"peers": [{"name": "Bank A", "publicKey": "\(keyA.hex)", "purposes": ["2026 agent numbers"]},
                   {"name": "Bank B", "publicKey": "\(keyB.hex)"}]}
        """
        let list = try PeerList(json: Data(json.utf8), origin: "peers.json")
        let purpose = try PurposeLabel("2026 agent numbers"), other = try PurposeLabel("forged documents")
        #expect(try list.peer(named: "Bank A", for: purpose).publicKey == keyA)
        #expect(try list.peer(named: "Bank B", for: other).publicKey == keyB)
        #expect(throws: TrustError.peerNotAllowed(path: "peers.json", name: "Bank A", fingerprint: keyA.fingerprint,
                                                  purpose: "forged documents", allowed: ["2026 agent numbers"])) {
            try list.peer(named: "Bank A", for: other)
        }
        #expect(throws: TrustError.unknownPeer(path: "peers.json", name: "Bank C", known: ["Bank A", "Bank B"])) {
            try list.peer(named: "Bank C", for: purpose)
        }
        #expect(list.peers(for: other).map(\.name) == ["Bank B"])
        #expect(list.name(of: keyB) == "Bank B" && list.name(of: TestParties.outsider.publicKey) == nil)

        func refusal(_ text: String) -> TrustError? {
            do { _ = try PeerList(json: Data(text.utf8), origin: "p.json"); return nil } catch { return error as? TrustError }
        }
        let bad = "00" + keyA.hex.dropFirst(2)
        #expect(refusal("[]") == .invalidPeersFile(path: "p.json", reason: "expected a JSON object with a \"peers\" array"))
        #expect(refusal("{") == .invalidPeersFile(path: "p.json", reason: "it is not valid JSON; expected {\"peers\": [...]}"))
        #expect(refusal("{\"peers\": [], \"peer\": 1}") == .invalidPeersFile(path: "p.json", reason: "unknown field \"peer\" at the top level; expected only \"peers\""))
        #expect(refusal("{\"peers\": [{\"name\": \"X\", \"publicKey\": \"\(keyA.hex)\", \"purpose\": [\"p\"]}]}")
            == .invalidPeersFile(path: "p.json", reason: "entry 1 has the unknown field \"purpose\"; expected name, publicKey and optionally purposes"))
        #expect(refusal("{\"peers\": [{\"publicKey\": \"\(keyA.hex)\"}]}")
            == .invalidPeersFile(path: "p.json", reason: "entry 1 has no name; expected a non-empty \"name\" string"))
        #expect(refusal("{\"peers\": [{\"name\": \"X\", \"publicKey\": \"\(bad)\"}]}") == .invalidPeersFile(path: "p.json",
            reason: "entry 1 (\"X\") has no valid publicKey; expected 64 hex digits of an Ed25519 public key (psi identity show prints it)"))
        #expect(refusal("{\"peers\": [{\"name\": \"X\", \"publicKey\": \"\(keyA.hex)\", \"purposes\": []}]}") == .invalidPeersFile(path: "p.json",
            reason: "entry 1 (\"X\"): purposes must be a non-empty array of purpose labels (leave it out to allow any purpose)"))
        #expect(refusal("{\"peers\": [{\"name\": \"X\", \"publicKey\": \"\(keyA.hex)\"}, {\"name\": \"X\", \"publicKey\": \"\(keyB.hex)\"}]}")
            == .invalidPeersFile(path: "p.json", reason: "entry 2 repeats the name \"X\" of entry 1; expected unique names"))
        #expect(refusal("{\"peers\": [{\"name\": \"X\", \"publicKey\": \"\(keyA.hex)\"}, {\"name\": \"Y\", \"publicKey\": \"\(keyA.hex)\"}]}")
            == .invalidPeersFile(path: "p.json", reason: "entry 2 (\"Y\") repeats the public key of entry 1 (\"X\"); expected one entry a key"))
    }
}
