import Foundation
import Testing
import SodiumPSI
@testable import PSIService

@Suite("Docs/openapi.json matches the server")
struct OpenAPITests {
    static func document() throws -> [String: Any] {
        // Tests/PSIServiceTests/OpenAPITests.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Docs/openapi.json"))) as! [String: Any]
    }

    @Test("The documented routes are the served routes, and every status a route answers is documented")
    func routesAndStatuses() async throws {
        let doc = try Self.document()
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = doc["paths"] as! [String: [String: Any]]
        var documented = [String: Set<Int>]()
        for (path, operations) in paths {
            for (method, operation) in operations {
                let responses = (operation as! [String: Any])["responses"] as! [String: Any]
                documented["\(method.uppercased()) \(path)"] = Set(responses.keys.compactMap(Int.init))
            }
        }
        #expect(Set(documented.keys) == Set(HubService.routes.map { "\($0.method) \($0.path)" }))

        let fixture = try HubFixture(hubItemCount: 20, members: [("Bank A", ItemBudget(perDay: 15, perMonth: 100))])
        let hub = try await RunningHub.start(fixture.configuration())
        try await using(try fixture.client(0, port: hub.port)) { client in
            var seen = [String: Set<Int>]()
            func probe(_ route: String, _ method: String, _ path: String, body: [UInt8] = [], signed: Bool = true, requestID: String = HubClient.newRequestID(),
                       headers: [(String, String)] = []) async throws -> HubClient.Answer {
                let answer = try await client.exchange(method, path, body: body, requestID: requestID, extraHeaders: headers, signed: signed)
                seen[route, default: []].insert(answer.status)
                return answer
            }
            for (method, path) in HubService.routes where !path.contains("{") {
                let route = "\(method) \(path)"
                _ = try await probe(route, method, path)
                _ = try await probe(route, method, path, signed: false)
            }
            let setup = try await probe("GET /v1/setup", "GET", "/v1/setup")
            _ = try await probe("GET /v1/setup", "GET", "/v1/setup", headers: [("If-None-Match", setup.header("ETag") ?? "")])
            _ = try await probe("GET /v1/deltas/{number}", "GET", "/v1/deltas/1")
            _ = try await probe("GET /v1/deltas/{number}", "GET", "/v1/deltas/1", signed: false)
            let prepared = try await client.prepare(records: fixture.records(memberItems(0, size: 10)), purpose: fixture.purpose,
                                                    identifierType: fixture.identifierType)
            let answered = try await probe("POST /v1/evaluate", "POST", "/v1/evaluate", body: prepared.requestBytes, requestID: prepared.requestID)
            #expect(answered.status == 200)
            _ = try await probe("POST /v1/evaluate", "POST", "/v1/evaluate", body: prepared.requestBytes) // over budget: 429
            _ = try await probe("POST /v1/evaluate", "POST", "/v1/evaluate", body: [UInt8](repeating: 7, count: 64))
            _ = try await probe("POST /v1/evaluate", "POST", "/v1/evaluate", body: [UInt8](repeating: 0, count: (1 << 20) + 1))
            _ = try await probe("GET /v1/receipts/{requestID}", "GET", "/v1/receipts/\(prepared.requestID)")
            _ = try await probe("GET /v1/receipts/{requestID}", "GET", "/v1/receipts/\(HubClient.newRequestID())")
            _ = try await probe("GET /v1/receipts/{requestID}", "GET", "/v1/receipts/\(prepared.requestID)", signed: false)
            for (route, statuses) in seen {
                #expect(statuses.isSubset(of: documented[route] ?? []), "\(route) answered \(statuses.sorted()); documented \(documented[route]?.sorted() ?? [])")
            }
            #expect(seen["POST /v1/evaluate"] == [200, 400, 401, 413, 429])
            // An undocumented path is not served.
            #expect(try await client.exchange("GET", "/v1/members").status == 404)
        }
        try await hub.stop()
    }
}
