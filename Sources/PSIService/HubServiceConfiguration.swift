public import Foundation
public import SodiumPSI

/// A member's item budget: items evaluated per UTC day and per UTC month.
public struct ItemBudget: Sendable, Equatable {
    /// Items per UTC calendar day.
    public let perDay: Int
    /// Items per UTC calendar month.
    public let perMonth: Int

    /// A budget.
    public init(perDay: Int, perMonth: Int) {
        self.perDay = perDay
        self.perMonth = perMonth
    }
}

/// A member the service answers: its name and identity from the hub's peers file, its budget
/// from the configuration.
public struct ServiceMember: Sendable, Equatable {
    /// The name in the peers file.
    public let name: String
    /// Its Ed25519 identity key (signs its requests, and the HTTP requests that carry them).
    public let publicKey: PartyPublicKey
    /// Its item budget.
    public let budget: ItemBudget

    /// A member.
    public init(name: String, publicKey: PartyPublicKey, budget: ItemBudget) {
        self.name = name
        self.publicKey = publicKey
        self.budget = budget
    }
}

/// Where the ledger lives.
public enum LedgerLocation: Sendable, Equatable {
    /// An SQLite file (the embedded default, one replica).
    case sqlite(path: String)
    /// A PostgreSQL server shared by all replicas.
    case postgres(host: String, port: Int, user: String, password: String?, database: String)
}

/// The hub service's settings, read from `hub.toml` (see Docs/service.md).
public struct HubServiceConfiguration: Sendable {
    /// Address to bind (loopback by default).
    public var host = "127.0.0.1"
    /// Port (0: any free port, reported once listening).
    public var port = 8443
    /// PEM certificate chain and private key for TLS; nil for both serves plain HTTP (tests of
    /// the HTTP layer only; `psi-hub serve` refuses to start without TLS).
    public var certificatePath: String?
    /// PEM private key of the certificate.
    public var privateKeyPath: String?
    /// The hub key file.
    public var keyPath: String
    /// The hub's identity file.
    public var identityPath: String
    /// The hub's peers file: the members.
    public var peersPath: String
    /// The purpose label of the hub's list.
    public var purpose: PurposeLabel
    /// The identifier type of the hub's list.
    public var identifierType: IdentifierType
    /// The published setup file.
    public var setupPath: String
    /// Its deltas, in order (delta 1 first).
    public var deltaPaths: [String] = []
    /// The largest request answered (items).
    public var maximumRequestItems = UnbalancedPSIHub.defaultMaximumRequestSize
    /// The largest request body accepted (bytes), refused from Content-Length.
    public var maximumBodyBytes = 8 * 1024 * 1024
    /// Evaluations running at once; one more gets 503 with Retry-After.
    public var maximumConcurrentEvaluations = 4
    /// A connection idle this long, or that has not sent a whole request head this long after
    /// opening (or after its previous answer), is closed.
    public var idleTimeoutSeconds = 30
    /// A request body must have arrived this many seconds after the request head; else 408 and
    /// the connection is closed, nothing evaluated.
    public var bodyTimeoutSeconds = 60
    /// After the first second, a body still arriving must average at least this many bytes a
    /// second since the head (0: no minimum); else 408 and the connection is closed.
    public var minimumBodyBytesPerSecond = 4096
    /// A request must be answered this many seconds after its head; else 408 (if the answer has
    /// not started) and the connection is closed.
    public var requestTimeoutSeconds = 300
    /// A signed HTTP request is accepted this many seconds either side of the server's clock.
    public var clockWindowSeconds = 300
    /// Threads per evaluation.
    public var evaluationThreads = 1
    /// The ledger.
    public var ledger: LedgerLocation
    /// Budgets by member name; every member of the peers file allowed the purpose needs one.
    public var budgets: [String: ItemBudget] = [:]

