public import Foundation
public import SodiumPSI
internal import AsyncHTTPClient
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL

/// The member side of the hub service, for services that embed it (and `psi-hub query`):
/// fetches the setup and its deltas (keeping them with their ETags, so that only what changed
/// is downloaded), makes the request with the file flow's ``UnbalancedPSIFileExchange``, sends
/// it signed, and finishes (verifying the hub's VOPRF proof).
///
/// A query is three steps so that a caller can retry the send after a dropped connection or a
/// hub restart: ``prepare(records:purpose:identifierType:)``, ``send(_:)`` (same request id,
/// same bytes: answered again, never charged twice), ``finish(_:response:)``.
public final class HubClient: Sendable {
    /// The hub's base address (`https://host:port`).
    public let baseURL: String
    /// The member's identity.
    public let identity: PartyIdentity
    /// The hub's identity key: the only signer of setups and responses accepted.
    public let hub: PartyPublicKey
    /// Where the setup, its deltas and the queries' files are kept.
    public let directory: URL
    let http: HTTPClient

    /// A client.
    ///
    /// - Parameters:
    ///   - trustRootsPEM: a PEM file of the certificates that may sign the hub's (for a
    ///     private CA or a self-signed test certificate); nil: the system's roots.
    public init(baseURL: String, identity: PartyIdentity, hub: PartyPublicKey, directory: URL, trustRootsPEM: String? = nil) throws {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.identity = identity
        self.hub = hub
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustRootsPEM { tls.trustRoots = .file(trustRootsPEM) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes connections.
    public func shutdown() async throws { try await http.shutdown() }

    /// The raw answer of one HTTP exchange.
    public struct Answer: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// Sends one signed request.
    public func exchange(_ method: String, _ path: String, body: [UInt8] = [], requestID: String = HubClient.newRequestID(),
                         extraHeaders: [(String, String)] = [], signedAt: Date = Date(), signed: Bool = true) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        if signed {
            for (name, value) in RequestSignature.sign(hub: hub, method: method, path: path, body: body, requestID: requestID, identity: identity, now: signedAt) {
                request.headers.add(name: name, value: value)
            }
        }
        for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
        if method == "POST" {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await http.execute(request, timeout: .seconds(120))
        var buffer = try await response.body.collect(upTo: 1 << 30)
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                      body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    /// A fresh random request id (32 hex digits).
    public static func newRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func refusal(_ answer: Answer) -> HubServiceError {
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any]
        return .refused(status: answer.status, code: object?["error"] as? String ?? "unknown",
                        reason: object?["reason"] as? String ?? String(decoding: answer.body.prefix(200), as: UTF8.self))
    }

    /// The setup and its deltas, downloaded only when their ETag changed.
    public struct SetupFiles: Sendable {
        public let setup: URL
        public let deltas: [URL]
        /// Bytes downloaded by this call (0 when everything was current).
        public let downloadedBytes: Int
    }

    /// Brings the cached setup and deltas up to date.
    public func refreshSetup() async throws -> SetupFiles {
        var downloaded = 0
        func cached(_ name: String, _ path: String) async throws -> (url: URL, changed: Bool) {
            let url = directory.appendingPathComponent(name)
            let etagURL = directory.appendingPathComponent(name + ".etag")
            var headers = [(String, String)]()
            if FileManager.default.fileExists(atPath: url.path), let etag = try? String(contentsOf: etagURL, encoding: .utf8) {
                headers.append(("If-None-Match", etag))
            }
            let answer = try await exchange("GET", path, extraHeaders: headers)
            switch answer.status {
            case 304: return (url, false)
            case 200:
                try Data(answer.body).write(to: url, options: .atomic)
                try (answer.header("ETag") ?? "").write(to: etagURL, atomically: true, encoding: .utf8)
                downloaded += answer.body.count
                return (url, true)
            default: throw Self.refusal(answer)
            }
        }
        let setup = try await cached("setup.spsi", "/v1/setup")
        let index = try await cached("deltas.json", "/v1/deltas")
        if setup.changed {
            // A new setup: the old one's deltas are of no use.
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where file.hasPrefix("delta-") {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
        }
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: index.url)) as? [String: Any]
        guard let list = object?["deltas"] as? [[String: Any]] else { throw HubServiceError.invalidAnswer(reason: "the delta index is not {\"deltas\": […]}") }
        var deltas = [URL]()
        for entry in list {
            guard let number = entry["number"] as? Int, number == deltas.count + 1 else {
                throw HubServiceError.invalidAnswer(reason: "the delta index is not numbered 1, 2, …")
            }
            deltas.append(try await cached("delta-\(number).spsi", "/v1/deltas/\(number)").url)
        }
        return SetupFiles(setup: setup.url, deltas: deltas, downloadedBytes: downloaded)
    }

    /// A query made and kept on disk, ready to send (and to send again).
    public struct PreparedQuery: Sendable {
        public let requestID: String
        public let requestBytes: [UInt8]
        public let stateURL: URL
        public let setup: SetupFiles
        public let records: [ListRecord]
    }

    /// Refreshes the setup and makes a request (the member's state is written first, mode 0600).
    public func prepare(records: [ListRecord], purpose: PurposeLabel, identifierType: IdentifierType) async throws -> PreparedQuery {
        let setup = try await refreshSetup()
        let requestID = Self.newRequestID()
        let queries = directory.appendingPathComponent("queries")
        try FileManager.default.createDirectory(at: queries, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stateURL = queries.appendingPathComponent("\(requestID).state")
        let requestURL = queries.appendingPathComponent("\(requestID).request")
        _ = try UnbalancedPSIFileExchange.request(records: records, purpose: purpose, identifierType: identifierType, identity: identity,
                                                  hub: hub, setupURL: setup.setup, stateURL: stateURL, requestURL: requestURL)
        return PreparedQuery(requestID: requestID, requestBytes: [UInt8](try Data(contentsOf: requestURL)), stateURL: stateURL, setup: setup,
                             records: records)
    }

    /// Sends the request; waits out `503 Retry-After` up to `busyRetries` times.
    ///
    /// - Returns: the response message bytes and the items charged by this call (0 for a retry).
    public func send(_ query: PreparedQuery, busyRetries: Int = 20) async throws -> (response: [UInt8], chargedItems: Int) {
        var attempt = 0
        while true {
            let answer = try await exchange("POST", "/v1/evaluate", body: query.requestBytes, requestID: query.requestID)
            if answer.status == 200 { return (answer.body, Int(answer.header("PSI-Charged-Items") ?? "0") ?? 0) }
            if answer.status == 503, attempt < busyRetries {
                attempt += 1
                let seconds = Double(answer.header("Retry-After") ?? "1") ?? 1
                try await Task.sleep(for: .milliseconds(Int(min(seconds, 5) * 1000 * Double.random(in: 0.1...0.5))))
                continue
            }
            throw Self.refusal(answer)
        }
    }

    /// What a query gave.
    public struct QueryResult: Sendable {
        /// The member's outcome: matches, labels, and its own receipt (signed by the member).
        public let outcome: UnbalancedPSIFileExchange.Outcome
        /// The hub's receipt of the request (JSON, signed by the hub).
        public let hubReceipt: RunReceipt
        /// The request id.
        public let requestID: String
    }

    /// Verifies the response (the VOPRF proof against the setup's key) and looks the items up.
    public func finish(_ query: PreparedQuery, response: [UInt8]) async throws -> QueryResult {
        let responseURL = query.stateURL.deletingPathExtension().appendingPathExtension("response")
        try Data(response).write(to: responseURL, options: .atomic)
        let outcome = try UnbalancedPSIFileExchange.finish(stateURL: query.stateURL, identity: identity, hub: hub, responseURL: responseURL,
                                                           setupURL: query.setup.setup, deltaURLs: query.setup.deltas)
        let answer = try await exchange("GET", "/v1/receipts/\(query.requestID)")
        guard answer.status == 200 else { throw Self.refusal(answer) }
        let hubReceipt = try RunReceipt(json: Data(answer.body), origin: "the hub's receipt of \(query.requestID)")
        return QueryResult(outcome: outcome, hubReceipt: hubReceipt, requestID: query.requestID)
    }

    /// Prepares, sends and finishes one query.
    public func query(records: [ListRecord], purpose: PurposeLabel, identifierType: IdentifierType) async throws -> QueryResult {
        let prepared = try await prepare(records: records, purpose: purpose, identifierType: identifierType)
        let (response, _) = try await send(prepared)
        return try await finish(prepared, response: response)
    }
}
