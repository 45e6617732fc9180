import Foundation
import Testing
@testable import SodiumPSI

@Suite("Signed run receipts")
struct ReceiptTests {
    static let listA = (0..<40).map { "receipt-item-\($0)" }, listB = (25..<70).map { "receipt-item-\($0)" }

    /// A whole mutual exchange over files; both parties' outcomes (B's nil when only A learns,
    /// its receipt then comes from respond).
    static func mutualRun(_ dir: URL, outcome: MutualPSIOutcome = .bothLearn, tag: String = "")
        -> (a: MutualPSIFileExchange.Outcome, bReceipt: RunReceipt, blindingB: MutualPSIFileExchange.Blinding) {
        let file = { (name: String) in dir.appendingPathComponent(tag + name) }
        let config = MutualPSIConfiguration(purpose: try! PurposeLabel("receipts"), outcome: outcome)
        try! MutualPSIFileExchange.initiate(records: StreamingTests.records(listA), configuration: config, stateURL: file("a.state"),
                                            messageURL: file("1.spsi"))
        let blindingB = try! MutualPSIFileExchange.respond(records: StreamingTests.records(listB), configuration: config.counterpart,
                                                           requestURL: file("1.spsi"), stateURL: file("b.state"),
                                                           responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"))
        let a = try! MutualPSIFileExchange.finishInitiator(identity: TestParties.a, stateURL: file("a.state"), responderSetURL: file("2a.spsi"),
                                                           reblindedURL: file("2b.spsi"), replyURL: file("3.spsi"))
        let bReceipt = outcome == .initiatorLearns ? blindingB.receipt!
            : try! MutualPSIFileExchange.finishResponder(identity: TestParties.b, stateURL: file("b.state"), replyURL: file("3.spsi")).receipt
        return (a, bReceipt, blindingB)
    }

    static func sha(_ url: URL) throws -> [UInt8] { sha256(try [UInt8](Data(contentsOf: url))) }

    @Test("Both parties' receipts of one mutual run verify, agree, and name every message file by its SHA-256",
          arguments: MutualPSIOutcome.allCases)
    func mutualReceipts(_ outcome: MutualPSIOutcome) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b, blindingB) = Self.mutualRun(dir, outcome: outcome)
        let receiptA = a.receipt
        try receiptA.verify()
        try b.verify()
        try receiptA.checkSameRun(as: b)
        try b.checkSameRun(as: receiptA)
        let url = { (name: String) in dir.appendingPathComponent(name) }
        let step1 = RunReceipt.Message(kind: 1, sha256: try Self.sha(url("1.spsi")))
        let step2 = [RunReceipt.Message(kind: 2, sha256: try Self.sha(url("2a.spsi"))), RunReceipt.Message(kind: 3, sha256: try Self.sha(url("2b.spsi")))]
        let step3 = outcome == .initiatorLearns ? [] : [RunReceipt.Message(kind: 4, sha256: try Self.sha(url("3.spsi")))]
        #expect(receiptA.sent == [step1] + step3 && receiptA.received == step2)
        #expect(b.sent == step2 && b.received == [step1] + step3)
        #expect(receiptA.role == .initiator && b.role == .responder)
        #expect(receiptA.party == TestParties.a.publicKey && receiptA.peer == TestParties.b.publicKey && b.party == TestParties.b.publicKey)
        #expect(receiptA.ownSetSize == 40 && receiptA.peerSetSize == 45 && b.ownSetSize == 45 && b.peerSetSize == 40)
        #expect(receiptA.resultCount == 15 && b.resultCount == (outcome == .initiatorLearns ? nil : 15))
        #expect(receiptA.sessionID == blindingB.context.sessionID && receiptA.purpose.value == "receipts")
        #expect(receiptA.startedAt <= receiptA.finishedAt)
        #expect(blindingB.receipt == (outcome == .initiatorLearns ? b : nil))
        // Written and read back: the same receipt, still verifying.
        try receiptA.write(to: url("a.receipt.json"))
        let read = try RunReceipt(contentsOf: url("a.receipt.json"))
        #expect(read == receiptA)
        try read.checkSameRun(as: b)
    }

    @Test("A receipt holds no item, match or secret")
    func noItemsOrSecrets() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b, _) = Self.mutualRun(dir)
        let secretA = try ForgedContainer(contentsOf: dir.appendingPathComponent("a.state")).secret
        for receipt in [a.receipt, b] {
            let text = String(decoding: try receipt.jsonData(), as: UTF8.self) + String(decoding: receipt.signedBytes, as: UTF8.self)
            for item in Self.listA + Self.listB { #expect(!text.contains(item)) }
            #expect(!text.contains(secretA.hexString))
            #expect(!text.contains(TestParties.a.withSeedBytes { Array($0) }.hexString))
        }
    }

    @Test("A receipt with any field changed fails: the signature, or the derived field, no longer matches")
    func alteredFields() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let receipt = Self.mutualRun(dir).a.receipt
        let good = try JSONSerialization.jsonObject(with: try receipt.jsonData()) as! [String: Any]
        let signer = TestParties.a.publicKey.fingerprint
        let other = PartyIdentity().publicKey
        let changes: [(String, Any)] = [
            ("tool", "SodiumPSI 9.9.9"), ("role", "responder"), ("suite", "x25519-ELL2-SHA512"), ("outcome", "cardinality-only"),
            ("identifierType", "phone numbers"), ("purpose", "another purpose"), ("session", String(repeating: "ab", count: 16)),
            ("peer", ["publicKey": other.hex, "fingerprint": other.fingerprint]), ("ownSetSize", 41), ("peerSetSize", NSNull()),
            ("resultCount", 14), ("setupDigest", String(repeating: "00", count: 32)),
            ("sent", [["kind": 1, "sha256": String(repeating: "11", count: 32)]]), ("received", [[String: Any]]()),
            ("startedAt", "2020-01-01T00:00:00Z"), ("finishedAt", "2099-01-01T00:00:00Z"),
            ("protocol", "unbalanced"),
        ]
        for (field, value) in changes {
            var object = good
            object[field] = value
            // The purpose digest is derived: a forger changes it with the label.
            if field == "purpose" { object["purposeDigest"] = try PurposeLabel(value as! String).digest.hexString }
            let forged = try RunReceipt(json: try JSONSerialization.data(withJSONObject: object), origin: "r.json")
            #expect(throws: ReceiptError.badSignature(path: "r.json", signer: signer), "\(field)") { try forged.verify(origin: "r.json") }
        }
        // The signer's key replaced: the signature is checked with that key, and fails.
        var swapped = good
        swapped["party"] = ["publicKey": other.hex, "fingerprint": other.fingerprint]
        #expect(throws: ReceiptError.badSignature(path: "r.json", signer: other.fingerprint)) {
            try RunReceipt(json: try JSONSerialization.data(withJSONObject: swapped), origin: "r.json").verify(origin: "r.json")
        }
        var signature = [UInt8](hexString: good["signature"] as! String)!
        signature[0] ^= 1
        var flipped = good
        flipped["signature"] = signature.hexString
        #expect(throws: ReceiptError.badSignature(path: "r.json", signer: signer)) {
            try RunReceipt(json: try JSONSerialization.data(withJSONObject: flipped), origin: "r.json").verify(origin: "r.json")
        }
        // Fields derived from signed ones, unknown and missing fields, and line breaks are refused when read.
        func refusal(_ edit: (inout [String: Any]) -> Void) -> ReceiptError? {
            var object = good
            edit(&object)
            do { _ = try RunReceipt(json: try JSONSerialization.data(withJSONObject: object), origin: "r.json"); return nil } catch {
                return error as? ReceiptError
            }
        }
        #expect(refusal { $0["purposeDigest"] = String(repeating: "00", count: 32) }
            == .invalidReceipt(path: "r.json", reason: "the purpose digest is not the purpose label's"))
        #expect(refusal { $0["party"] = ["publicKey": TestParties.a.publicKey.hex, "fingerprint": other.fingerprint] }
            == .invalidReceipt(path: "r.json", reason: "the party's fingerprint \(other.fingerprint) is not its key's, \(signer)"))
        #expect(refusal { $0["matches"] = ["+8613800138000"] } == .invalidReceipt(path: "r.json", reason: "unknown field \"matches\""))
        #expect(refusal { $0["signature"] = nil } == .invalidReceipt(path: "r.json", reason: "missing field \"signature\""))
        #expect(refusal { $0["tool"] = "SodiumPSI\nrole=responder" }
            == .invalidReceipt(path: "r.json", reason: "\"tool\" is not a string of printable text"))
        #expect(refusal { $0["format"] = 2 } == .invalidReceipt(path: "r.json", reason: "format 2; this version of the library reads format 1"))
        #expect(refusal { _ in } == nil)
    }

    @Test("Receipts of different runs are flagged, naming the field that differs")
    func differentRuns() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = Self.mutualRun(dir, tag: "first-")
        let second = Self.mutualRun(dir, tag: "second-")
        try first.a.receipt.checkSameRun(as: first.bReceipt)
        #expect(throws: ReceiptError.differentRuns(field: "session", first: first.a.receipt.sessionID.description,
                                                   second: second.bReceipt.sessionID.description)) {
            try first.a.receipt.checkSameRun(as: second.bReceipt)
        }
        #expect(throws: ReceiptError.differentRuns(field: "role", first: "responder", second: "initiator")) {
            try first.a.receipt.checkSameRun(as: second.a.receipt)
        }
        // Another exchange with a message of the same session would differ in its files: a
        // receipt B signed over another step 3 than the one A sent.
        let forgedB = RunReceipt(role: .responder, protocolID: .mutual, suite: first.bReceipt.suite, outcome: first.bReceipt.outcome,
                                 identifierType: first.bReceipt.identifierType, purpose: first.bReceipt.purpose,
                                 sessionID: first.bReceipt.sessionID, identity: TestParties.b, peer: TestParties.a.publicKey,
                                 ownSetSize: first.bReceipt.ownSetSize, peerSetSize: first.bReceipt.peerSetSize,
                                 resultCount: first.bReceipt.resultCount, setupDigest: nil, sent: first.bReceipt.sent,
                                 received: [first.bReceipt.received[0], RunReceipt.Message(kind: 4, sha256: [UInt8](repeating: 7, count: 32))],
                                 startedAt: first.bReceipt.startedAt, finishedAt: first.bReceipt.finishedAt)
        #expect(throws: ReceiptError.self) { try first.a.receipt.checkSameRun(as: forgedB) }
        do { try first.a.receipt.checkSameRun(as: forgedB) } catch ReceiptError.differentRuns(let field, _, _) {
            #expect(field == "messages sent and received")
        }
    }

    @Test("Unbalanced: the hub's receipt per request and the member's per query agree, setups named by digest")
    func unbalancedReceipts() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(["a", "b", "c", "d"])
        try UnbalancedPSIFileExchange.publishDelta(records: HubAndMember.records(["e"]), hub: files.hub, baseURL: files.url("setup.spsi"),
                                                   deltaURL: files.url("delta.spsi"))
        let member = try files.request(["a", "e", "z"])
        let answer = try UnbalancedPSIFileExchange.respond(hub: files.hub, requestURL: files.url("request.spsi"),
                                                           responseURL: files.url("response.spsi"))
        let outcome = try files.finish(deltas: ["delta.spsi"])
        let hub = answer.receipt, mine = outcome.receipt
        try hub.checkSameRun(as: mine)
        try mine.checkSameRun(as: hub)
        #expect(hub.role == .hub && mine.role == .member && hub.peer == TestParties.member.publicKey)
        #expect(hub.sent == [RunReceipt.Message(kind: 4, sha256: try Self.sha(files.url("response.spsi")))])
        #expect(hub.received == [RunReceipt.Message(kind: 3, sha256: try Self.sha(files.url("request.spsi")))])
        #expect(mine.received == [RunReceipt.Message(kind: 4, sha256: try Self.sha(files.url("response.spsi"))),
                                  RunReceipt.Message(kind: 1, sha256: try Self.sha(files.url("setup.spsi"))),
                                  RunReceipt.Message(kind: 2, sha256: try Self.sha(files.url("delta.spsi")))])
        #expect(hub.setupDigest == member.context.setupDigest && mine.setupDigest == member.context.setupDigest)
        #expect(hub.ownSetSize == nil && hub.peerSetSize == 3 && hub.resultCount == nil)
        #expect(mine.ownSetSize == 3 && mine.peerSetSize == 5 && mine.resultCount == 2)
        // Another query's hub receipt does not match this member receipt.
        try files.request(["b"], state: "m2.state", to: "r2.spsi")
        let other = try UnbalancedPSIFileExchange.respond(hub: files.hub, requestURL: files.url("r2.spsi"), responseURL: files.url("x2.spsi"))
        #expect(throws: ReceiptError.differentRuns(field: "session", first: mine.sessionID.description,
                                                   second: other.receipt.sessionID.description)) {
            try mine.checkSameRun(as: other.receipt)
        }
    }
}
