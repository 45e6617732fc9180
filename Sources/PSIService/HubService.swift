public import Foundation
public import SodiumPSI
public import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
internal import HTTPTypes
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
public import Logging
public import ServiceLifecycle
internal import Synchronization

/// The alliance hub as an HTTPS service (Docs/service.md): members fetch the setup and its
/// deltas, and send signed requests that are authenticated, charged to their item budgets in
/// the ledger, evaluated, and answered with the response message bytes.
///
/// Routes (version 1): `GET /v1/setup`, `GET /v1/deltas`, `GET /v1/deltas/{number}`,
/// `POST /v1/evaluate`, `GET /v1/receipts/{requestID}`, `GET /v1/health`, `GET /v1/ready`,
/// `GET /metrics`.
public final class HubService: Sendable {
    /// The settings.
    public let configuration: HubServiceConfiguration
    /// The ledger.
    public let ledger: Ledger
    let hub: UnbalancedPSIHub
    let members: [PartyPublicKey: ServiceMember]
    let setup: PublishedFile
    let deltas: [PublishedFile]
    let deltaIndex: PublishedFile
    let metrics = HubServiceMetrics()
    let logger: Logger
    let workDirectory: URL
    let inFlight = Mutex(0)
    let ready = Mutex(false)
    let postgres: PostgresLedgerDatabase?