    /// A configuration in code (tests, embedding).
    public init(keyPath: String, identityPath: String, peersPath: String, purpose: PurposeLabel, identifierType: IdentifierType,
                setupPath: String, ledger: LedgerLocation) {
        self.keyPath = keyPath
        self.identityPath = identityPath
        self.peersPath = peersPath
        self.purpose = purpose
        self.identifierType = identifierType
        self.setupPath = setupPath
        self.ledger = ledger
    }

    /// The identifier kind named as in `hub.toml` and `psi-hub query --kind` (the names of `psi`'s `--kind`).
    public static func kind(named name: String) -> Identifier.Kind? {
        switch name {
        case "phone": .phoneNumber
        case "document": .documentFingerprint
        case "plain": .plain
        default: nil
        }
    }

    /// The names ``kind(named:)`` knows, for messages.
    public static let kindNames = "phone, document or plain"

    /// Reads `hub.toml`. Relative paths are relative to the file's folder.
    ///
    /// - Throws: ``HubServiceError/invalidConfiguration(path:reason:)`` naming the line and what was expected.
    public init(contentsOf url: URL) throws {
        let path = url.path
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw HubServiceError.invalidConfiguration(path: path, reason: "it cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
        let tables = try TOMLSubset.parse(text, path: path)
        let base = url.deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).path }
        func invalid(_ reason: String) -> HubServiceError { .invalidConfiguration(path: path, reason: reason) }

