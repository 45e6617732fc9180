import Foundation
import Testing
import SodiumPSI
@testable import PSIService

/// Member i's list: `size` items, every third one in the hub's list.
func memberItems(_ i: Int, size: Int, query: Int = 0) -> [String] {
    (0..<size).map { j in j % 3 == 0 ? "listed-\((i * 37 + j * 7 + query * 11) % 400)" : "member-\(i)-q\(query)-\(j)" }
}

@Suite("Hub service: members over HTTPS, budgets in the ledger")
struct HubServiceTests {
    @Test("16 concurrent members with different budgets: matches equal the Set intersection, budgets charged exactly")
    func concurrentMembers() async throws {
        // Member i asks two queries of 20 + i items; its day budget fits one query (even i) or both (odd i).
        let sizes = (0..<16).map { 20 + $0 }
        let fixture = try HubFixture(members: (0..<16).map { i in
            ("Bank \(i)", ItemBudget(perDay: i % 2 == 0 ? sizes[i] + 5 : 2 * sizes[i], perMonth: 10_000))
        })
        let hub = try await RunningHub.start(fixture.configuration())
        let listed = Set(fixture.hubItems)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await using(try fixture.client(i, port: hub.port)) { client in
                        for query in 0..<2 {
                            let items = memberItems(i, size: sizes[i], query: query)
                            do {
                                let result = try await client.query(records: fixture.records(items), purpose: fixture.purpose,
                                                                    identifierType: fixture.identifierType)
                                #expect(query == 0 || i % 2 == 1, "member \(i)'s second query should have been over budget")
                                #expect(Set(result.outcome.matches.map(\.original)) == Set(items).intersection(listed))
                                try result.hubReceipt.verify()
                                try result.outcome.receipt.checkSameRun(as: result.hubReceipt)
                            } catch HubServiceError.refused(let status, let code, _) {
                                #expect(status == 429 && code == "over_budget" && query == 1 && i % 2 == 0, "member \(i) query \(query): \(status) \(code)")
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let (day, month) = Ledger.periods(Date())
        for i in 0..<16 {
            let expected = Int64(i % 2 == 0 ? sizes[i] : 2 * sizes[i])
            #expect(try await hub.service.ledger.usage(member: "Bank \(i)", period: "D" + day) == expected)
            #expect(try await hub.service.ledger.usage(member: "Bank \(i)", period: "M" + month) == expected)
        }
        let audit = try await hub.service.ledger.audit()
        #expect(audit.filter { $0.outcome == "answered" }.count == 24)
        #expect(audit.filter { $0.outcome == "over_budget" }.count == 8)
        let reader = try fixture.client(0, port: hub.port)
        let metrics = String(decoding: try await reader.exchange("GET", "/metrics", signed: false).body, as: UTF8.self)
        try await reader.shutdown()
        #expect(metrics.contains("psi_items_evaluated_total"))
        #expect(metrics.contains("psi_refusals_total{reason=\"over_budget\"} 8"))
        #expect(!metrics.contains("listed-"))
        try await hub.stop()
    }

    @Test("Each refusal has its documented status and leaves the ledger unchanged; a retry is answered again without a charge")
    func refusals() async throws {
        let fixture = try HubFixture(members: [("Bank A", ItemBudget(perDay: 100, perMonth: 1000)), ("Bank B", ItemBudget(perDay: 100, perMonth: 1000))])
        let log = CapturedLog()
        let hub = try await RunningHub.start(fixture.configuration(), log: log)
        let client = try fixture.client(0, port: hub.port)
        let ledger = hub.service.ledger
        func snapshot() async throws -> String {
            let requests = try await ledger.requests().map { "\($0.member)/\($0.requestID)/\($0.itemCount)/\($0.state)" }
            let (day, month) = Ledger.periods(Date())
            return "\(requests) \(try await ledger.usage(member: "Bank A", period: "D" + day)) \(try await ledger.usage(member: "Bank A", period: "M" + month))"
        }
        let items = memberItems(0, size: 30)
        let prepared = try await client.prepare(records: fixture.records(items), purpose: fixture.purpose, identifierType: fixture.identifierType)
        let first = try await client.send(prepared)
        #expect(first.chargedItems == 30)
        let before = try await snapshot()

        // A retry: same id, same body: answered again, not charged.
        let retry = try await client.send(prepared)
        #expect(retry.chargedItems == 0 && retry.response == first.response)
        #expect(try await snapshot() == before)

        func expectStatus(_ answer: HubClient.Answer, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let object = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            #expect(answer.status == status, sourceLocation: sourceLocation)
            #expect(object?["error"] as? String == code, "\(object ?? [:])", sourceLocation: sourceLocation)
            #expect(try await snapshot() == before, sourceLocation: sourceLocation)
        }
        // Replayed id with another body: 409.
        let other = try await client.prepare(records: fixture.records(memberItems(0, size: 10, query: 1)), purpose: fixture.purpose,
                                             identifierType: fixture.identifierType)
        try await expectStatus(try await client.exchange("POST", "/v1/evaluate", body: other.requestBytes, requestID: prepared.requestID),
                               409, "request_id_reused")
        // Unknown key: 401.
        let stranger = try HubClient(baseURL: "https://127.0.0.1:\(hub.port)", identity: PartyIdentity(), hub: fixture.hubIdentity.publicKey,
                                     directory: fixture.url("stranger"), trustRootsPEM: fixture.url("tls.crt").path)
        try await expectStatus(try await stranger.exchange("POST", "/v1/evaluate", body: other.requestBytes), 401, "unknown_member")
        try await stranger.shutdown()
        // Outside the clock window: 401.
        try await expectStatus(try await client.exchange("POST", "/v1/evaluate", body: other.requestBytes, signedAt: Date().addingTimeInterval(-3600)),
                               401, "outside_clock_window")
        // A bad signature (signed for one body, another sent): 401.
        let forOtherBody = RequestSignature.sign(hub: fixture.hubIdentity.publicKey, method: "POST", path: "/v1/evaluate", body: [1, 2, 3], requestID: HubClient.newRequestID(),
                                                 identity: fixture.members[0].identity)
        try await expectStatus(try await client.exchange("POST", "/v1/evaluate", body: other.requestBytes, extraHeaders: forOtherBody, signed: false),
                               401, "bad_signature")
        // A request message signed by another member, sent under Bank A's HTTP signature: 401.
        let clientB = try fixture.client(1, port: hub.port)
        let ofB = try await clientB.prepare(records: fixture.records(memberItems(1, size: 10)), purpose: fixture.purpose, identifierType: fixture.identifierType)
        try await expectStatus(try await client.exchange("POST", "/v1/evaluate", body: ofB.requestBytes), 401, "sender_mismatch")
        try await clientB.shutdown()
        // A malformed body: 400 with the file reader's reason.
        let damaged = Array(other.requestBytes.prefix(100))
        let malformed = try await client.exchange("POST", "/v1/evaluate", body: damaged)
        try await expectStatus(malformed, 400, "invalid_request")
        let reason = (try JSONSerialization.jsonObject(with: Data(malformed.body)) as? [String: Any])?["reason"] as? String ?? ""
        #expect(reason.contains("the request body") && !reason.contains(hub.service.workDirectory.path), "\(reason)")
        // Body over the limit, refused from Content-Length: 413.
        try await expectStatus(try await client.exchange("POST", "/v1/evaluate", body: [UInt8](repeating: 0, count: (1 << 20) + 1)), 413, "body_too_large")
        // Over budget: 429 with Retry-After, nothing charged.
        let big = try await client.prepare(records: fixture.records(memberItems(0, size: 80, query: 2)), purpose: fixture.purpose,
                                           identifierType: fixture.identifierType)
        let over = try await client.exchange("POST", "/v1/evaluate", body: big.requestBytes, requestID: big.requestID)
        try await expectStatus(over, 429, "over_budget")
        #expect(over.header("Retry-After") != nil)

        // The setup with ETag: 200, then 304.
        let setup = try await client.exchange("GET", "/v1/setup")
        let setupBytes = [UInt8](try Data(contentsOf: fixture.url("setup.spsi")))
        #expect(setup.status == 200 && setup.body == setupBytes)
        let etag = try #require(setup.header("ETag"))
        #expect(try await client.exchange("GET", "/v1/setup", extraHeaders: [("If-None-Match", etag)]).status == 304)
        // Unsigned reads are refused too.
        #expect(try await client.exchange("GET", "/v1/setup", signed: false).status == 401)
        #expect(try await client.exchange("GET", "/v1/health").status == 200)
        #expect(try await client.exchange("GET", "/v1/ready").status == 200)
        try await client.shutdown()
        try await hub.stop()

        // Every line the service logged, at every level, through answers and each refusal:
        // no item of either side, and none of the request's blinded elements.
        let logged = log.text
        #expect(logged.contains("answered"), "\(logged.prefix(2_000))")
        let asked = items + memberItems(0, size: 10, query: 1) + memberItems(1, size: 10) + memberItems(0, size: 80, query: 2)
        for item in asked + fixture.hubItems { #expect(!logged.contains(item), "the log holds the item \(item)") }
        // The request's last elements: before its 96-byte trailer (digest and signature).
        let bodyEnd = prepared.requestBytes.count - 96
        for k in 1...5 {
            let element = prepared.requestBytes[(bodyEnd - 32 * k)..<(bodyEnd - 32 * (k - 1))]
            let hexElement = element.map { String(format: "%02x", $0) }.joined()
            #expect(!logged.lowercased().contains(hexElement), "the log holds a blinded element")
        }
    }

    @Test("Key rotation: psi hub keygen --rotate, a new setup, a restart on the same ledger: a request made from the old setup gets 409 stale_setup and no charge; the member's next query fetches the new setup and matches")
    func keyRotation() async throws {
        let fixture = try HubFixture(hubItemCount: 60, members: [("Bank A", ItemBudget(perDay: 1000, perMonth: 10_000))])
        let listed = Set(fixture.hubItems)
        let items = memberItems(0, size: 24)
        var hub = try await RunningHub.start(fixture.configuration())
        var client = try fixture.client(0, port: hub.port)
        let before = try await client.query(records: fixture.records(items), purpose: fixture.purpose, identifierType: fixture.identifierType)
        #expect(Set(before.outcome.matches.map(\.original)) == Set(items).intersection(listed))
        // Made from the old setup, sent only after the rotation.
        let stale = try await client.prepare(records: fixture.records(memberItems(0, size: 12, query: 1)), purpose: fixture.purpose,
                                             identifierType: fixture.identifierType)
        try await client.shutdown()
        try await hub.stop()

        // The operator rotates the key with the CLI.
        let oldKey = try HubKey.load(from: fixture.url("hub.key"))
        let rotated = try await PSIHubExecutable.run("psi", ["hub", "keygen", "--rotate", "--key", fixture.url("hub.key").path, "--outcome", "member-learns"])
        #expect(rotated.status == 0, "\(rotated.errors)")
        let newKey = try HubKey.load(from: fixture.url("hub.key"))
        #expect(newKey.keyID != oldKey.keyID)
        // The old setup no longer starts the service: it would publish a setup no answer fits.
        await #expect(throws: UnbalancedPSIError.self) { _ = try await HubService(configuration: fixture.configuration()) }
        let republished = UnbalancedPSIHub(key: newKey, identity: fixture.hubIdentity, purpose: fixture.purpose, identifierType: fixture.identifierType)
        try UnbalancedPSIFileExchange.publishSetup(records: fixture.records(fixture.hubItems), hub: republished, encoding: .truncatedTags(byteCount: 12),
                                                   setupURL: fixture.url("setup.spsi"))
        hub = try await RunningHub.start(fixture.configuration())
        client = try fixture.client(0, port: hub.port)
        let ledger = hub.service.ledger
        let (day, month) = Ledger.periods(Date())
        let usage = (try await ledger.usage(member: "Bank A", period: "D" + day), try await ledger.usage(member: "Bank A", period: "M" + month))
        #expect(usage == (24, 24))
        let requests = try await ledger.requests().map { "\($0.requestID)/\($0.itemCount)/\($0.state)" }

        let answer = try await client.exchange("POST", "/v1/evaluate", body: stale.requestBytes, requestID: stale.requestID)
        let refusal = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        #expect(answer.status == 409 && refusal?["error"] as? String == "stale_setup", "\(answer.status) \(refusal ?? [:])")
        let reason = refusal?["reason"] as? String ?? ""
        #expect(reason.contains(oldKey.keyID.description) && reason.contains(newKey.keyID.description), "\(reason)")
        #expect(try await ledger.usage(member: "Bank A", period: "D" + day) == 24)
        #expect(try await ledger.usage(member: "Bank A", period: "M" + month) == 24)
        #expect(try await ledger.requests().map { "\($0.requestID)/\($0.itemCount)/\($0.state)" } == requests)

        // The member's next query refreshes the setup (a new ETag) and is answered under the new key.
        let after = try await client.query(records: fixture.records(items), purpose: fixture.purpose, identifierType: fixture.identifierType)
        #expect(Set(after.outcome.matches.map(\.original)) == Set(items).intersection(listed))
        #expect(after.hubReceipt.setupDigest != nil && after.hubReceipt.setupDigest != before.hubReceipt.setupDigest)
        #expect(try await ledger.usage(member: "Bank A", period: "D" + day) == 48)
        try await client.shutdown()
        try await hub.stop()
    }

    @Test("A request signed for hub A, replayed to hub B that knows the same member key: 401 other_hub, nothing charged at B")
    func signatureBindsTheHub() async throws {
        let budget = ItemBudget(perDay: 100, perMonth: 1000)
        let fixtureA = try HubFixture(hubItemCount: 50, members: [("Bank A", budget)])
        let fixtureB = try HubFixture(hubItemCount: 50, members: [("Bank A", budget)], identities: [fixtureA.members[0].identity])
        let hubA = try await RunningHub.start(fixtureA.configuration())
        let hubB = try await RunningHub.start(fixtureB.configuration())
        let clientA = try fixtureA.client(0, port: hubA.port)
        let clientB = try fixtureB.client(0, port: hubB.port)
        let prepared = try await clientA.prepare(records: fixtureA.records(memberItems(0, size: 5)), purpose: fixtureA.purpose,
                                                 identifierType: fixtureA.identifierType)
        // The headers hub A accepts, captured and sent as they are to hub B.
        let headers = RequestSignature.sign(hub: fixtureA.hubIdentity.publicKey, method: "POST", path: "/v1/evaluate", body: prepared.requestBytes,
                                            requestID: prepared.requestID, identity: fixtureA.members[0].identity)
        let atA = try await clientA.exchange("POST", "/v1/evaluate", body: prepared.requestBytes, extraHeaders: headers, signed: false)
        #expect(atA.status == 200)
        let atB = try await clientB.exchange("POST", "/v1/evaluate", body: prepared.requestBytes, extraHeaders: headers, signed: false)
        let refusal = try JSONSerialization.jsonObject(with: Data(atB.body)) as? [String: Any]
        #expect(atB.status == 401 && refusal?["error"] as? String == "other_hub")
        #expect(refusal?["reason"] as? String
                == "the request is signed for the hub \(fixtureA.hubIdentity.publicKey.fingerprint); this hub is \(fixtureB.hubIdentity.publicKey.fingerprint)")
        // The PSI-Hub header rewritten to name hub B: the signature covers the hub key, so it no longer verifies.
        let rewritten = headers.map { $0.0 == RequestSignature.hubHeader ? ($0.0, fixtureB.hubIdentity.publicKey.hex) : $0 }
        let forged = try await clientB.exchange("POST", "/v1/evaluate", body: prepared.requestBytes, extraHeaders: rewritten, signed: false)
        let forgedRefusal = try JSONSerialization.jsonObject(with: Data(forged.body)) as? [String: Any]
        #expect(forged.status == 401 && forgedRefusal?["error"] as? String == "bad_signature")
        #expect(try await hubB.service.ledger.requests().isEmpty)
        #expect(try await hubB.service.ledger.audit().isEmpty)
        try await clientA.shutdown()
        try await clientB.shutdown()
        try await hubA.stop()
        try await hubB.stop()
    }

    @Test("A body trickling in a byte at a time is cut off within the bound (rate, then total deadline): 408, closed, ledger unchanged",
          arguments: [(minimumRate: 1000, bodyTimeout: 30, bound: 3.0), (minimumRate: 0, bodyTimeout: 2, bound: 4.0)])
    func slowClientCutOff(minimumRate: Int, bodyTimeout: Int, bound: Double) async throws {
        let fixture = try HubFixture(hubItemCount: 50, members: [("Bank A", ItemBudget(perDay: 100, perMonth: 1000))])
        var configuration = fixture.configuration()
        // Plain HTTP, so that a raw socket writes the body byte by byte (TLS would not change the bound).
        configuration.certificatePath = nil
        configuration.privateKeyPath = nil
        configuration.minimumBodyBytesPerSecond = minimumRate
        configuration.bodyTimeoutSeconds = bodyTimeout
        let hub = try await RunningHub.start(configuration)
        let client = try HubClient(baseURL: "http://127.0.0.1:\(hub.port)", identity: fixture.members[0].identity, hub: fixture.hubIdentity.publicKey,
                                   directory: fixture.url("member"))
        let prepared = try await client.prepare(records: fixture.records(memberItems(0, size: 10)), purpose: fixture.purpose,
                                                identifierType: fixture.identifierType)
        var head = "POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            + "Content-Length: \(prepared.requestBytes.count)\r\n"
        for (name, value) in RequestSignature.sign(hub: fixture.hubIdentity.publicKey, method: "POST", path: "/v1/evaluate",
                                                   body: prepared.requestBytes, requestID: prepared.requestID, identity: fixture.members[0].identity) {
            head += "\(name): \(value)\r\n"
        }
        // 20 bytes a second: the whole body would take \(prepared.requestBytes.count / 20) s.
        let slow = await trickle(port: hub.port, head: head + "\r\n", body: prepared.requestBytes, interval: 0.05)
        #expect(slow.written < prepared.requestBytes.count)
        #expect(slow.answer.hasPrefix("HTTP/1.1 408"), "\(slow.answer)")
        #expect(slow.answer.contains("\"error\":\"request_timeout\""), "\(slow.answer)")
        #expect(slow.seconds < bound, "cut off after \(slow.seconds) s")
        if minimumRate == 0 { #expect(slow.seconds >= Double(bodyTimeout)) }
        #expect(try await hub.service.ledger.requests().isEmpty)
        #expect(try await hub.service.ledger.audit().isEmpty)
        let metrics = String(decoding: try await client.exchange("GET", "/metrics", signed: false).body, as: UTF8.self)
        #expect(metrics.contains("psi_refusals_total{reason=\"request_timeout\"} 1"))
        // Nothing was reserved: the same request sent at full speed is answered and charged once.
        let answered = try await client.send(prepared)
        #expect(answered.chargedItems == 10)
        try await client.shutdown()
        try await hub.stop()
    }

    @Test("Beyond the concurrency cap: 503 with Retry-After, nothing charged")
    func concurrencyCap() async throws {
        let fixture = try HubFixture(hubItemCount: 50, members: [("Bank A", ItemBudget(perDay: 100, perMonth: 1000))])
        var configuration = fixture.configuration()
        configuration.maximumConcurrentEvaluations = 0
        let hub = try await RunningHub.start(configuration)
        let client = try fixture.client(0, port: hub.port)
        let prepared = try await client.prepare(records: fixture.records(memberItems(0, size: 5)), purpose: fixture.purpose,
                                                identifierType: fixture.identifierType)
        let answer = try await client.exchange("POST", "/v1/evaluate", body: prepared.requestBytes, requestID: prepared.requestID)
        #expect(answer.status == 503 && answer.header("Retry-After") == "1")
        #expect(try await hub.service.ledger.requests().isEmpty)
        try await client.shutdown()
        try await hub.stop()
    }
}