    /// A file served as it is, with its ETag.
    struct PublishedFile: Sendable {
        let bytes: [UInt8]
        let etag: String
        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            self.etag = "\"" + hex(Array(sha256(bytes).prefix(16))) + "\""
        }
    }

    /// Loads the key, identity, members, setup and deltas, and opens the ledger (migrating it).
    ///
    /// - Throws: the file readers' errors, ``HubServiceError/missingBudget(member:)``, a ledger error.
    public init(configuration: HubServiceConfiguration, logger: Logger = Logger(label: "sodium-psi.hub")) async throws {
        self.configuration = configuration
        self.logger = logger
        let key = try HubKey.load(from: URL(fileURLWithPath: configuration.keyPath))
        let identity = try PartyIdentity(contentsOf: URL(fileURLWithPath: configuration.identityPath))
        let peers = try PeerList(contentsOf: URL(fileURLWithPath: configuration.peersPath))
        var members = [PartyPublicKey: ServiceMember]()
        for peer in peers.peers(for: configuration.purpose) {
            guard let budget = configuration.budgets[peer.name] else { throw HubServiceError.missingBudget(member: peer.name) }
            members[peer.publicKey] = ServiceMember(name: peer.name, publicKey: peer.publicKey, budget: budget)
        }
        self.members = members
        self.hub = UnbalancedPSIHub(key: key, identity: identity, purpose: configuration.purpose, identifierType: configuration.identifierType,
                                    members: Set(members.keys), maximumRequestSize: configuration.maximumRequestItems,
                                    parallelism: Parallelism(threads: configuration.evaluationThreads))
        // The setup must be this hub's, under its current key: after a rotation the service
        // refuses to start with the old setup rather than publish it.
        let setupURL = URL(fileURLWithPath: configuration.setupPath)
        let setup = try UnbalancedSetup.read(from: setupURL, hub: identity.publicKey, reader: identity.publicKey, purpose: configuration.purpose,
                                             keyID: key.keyID)
        guard !setup.isDelta else {
            throw UnbalancedPSIError.invalidSetup(path: setupURL.path, reason: "it is a setup delta; expected the full setup")
        }
        self.setup = PublishedFile(try Self.readAll(setupURL))
        var deltas = [PublishedFile]()
        var index = [[String: Any]]()
        for (offset, path) in configuration.deltaPaths.enumerated() {
            let url = URL(fileURLWithPath: path)
            let delta = try UnbalancedSetup.read(from: url, hub: identity.publicKey, reader: identity.publicKey, purpose: configuration.purpose,
                                                 keyID: key.keyID)
            guard delta.isDelta, delta.setupID == setup.setupID, delta.deltaNumber == offset + 1 else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "it is not delta \(offset + 1) of the setup \(setupURL.lastPathComponent)")
            }
            let file = PublishedFile(try Self.readAll(url))
            deltas.append(file)
            index.append(["number": offset + 1, "sha256": hex(sha256(file.bytes)), "path": "/v1/deltas/\(offset + 1)"])
        }
        self.deltas = deltas
        self.deltaIndex = PublishedFile([UInt8](try JSONSerialization.data(withJSONObject: ["deltas": index], options: [.sortedKeys])))
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("psi-hub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.workDirectory = work
        switch configuration.ledger {
        case .sqlite(let path):
            self.postgres = nil
            self.ledger = Ledger(database: try await SQLiteLedgerDatabase.open(path: path))
            try await ledger.migrate()
        case .postgres(let host, let port, let user, let password, let database):
            let db = PostgresLedgerDatabase(host: host, port: port, user: user, password: password, database: database)
            self.postgres = db
            self.ledger = Ledger(database: db)
            try await ledger.migrate()
        }
    }

    static func readAll(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    // MARK: Application

    /// The Hummingbird application serving the routes (TLS when the configuration names a
    /// certificate). `onServerRunning` gets the bound port.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws -> some ApplicationProtocol {
        let bounds = RequestDeadlineHandler.Bounds(bodyTimeout: .seconds(Int64(configuration.bodyTimeoutSeconds)),
                                                   requestTimeout: .seconds(Int64(configuration.requestTimeoutSeconds)),
                                                   minimumBodyRate: configuration.minimumBodyBytesPerSecond)
        let onCutOff: @Sendable (String, String) -> Void = { [metrics, logger] code, reason in
            metrics.refusal(code)
            logger.notice("request cut off", metadata: ["reason": .string(reason)])
        }
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [RequestDeadlineHandler(bounds: bounds, onCutOff: onCutOff)],
            idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))))
        let server: HTTPServerBuilder
        if let certificate = configuration.certificatePath, let privateKey = configuration.privateKeyPath {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain,
                                                               privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem)))
            server = try .tls(http1, tlsConfiguration: tls)
        } else {
            server = http1
        }
        let services: [any Service] = []
        var app = Application(router: router(), server: server,
                              configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "SodiumPSI-hub"),
                              services: services,
                              onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
                              logger: logger)
        app.beforeServerStarts {
            self.ready.withLock { $0 = true }
        }
        return app
    }

    /// Serves until SIGTERM or SIGINT, then finishes in-flight requests and stops.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = try application(onServerRunning: onServerRunning)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await shutdown()
    }

    /// After the application stopped: closes the ledger and removes the work folder.
    public func shutdown() async throws {
        ready.withLock { $0 = false }
        try? FileManager.default.removeItem(at: workDirectory)
        try await ledger.database.close()
    }

    /// The routes ``router()`` serves (method, OpenAPI path); Docs/openapi.json documents exactly these.
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/v1/health"), ("GET", "/v1/ready"), ("GET", "/metrics"), ("GET", "/v1/setup"), ("GET", "/v1/deltas"),
        ("GET", "/v1/deltas/{number}"), ("GET", "/v1/receipts/{requestID}"), ("POST", "/v1/evaluate"),
    ]

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/health") { _, _ in self.json(.ok, ["status": "ok"]) }
        router.get("/v1/ready") { _, _ in
            guard self.ready.withLock({ $0 }) else { return self.refuse(.serviceUnavailable, "not_ready", "the ledger is not ready") }
            do {
                _ = try await self.ledger.usage(member: "", period: "")
                return self.json(.ok, ["status": "ready"])
            } catch {
                return self.refuse(.serviceUnavailable, "not_ready", "the ledger does not answer")
            }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.exposition())))
        }
        router.get("/v1/setup") { request, _ in
            await self.measured("setup", request) { try await self.serveFile(request, self.setup, contentType: "application/octet-stream") }
        }
        router.get("/v1/deltas") { request, _ in
            await self.measured("deltas", request) { try await self.serveFile(request, self.deltaIndex, contentType: "application/json") }
        }
        router.get("/v1/deltas/:number") { request, context in
            await self.measured("delta", request) {
                guard let n = context.parameters.get("number").flatMap(Int.init), n >= 1, n <= self.deltas.count else {
                    return self.refuse(.notFound, "no_such_delta", "the setup has \(self.deltas.count) deltas")
                }
                return try await self.serveFile(request, self.deltas[n - 1], contentType: "application/octet-stream")
            }
        }
        router.get("/v1/receipts/:requestID") { request, context in
            await self.measured("receipt", request) {
                let (member, _) = try await self.authenticate(request, body: [])
                let id = context.parameters.get("requestID") ?? ""
                guard let receipt = try await self.ledger.receipt(member: member.name, requestID: id) else {
                    return self.refuse(.notFound, "no_such_receipt", "no answered request \(id) of this member")
                }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: receipt)))
            }
        }
        router.post("/v1/evaluate") { request, _ in
            await self.measured("evaluate", request) { try await self.evaluate(request) }
        }
        return router
    }

    // MARK: Handlers

    /// A refusal carried as an error to the route's wrapper.
    struct Refusal: Error {
        let status: HTTPResponse.Status
        let code: String
        let reason: String
        var retryAfter: Int?
    }

    func measured(_ route: String, _ request: Request, _ body: () async throws -> Response) async -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await body()
        } catch let refusal as Refusal {
            metrics.refusal(refusal.code)
            response = refuse(refusal.status, refusal.code, refusal.reason)
            if let after = refusal.retryAfter { response.headers[.retryAfter] = String(after) }
        } catch {
            logger.error("internal error", metadata: ["route": .string(route), "error": .string(Self.scrub(String(describing: error)))])
            metrics.refusal("internal")
            response = refuse(.internalServerError, "internal", "the hub failed to answer; retry later")
        }
        metrics.request(route: route, status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }

    func serveFile(_ request: Request, _ file: PublishedFile, contentType: String) async throws -> Response {
        _ = try await authenticate(request, body: [])
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag }) {
            return Response(status: .notModified, headers: [.eTag: file.etag])
        }
        return Response(status: .ok, headers: [.contentType: contentType, .eTag: file.etag], body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }

    /// Checks the request signature headers: a member's key, a valid signature, a timestamp in
    /// the clock window.
    func authenticate(_ request: Request, body: [UInt8]) async throws -> (ServiceMember, RequestSignature) {
        let signed: RequestSignature
        do throws(RequestSignature.Refusal) {
            signed = try RequestSignature.verify(
                headers: { name in HTTPField.Name(name).flatMap { request.headers[$0] } }, hub: hub.identity.publicKey,
                method: request.method.rawValue, path: request.head.path ?? "/", body: body,
                isMember: { self.members[$0] != nil }, now: Date(), windowSeconds: configuration.clockWindowSeconds)
        } catch {
            throw Refusal(status: .unauthorized, code: error.code, reason: error.reason)
        }
        return (members[signed.member]!, signed)
    }

    func evaluate(_ request: Request) async throws -> Response {
        // 413 from the header, before any byte of the body is read.
        let limit = configuration.maximumBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Refusal(status: .contentTooLarge, code: "body_too_large", reason: "the body is \(length) bytes; at most \(limit) are accepted")
        }
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: limit)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw Refusal(status: .contentTooLarge, code: "body_too_large", reason: "the body is over \(limit) bytes")
        } catch {
            // The connection ended (or was cut off by RequestDeadlineHandler) before the body did.
            throw Refusal(status: .requestTimeout, code: "body_incomplete", reason: "the connection ended before the whole body arrived")
        }
        let (member, signed) = try await authenticate(request, body: body)
        let requestID = signed.requestID
        // The concurrency cap, before the ledger and the evaluation.
        let admitted = inFlight.withLock { n -> Bool in
            guard n < configuration.maximumConcurrentEvaluations else { return false }
            n += 1
            return true
        }
        guard admitted else {
            throw Refusal(status: .serviceUnavailable, code: "busy", reason: "the hub is evaluating its maximum of \(configuration.maximumConcurrentEvaluations) requests", retryAfter: 1)
        }
        metrics.evaluationsInFlight.increment()
        defer {
            inFlight.withLock { $0 -= 1 }
            metrics.evaluationsInFlight.decrement()
        }
        let requestURL = workDirectory.appendingPathComponent("\(UUID().uuidString).request")
        let responseURL = workDirectory.appendingPathComponent("\(UUID().uuidString).response")
        defer {
            unlink(requestURL.path)
            unlink(responseURL.path)
        }
        guard FileManager.default.createFile(atPath: requestURL.path, contents: Data(body), attributes: [.posixPermissions: 0o600]) else {
            throw HubServiceError.ledger(reason: "cannot write a work file")
        }
        // The header is checked (signed by this member, for this hub, key, purpose, mode, type,
        // size) before anything is charged: a hub that accepts only the authenticated member.
        let memberHub = UnbalancedPSIHub(key: hub.key, identity: hub.identity, purpose: hub.purpose, identifierType: hub.identifierType,
                                         members: [member.publicKey], maximumRequestSize: hub.maximumRequestSize, parallelism: hub.parallelism)
        var itemCount = 0
        do {
            _ = try UnbalancedRequest.read(from: requestURL, for: memberHub, reviewCount: { itemCount = $0; throw HeaderChecked() })
        } catch is HeaderChecked {
        } catch {
            throw refusal(for: error, requestURL: requestURL)
        }
        let bodyDigest = hex(sha256(body))
        let reservation = try await ledger.reserve(member: member.name, requestID: requestID, bodySHA256: bodyDigest, itemCount: itemCount,
                                                   budget: member.budget)
        var log = logger
        log[metadataKey: "member"] = .string(member.name)
        log[metadataKey: "request_id"] = .string(requestID)
        log[metadataKey: "items"] = .stringConvertible(itemCount)
        switch reservation {
        case .conflict:
            log.notice("request id reused with another body")
            throw Refusal(status: .conflict, code: "request_id_reused", reason: "the request id \(requestID) was used with another body")
        case .overBudget(let period, let used, let limit):
            try await ledger.recordRefusal(member: member.name, requestID: requestID, itemCount: itemCount, outcome: "over_budget")
            log.notice("over budget", metadata: ["period": .string(period)])
            let kind = period.hasPrefix("D") ? "day" : "month"
            throw Refusal(status: .tooManyRequests, code: "over_budget",
                          reason: "\(itemCount) items would exceed the \(kind)'s budget of \(limit) (\(used) used in \(period.dropFirst()))",
                          retryAfter: Self.secondsUntilNext(kind == "day" ? .day : .month))
        case .answered(let stored):
            log.info("answered again from the ledger")
            return answer(stored, requestID: requestID, charged: 0)
        case .charged, .chargedEarlier:
            break
        }
        let hub = self.hub
        let answer: UnbalancedPSIFileExchange.HubAnswer
        do {
            answer = try await NIOThreadPool.singleton.runIfActive {
                try UnbalancedPSIFileExchange.respond(hub: hub, requestURL: requestURL, responseURL: responseURL)
            }
        } catch {
            try await ledger.release(member: member.name, requestID: requestID, itemCount: itemCount, outcome: "invalid_request")
            log.notice("request refused after its header", metadata: ["error": .string(Self.scrub(String(describing: type(of: error))))])
            throw refusal(for: error, requestURL: requestURL)
        }
        let stored = Ledger.StoredAnswer(response: try Self.readAll(responseURL),
                                         receipt: String(decoding: try answer.receipt.jsonData(), as: UTF8.self))
        let kept = try await ledger.complete(member: member.name, requestID: requestID, itemCount: itemCount,
                                             setupDigest: hex(answer.response.context.setupDigest), keyID: answer.response.context.keyID.description,
                                             answer: stored)
        metrics.itemsEvaluated.increment(by: Int64(itemCount))
        log.info("answered")
        return self.answer(kept, requestID: requestID, charged: reservation == .charged ? itemCount : 0)
    }

    struct HeaderChecked: Error {}

    func answer(_ stored: Ledger.StoredAnswer, requestID: String, charged: Int) -> Response {
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        headers[HTTPField.Name("PSI-Request-ID")!] = requestID
        headers[HTTPField.Name("PSI-Charged-Items")!] = String(charged)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.response)))
    }

    /// The status of a request the file reader refused: the reader's own reason, naming the body.
    func refusal(for error: any Error, requestURL: URL) -> Refusal {
        let reason = Self.describe(error).replacingOccurrences(of: requestURL.path, with: "the request body")
        switch error {
        case UnbalancedPSIError.requestUnderOtherKey:
            return Refusal(status: .conflict, code: "stale_setup", reason: reason)
        case MessageFileError.untrustedSender:
            return Refusal(status: .unauthorized, code: "sender_mismatch",
                           reason: "the request message is not signed by the member that signed the HTTP request: \(reason)")
        case UnbalancedPSIError.requestTooLarge:
            return Refusal(status: .contentTooLarge, code: "too_many_items", reason: reason)
        default:
            return Refusal(status: .badRequest, code: "invalid_request", reason: reason)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? any LocalizedError)?.errorDescription ?? String(describing: error)
    }

    /// Work-file paths out of a log line.
    static func scrub(_ text: String) -> String {
        text.replacingOccurrences(of: FileManager.default.temporaryDirectory.path, with: "<work>")
    }

    func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: [UInt8](data))))
    }

    func refuse(_ status: HTTPResponse.Status, _ code: String, _ reason: String) -> Response {
        json(status, ["error": code, "reason": reason])
    }

    static func secondsUntilNext(_ component: Calendar.Component) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = Date()
        let start = calendar.dateInterval(of: component, for: now)!.end
        return max(1, Int(start.timeIntervalSince(now).rounded(.up)))
    }
}