        let server = tables.single("server") ?? [:]
        let hub = tables.single("hub") ?? [:]
        let database = tables.single("database") ?? [:]
        try TOMLSubset.requireKnown(server, ["host", "port", "certificate", "private_key", "max_body_bytes", "max_concurrent_evaluations",
                                             "idle_timeout_seconds", "body_timeout_seconds", "min_body_bytes_per_second",
                                             "request_timeout_seconds", "clock_window_seconds", "evaluation_threads"],
                                    table: "server", path: path)
        try TOMLSubset.requireKnown(hub, ["key", "identity", "peers", "purpose", "kind", "case_insensitive", "setup", "deltas",
                                          "max_request_items"], table: "hub", path: path)
        try TOMLSubset.requireKnown(database, ["sqlite", "postgres_host", "postgres_port", "postgres_user", "postgres_password_env",
                                               "postgres_database"], table: "database", path: path)
        func string(_ t: [String: TOMLSubset.Value], _ k: String, _ table: String) throws -> String? {
            guard let v = t[k] else { return nil }
            guard case .string(let s) = v else { throw invalid("[\(table)] \(k) is not a string; expected \"…\"") }
            return s
        }
        func int(_ t: [String: TOMLSubset.Value], _ k: String, _ table: String, min: Int = 1) throws -> Int? {
            guard let v = t[k] else { return nil }
            guard case .integer(let i) = v, i >= min else { throw invalid("[\(table)] \(k) is not an integer of at least \(min)") }
            return i
        }
        func required(_ t: [String: TOMLSubset.Value], _ k: String, _ table: String) throws -> String {
            guard let s = try string(t, k, table) else { throw invalid("[\(table)] has no \(k); expected \(k) = \"…\"") }
            return s
        }
        let kindName = try required(hub, "kind", "hub")
        guard let kind = Self.kind(named: kindName) else { throw invalid("[hub] kind is \"\(kindName)\"; expected \(Self.kindNames)") }
        var caseInsensitive = false
        if let v = hub["case_insensitive"] {
            guard case .bool(let b) = v else { throw invalid("[hub] case_insensitive is not true or false") }
            caseInsensitive = b
        }
        let purpose: PurposeLabel
        do { purpose = try PurposeLabel(try required(hub, "purpose", "hub")) } catch {
            throw invalid("[hub] purpose is not a valid purpose label: \(error)")
        }
        let ledger: LedgerLocation
        if let host = try string(database, "postgres_host", "database") {
            var password: String?
            if let variable = try string(database, "postgres_password_env", "database") {
                guard let value = ProcessInfo.processInfo.environment[variable] else {
                    throw invalid("[database] postgres_password_env names \(variable), which is not set")
                }
                password = value
            }
            ledger = .postgres(host: host, port: try int(database, "postgres_port", "database") ?? 5432,
                               user: try required(database, "postgres_user", "database"), password: password,
                               database: try required(database, "postgres_database", "database"))
        } else {
            ledger = .sqlite(path: resolve(try string(database, "sqlite", "database") ?? "ledger.sqlite"))
        }
        self.init(keyPath: resolve(try required(hub, "key", "hub")), identityPath: resolve(try required(hub, "identity", "hub")),
                  peersPath: resolve(try required(hub, "peers", "hub")), purpose: purpose,
                  identifierType: IdentifierType(kind: kind, caseInsensitive: caseInsensitive),
                  setupPath: resolve(try required(hub, "setup", "hub")), ledger: ledger)
        if let v = hub["deltas"] {
            guard case .strings(let list) = v else { throw invalid("[hub] deltas is not a list of strings; expected [\"delta-1.spsi\", …]") }
            deltaPaths = list.map(resolve)
        }
        maximumRequestItems = try int(hub, "max_request_items", "hub") ?? maximumRequestItems
        host = try string(server, "host", "server") ?? host
        port = try int(server, "port", "server", min: 0) ?? port
        certificatePath = try string(server, "certificate", "server").map(resolve)
        privateKeyPath = try string(server, "private_key", "server").map(resolve)
        guard (certificatePath == nil) == (privateKeyPath == nil) else {
            throw invalid("[server] names only one of certificate and private_key; expected both (TLS) or neither")
        }
        maximumBodyBytes = try int(server, "max_body_bytes", "server") ?? maximumBodyBytes
        maximumConcurrentEvaluations = try int(server, "max_concurrent_evaluations", "server") ?? maximumConcurrentEvaluations
        idleTimeoutSeconds = try int(server, "idle_timeout_seconds", "server") ?? idleTimeoutSeconds
        bodyTimeoutSeconds = try int(server, "body_timeout_seconds", "server") ?? bodyTimeoutSeconds
        minimumBodyBytesPerSecond = try int(server, "min_body_bytes_per_second", "server", min: 0) ?? minimumBodyBytesPerSecond
        requestTimeoutSeconds = try int(server, "request_timeout_seconds", "server") ?? requestTimeoutSeconds
        clockWindowSeconds = try int(server, "clock_window_seconds", "server") ?? clockWindowSeconds
        evaluationThreads = try int(server, "evaluation_threads", "server") ?? evaluationThreads
        for (index, entry) in (tables.arrays["budget"] ?? []).enumerated() {
            let at = "[[budget]] \(index + 1)"
            try TOMLSubset.requireKnown(entry, ["member", "items_per_day", "items_per_month"], table: at, path: path)
            let name = try required(entry, "member", at)
            guard let day = try int(entry, "items_per_day", at, min: 0), let month = try int(entry, "items_per_month", at, min: 0) else {
                throw invalid("\(at) (\"\(name)\") needs items_per_day and items_per_month")
            }
            guard budgets[name] == nil else { throw invalid("\(at) repeats the budget of \"\(name)\"") }
            budgets[name] = ItemBudget(perDay: day, perMonth: month)
        }
    }
}

/// The small part of TOML that `hub.toml` uses: `[table]`, `[[array]]`, `key = "string"`,
/// integers, `true`/`false`, lists of strings, `#` comments. Anything else is refused by line.
enum TOMLSubset {
    enum Value: Equatable { case string(String), integer(Int), bool(Bool), strings([String]) }

    struct Tables {
        var tables: [String: [String: Value]] = [:]
        var arrays: [String: [[String: Value]]] = [:]
        func single(_ name: String) -> [String: Value]? { tables[name] }
    }

