import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import Logging
import ServiceLifecycle
import SodiumPSI
@testable import PSIService

/// A hub with its files in a temporary folder: key, identity, members, setup, a self-signed
/// TLS certificate made at test time with openssl (never committed).
final class HubFixture: @unchecked Sendable {
    let folder: URL
    let hubIdentity = PartyIdentity()
    let hubKey = HubKey.generate(answerMode: .intersection)
    let purpose = try! PurposeLabel("service test list")
    let identifierType = IdentifierType(kind: .plain)
    let hubItems: [String]
    var members: [(name: String, identity: PartyIdentity, budget: ItemBudget)] = []

    /// - Parameter identities: the members' identities (by default fresh ones): a second hub
    ///   that knows the same member keys.
    init(hubItemCount: Int = 400, members: [(String, ItemBudget)], identities: [PartyIdentity]? = nil) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-service-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        hubItems = (0..<hubItemCount).map { "listed-\($0)" }
        self.members = members.enumerated().map { (name: $0.element.0, identity: identities?[$0.offset] ?? PartyIdentity(), budget: $0.element.1) }
        try hubIdentity.save(to: url("hub.identity"))
        try hubKey.save(to: url("hub.key"))
        let peers = self.members.map { ["name": $0.name, "publicKey": $0.identity.publicKey.hex] }
        try JSONSerialization.data(withJSONObject: ["peers": peers]).write(to: url("members.json"))
        let hub = UnbalancedPSIHub(key: hubKey, identity: hubIdentity, purpose: purpose, identifierType: identifierType)
        try UnbalancedPSIFileExchange.publishSetup(records: records(hubItems), hub: hub, encoding: .truncatedTags(byteCount: 12),
                                                   setupURL: url("setup.spsi"))
        try LoopbackCertificate.make(in: folder)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    func records(_ values: [String]) -> [ListRecord] {
        values.enumerated().map { ListRecord(identifier: try! Identifier.parse($0.element, as: .plain), original: $0.element, lineNumber: $0.offset + 1) }
    }

    func configuration(ledger: LedgerLocation? = nil, port: Int = 0) -> HubServiceConfiguration {
        var c = HubServiceConfiguration(keyPath: url("hub.key").path, identityPath: url("hub.identity").path, peersPath: url("members.json").path,
                                        purpose: purpose, identifierType: identifierType, setupPath: url("setup.spsi").path,
                                        ledger: ledger ?? .sqlite(path: url("ledger.sqlite").path))
        c.port = port
        c.certificatePath = url("tls.crt").path
        c.privateKeyPath = url("tls.key").path
        c.maximumConcurrentEvaluations = 64
        c.maximumBodyBytes = 1 << 20
        c.budgets = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0.budget) })
        return c
    }

    /// The hub.toml equivalent of ``configuration(ledger:port:)`` with SQLite.
    func writeTOML(port: Int) throws -> URL {
        var text = """
        [server]
        host = "127.0.0.1"
        port = \(port)
        certificate = "tls.crt"
        private_key = "tls.key"
        max_concurrent_evaluations = 8

        [hub]
        key = "hub.key"
        identity = "hub.identity"
        peers = "members.json"
        purpose = "\(purpose.value)"
        kind = "plain"
        setup = "setup.spsi"

        [database]
        sqlite = "ledger.sqlite"

        """
        for m in members {
            text += "\n[[budget]]\nmember = \"\(m.name)\"\nitems_per_day = \(m.budget.perDay)\nitems_per_month = \(m.budget.perMonth)\n"
        }
        let url = url("hub.toml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func client(_ index: Int, port: Int, directory: String? = nil) throws -> HubClient {
        try HubClient(baseURL: "https://127.0.0.1:\(port)", identity: members[index].identity, hub: hubIdentity.publicKey,
                      directory: url(directory ?? "member-\(index)"), trustRootsPEM: url("tls.crt").path)
    }
}

/// Every line (level, source, message and metadata) that loggers made by ``handler()`` logged.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    /// A log handler (a value, as swift-log expects: its metadata and level are its own) that
    /// appends to this log.
    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            let all = metadata.merging(extra ?? [:]) { $1 }
            log.append("\(level) \(source) \(message) \(all)")
        }
    }

    func handler() -> Handler { Handler(log: self) }

    private func append(_ line: String) { lock.withLock { lines.append(line) } }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

/// An in-process service on a loopback port, stopped gracefully.
final class RunningHub: @unchecked Sendable {
    let service: HubService
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// - Parameter log: where the service logs at every level (trace included), for tests of
    ///   what logs hold; by default warnings and errors only, to the void.
    static func start(_ configuration: HubServiceConfiguration, log: CapturedLog? = nil) async throws -> RunningHub {
        var logger = log.map { log in Logger(label: "test.hub") { _ in log.handler() } } ?? Logger(label: "test.hub")
        logger.logLevel = log == nil ? .warning : .trace
        let service = try await HubService(configuration: configuration, logger: logger)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try service.application(onServerRunning: { port in continuation.yield(port) })
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var port = 0
        for await p in stream { port = p; break }
        return RunningHub(service: service, port: port, group: group, task: task)
    }

    init(service: HubService, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.service = service
        self.port = port
        self.group = group
        self.task = task
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        try await service.shutdown()
    }
}

/// The `psi-hub` executable (or another of the package's, by name) built next to the test bundle.
enum PSIHubExecutable {
    static var url: URL { url(named: "psi-hub") }

    static func url(named name: String) -> URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return products.appendingPathComponent(name)
    }

    /// Runs the package's executable `name` to its end on a thread of its own (the test's
    /// server keeps answering meanwhile); its status and standard error.
    static func run(_ name: String, _ arguments: [String]) async throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = url(named: name)
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        return await withCheckedContinuation { continuation in
            Thread {
                let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, text))
            }.start()
        }
    }
}

/// A private PostgreSQL server: initdb in a temporary folder, on a free loopback port.
final class PrivatePostgres: @unchecked Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binaries + "/initdb") }
    let folder: URL
    let port: Int

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        port = Int.random(in: 20000...40000)
        // initdb refuses to run as root: run it as the owner of a folder we hand over (postgres).
        try run("initdb", ["-D", folder.appendingPathComponent("data").path, "-U", "psi", "-A", "trust", "--no-sync"])
        try run("pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-l", folder.appendingPathComponent("log").path, "-w", "-t", "30",
                           "-o", "-h 127.0.0.1 -p \(port) -k \(folder.path) -F", "start"])
        try run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "psi", "ledger"])
    }

    var asRoot: Bool { getuid() == 0 }

    func run(_ tool: String, _ arguments: [String]) throws {
        // PostgreSQL does not run as root: as root, the tools run as the postgres user.
        var argv = [Self.binaries + "/" + tool] + arguments
        if asRoot {
            _ = try? FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder.path)
            argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv
        }
        // posix_spawn and waitpid, output to a file: Foundation's Process does not return here
        // once pg_ctl has left the server running with the inherited descriptors.
        let errorsPath = folder.appendingPathComponent("\(tool).err").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, errorsPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw HubServiceError.ledger(reason: "cannot start \(tool): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOf: URL(fileURLWithPath: errorsPath), encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw HubServiceError.ledger(reason: "\(tool) failed: \(text.prefix(500))")
        }
    }

    func stop() {
        try? run("pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: folder)
    }

    var ledger: LedgerLocation { .postgres(host: "127.0.0.1", port: port, user: "psi", password: nil, database: "ledger") }
}

/// Runs `body` with `client`, shutting it down afterwards whatever happens.
func using<T: Sendable>(_ client: HubClient, _ body: (HubClient) async throws -> T) async throws -> T {
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// A slow client on a raw TCP socket: sends `head`, then `body` one byte every `interval`,
/// until the server answers or closes. Runs on its own thread (blocking calls).
///
/// - Returns: what the server sent, the seconds from the head to the server's answer or close,
///   and how many body bytes were written.
func trickle(port: Int, head: String, body: [UInt8], interval: Double) async -> (answer: String, seconds: Double, written: Int) {
    await withCheckedContinuation { continuation in
        Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { return continuation.resume(returning: ("connect failed", 0, 0)) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let start = Date()
            let headBytes = Array(head.utf8)
            _ = headBytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var written = 0
            var answer = [UInt8]()
            var seconds = 0.0
            func readAll() {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    answer += buffer[0..<n]
                }
            }
            for byte in body {
                var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if Glibc.poll(&poll, 1, Int32(interval * 1000)) > 0 {
                    seconds = Date().timeIntervalSince(start)
                    readAll()
                    break
                }
                let sent = withUnsafeBytes(of: byte) { send(fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
                if sent != 1 {
                    seconds = Date().timeIntervalSince(start)
                    readAll()
                    break
                }
                written += 1
            }
            if seconds == 0 { seconds = Date().timeIntervalSince(start); readAll() }
            continuation.resume(returning: (String(decoding: answer, as: UTF8.self), seconds, written))
        }.start()
    }
}