    static func requireKnown(_ table: [String: Value], _ known: [String], table name: String, path: String) throws {
        if let unknown = table.keys.filter({ !known.contains($0) }).sorted().first {
            throw HubServiceError.invalidConfiguration(path: path, reason: "[\(name)] has the unknown key \(unknown); expected one of \(known.joined(separator: ", "))")
        }
    }

    static func parse(_ text: String, path: String) throws -> Tables {
        var result = Tables()
        enum Target { case table(String), array(String, Int) }
        var target: Target?
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = offset + 1
            func invalid(_ reason: String) -> HubServiceError { .invalidConfiguration(path: path, reason: "line \(line): \(reason)") }
            let trimmed = stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("[[") {
                guard trimmed.hasSuffix("]]") else { throw invalid("\(trimmed) does not end with ]]") }
                let name = String(trimmed.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces)
                result.arrays[name, default: []].append([:])
                target = .array(name, result.arrays[name]!.count - 1)
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else { throw invalid("\(trimmed) does not end with ]") }
                let name = String(trimmed.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard result.tables[name] == nil else { throw invalid("table [\(name)] appears twice") }
                result.tables[name] = [:]
                target = .table(name)
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { throw invalid("expected key = value, a [table] or a [[table]]") }
            var key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("\""), key.hasSuffix("\""), key.count >= 2 { key = String(key.dropFirst().dropLast()) }
            guard !key.isEmpty else { throw invalid("a key is empty") }
            let valueText = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let value = try parseValue(valueText, invalid: invalid)
            switch target {
            case nil: throw invalid("\(key) is outside any [table]")
            case .table(let name):
                guard result.tables[name]![key] == nil else { throw invalid("\(key) appears twice in [\(name)]") }
                result.tables[name]![key] = value
            case .array(let name, let index):
                guard result.arrays[name]![index][key] == nil else { throw invalid("\(key) appears twice in [[\(name)]]") }
                result.arrays[name]![index][key] = value
            }
        }
        return result
    }

    static func stripComment(_ line: String) -> String {
        var inString = false
        var escaped = false
        for (i, c) in line.enumerated() {
            if escaped { escaped = false; continue }
            if c == "\\" && inString { escaped = true; continue }
            if c == "\"" { inString.toggle() }
            if c == "#" && !inString { return String(line.prefix(i)) }
        }
        return line
    }

    static func parseValue(_ text: String, invalid: (String) -> HubServiceError) throws -> Value {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let i = Int(text.replacingOccurrences(of: "_", with: "")), text.first != "_" { return .integer(i) }
        if text.hasPrefix("\"") { return .string(try parseString(text, invalid: invalid)) }
        if text.hasPrefix("[") && text.hasSuffix("]") {
            let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            if inner.isEmpty { return .strings([]) }
            var items = [String]()
            var rest = Substring(inner)
            while !rest.isEmpty {
                rest = rest.drop { $0 == " " }
                guard rest.first == "\"", let close = rest.dropFirst().firstIndex(of: "\"") else {
                    throw invalid("the list \(text) holds something other than \"strings\"")
                }
                items.append(try parseString(String(rest[...close]), invalid: invalid))
                rest = rest[rest.index(after: close)...].drop { $0 == " " }
                if rest.first == "," { rest = rest.dropFirst() } else if !rest.isEmpty {
                    throw invalid("the list \(text) is not \"a\", \"b\", …")
                }
            }
            return .strings(items)
        }
        throw invalid("the value \(text) is not a \"string\", an integer, true, false or a [list of strings]")
    }

    static func parseString(_ text: String, invalid: (String) -> HubServiceError) throws -> String {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { throw invalid("the string \(text) is not closed") }
        let inner = String(text.dropFirst().dropLast())
        guard !inner.contains("\\") else { throw invalid("the string \(text) has an escape; escapes are not supported in hub.toml") }
        guard !inner.contains("\"") else { throw invalid("the string \(text) has a quote inside") }
        return inner
    }
}
