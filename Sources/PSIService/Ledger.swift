public import Foundation
internal import SodiumPSI

/// A value bound into, or read from, a ledger statement.
public enum SQLValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null

    var integer: Int64? { if case .integer(let v) = self { v } else { nil } }
    var text: String? { if case .text(let v) = self { v } else { nil } }
    var blob: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

/// The SQL spoken by a ledger database.
public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// Runs statements inside one transaction (`?` placeholders, bound in order).
public protocol SQLExecutor {
    /// Runs one statement; returns its rows, columns in the statement's order.
    @discardableResult
    func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]]
}

/// A database the ledger can live in: SQLite (``SQLiteLedgerDatabase``) or PostgreSQL
/// (``PostgresLedgerDatabase``).
public protocol LedgerDatabase: Sendable {
    /// Its dialect.
    var dialect: SQLDialect { get }
    /// Runs `body` in one serializable-enough transaction: committed when it returns, rolled
    /// back when it throws.
    func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T) async throws -> T
    /// Closes connections.
    func close() async throws
}

/// The schema, one migration a version. Each version runs once, in its own transaction,
/// recorded in `psi_schema_migrations`; replicas starting at once serialise on a lock.
enum LedgerSchema {
    static func migrations(_ dialect: SQLDialect) -> [(version: Int, statements: [String])] {
        let blob = dialect == .sqlite ? "BLOB" : "BYTEA"
        let serial = dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"
        var v1 = [
            """
            CREATE TABLE psi_requests (
                member TEXT NOT NULL, request_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, item_count BIGINT NOT NULL,
                day TEXT NOT NULL, month TEXT NOT NULL, state TEXT NOT NULL, response \(blob), receipt TEXT,
                created_at BIGINT NOT NULL, answered_at BIGINT, PRIMARY KEY (member, request_id))
            """,
            "CREATE TABLE psi_usage (member TEXT NOT NULL, period TEXT NOT NULL, items BIGINT NOT NULL, PRIMARY KEY (member, period))",
            """
            CREATE TABLE psi_audit (
                seq \(serial), request_id TEXT NOT NULL, member TEXT NOT NULL, at BIGINT NOT NULL, item_count BIGINT NOT NULL,
                setup_digest TEXT, key_id TEXT, response_sha256 TEXT, outcome TEXT NOT NULL)
            """,
        ]
        // The audit table is append-only: the database itself refuses updates and deletes.
        switch dialect {
        case .sqlite:
            v1 += ["CREATE TRIGGER psi_audit_no_update BEFORE UPDATE ON psi_audit BEGIN SELECT RAISE(ABORT, 'psi_audit is append-only'); END",
                   "CREATE TRIGGER psi_audit_no_delete BEFORE DELETE ON psi_audit BEGIN SELECT RAISE(ABORT, 'psi_audit is append-only'); END"]
        case .postgres:
            v1 += ["CREATE FUNCTION psi_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'psi_audit is append-only'; END $$",
                   "CREATE TRIGGER psi_audit_no_change BEFORE UPDATE OR DELETE ON psi_audit FOR EACH ROW EXECUTE FUNCTION psi_audit_append_only()"]
        }
        return [(1, v1)]
    }

    /// Applies the migrations not yet applied.
    static func migrate(_ db: any LedgerDatabase) async throws {
        for migration in migrations(db.dialect) {
            try await db.transaction { sql in
                if db.dialect == .postgres {
                    try await sql.execute("SELECT pg_advisory_xact_lock(7317001)", [])
                }
                try await sql.execute("CREATE TABLE IF NOT EXISTS psi_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)", [])
                let done = try await sql.execute("SELECT version FROM psi_schema_migrations WHERE version = ?", [.integer(Int64(migration.version))])
                guard done.isEmpty else { return }
                for statement in migration.statements { try await sql.execute(statement, []) }
                try await sql.execute("INSERT INTO psi_schema_migrations (version, applied_at) VALUES (?, ?)",
                                      [.integer(Int64(migration.version)), .integer(Int64(Date().timeIntervalSince1970))])
            }
        }
    }
}

/// The hub's ledger: requests charged against members' item budgets, their stored answers
/// (so that a retry is answered again without a second charge), and the append-only audit.
public struct Ledger: Sendable {
    /// The database.
    public let database: any LedgerDatabase

    /// A ledger over `database` (migrate it first with ``migrate()``).
    public init(database: any LedgerDatabase) { self.database = database }

    /// Applies the schema's migrations.
    public func migrate() async throws { try await LedgerSchema.migrate(database) }

    /// A request's answer, stored.
    public struct StoredAnswer: Sendable, Equatable {
        public let response: [UInt8]
        public let receipt: String
    }

    /// What ``reserve(member:requestID:bodySHA256:itemCount:budget:now:)`` decided.
    public enum Reservation: Sendable, Equatable {
        /// Charged: evaluate, then ``complete`` or ``release``.
        case charged
        /// Charged earlier by an attempt that did not finish (a crash, a dropped connection):
        /// evaluate again without a new charge.
        case chargedEarlier
        /// Answered earlier: send the stored answer again.
        case answered(StoredAnswer)
        /// The request id was used with another body.
        case conflict
        /// Over budget: nothing charged.
        case overBudget(period: String, used: Int64, limit: Int)
    }

    /// UTC day and month of `date`.
    public static func periods(_ date: Date) -> (day: String, month: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        let month = String(format: "%04d-%02d", c.year!, c.month!)
        return (String(format: "%@-%02d", month, c.day!), month)
    }

    /// Charges `itemCount` items to the member's day and month in one transaction with the
    /// request's row, unless the request id is known or the budget would be exceeded.
    public func reserve(member: String, requestID: String, bodySHA256: String, itemCount: Int, budget: ItemBudget,
                        now: Date = Date()) async throws -> Reservation {
        let (day, month) = Self.periods(now)
        let n = Int64(itemCount)
        do {
            return try await reserveCharging(member: member, requestID: requestID, bodySHA256: bodySHA256, n: n, day: day, month: month,
                                             budget: budget, now: now)
        } catch let over as OverBudget {
            return .overBudget(period: over.period, used: over.used, limit: over.limit)
        }
    }

    private func reserveCharging(member: String, requestID: String, bodySHA256: String, n: Int64, day: String, month: String,
                                 budget: ItemBudget, now: Date) async throws -> Reservation {
        try await database.transaction { sql -> Reservation in
            let inserted = try await sql.execute(
                """
                INSERT INTO psi_requests (member, request_id, body_sha256, item_count, day, month, state, created_at)
                VALUES (?, ?, ?, ?, ?, ?, 'charged', ?) ON CONFLICT (member, request_id) DO NOTHING RETURNING item_count
                """,
                [.text(member), .text(requestID), .text(bodySHA256), .integer(n), .text(day), .text(month),
                 .integer(Int64(now.timeIntervalSince1970))])
            if inserted.isEmpty {
                let rows = try await sql.execute("SELECT body_sha256, state, response, receipt FROM psi_requests WHERE member = ? AND request_id = ?",
                                                 [.text(member), .text(requestID)])
                guard let row = rows.first else { throw HubServiceError.ledger(reason: "a request row vanished during its transaction") }
                guard row[0].text == bodySHA256 else { return .conflict }
                if row[1].text == "answered", let response = row[2].blob, let receipt = row[3].text {
                    return .answered(StoredAnswer(response: response, receipt: receipt))
                }
                return .chargedEarlier
            }
            for (period, limit) in [("D" + day, budget.perDay), ("M" + month, budget.perMonth)] {
                try await sql.execute("INSERT INTO psi_usage (member, period, items) VALUES (?, ?, 0) ON CONFLICT (member, period) DO NOTHING",
                                      [.text(member), .text(period)])
                let updated = try await sql.execute(
                    "UPDATE psi_usage SET items = items + ? WHERE member = ? AND period = ? AND items + ? <= ? RETURNING items",
                    [.integer(n), .text(member), .text(period), .integer(n), .integer(Int64(limit))])
                if updated.isEmpty {
                    let used = try await sql.execute("SELECT items FROM psi_usage WHERE member = ? AND period = ?", [.text(member), .text(period)])
                    throw OverBudget(period: period, used: used.first?[0].integer ?? 0, limit: limit)
                }
            }
            return .charged
        }
    }

    struct OverBudget: Error { let period: String; let used: Int64; let limit: Int }

    /// Stores the answer of a charged request and appends its audit row, in one transaction.
    /// Returns the answer stored: this one, or one stored meanwhile by a concurrent attempt.
    public func complete(member: String, requestID: String, itemCount: Int, setupDigest: String, keyID: String, answer: StoredAnswer,
                         now: Date = Date()) async throws -> StoredAnswer {
        try await database.transaction { sql -> StoredAnswer in
            let updated = try await sql.execute(
                "UPDATE psi_requests SET state = 'answered', response = ?, receipt = ?, answered_at = ? WHERE member = ? AND request_id = ? AND state = 'charged' RETURNING item_count",
                [.blob(answer.response), .text(answer.receipt), .integer(Int64(now.timeIntervalSince1970)), .text(member), .text(requestID)])
            if updated.isEmpty {
                let rows = try await sql.execute("SELECT response, receipt FROM psi_requests WHERE member = ? AND request_id = ? AND state = 'answered'",
                                                 [.text(member), .text(requestID)])
                guard let row = rows.first, let response = row[0].blob, let receipt = row[1].text else {
                    throw HubServiceError.ledger(reason: "request \(requestID) of \(member) is neither charged nor answered")
                }
                return StoredAnswer(response: response, receipt: receipt)
            }
            try await Self.appendAudit(sql, requestID: requestID, member: member, itemCount: itemCount, setupDigest: setupDigest, keyID: keyID,
                                       responseSHA256: hex(sha256(answer.response)), outcome: "answered", now: now)
            return answer
        }
    }

    /// Refunds a charged request that was not answered and records why.
    public func release(member: String, requestID: String, itemCount: Int, outcome: String, now: Date = Date()) async throws {
        try await database.transaction { sql in
            let deleted = try await sql.execute(
                "DELETE FROM psi_requests WHERE member = ? AND request_id = ? AND state = 'charged' RETURNING item_count, day, month",
                [.text(member), .text(requestID)])
            if let row = deleted.first, let n = row[0].integer, let day = row[1].text, let month = row[2].text {
                for period in ["D" + day, "M" + month] {
                    try await sql.execute("UPDATE psi_usage SET items = items - ? WHERE member = ? AND period = ?",
                                          [.integer(n), .text(member), .text(period)])
                }
            }
            try await Self.appendAudit(sql, requestID: requestID, member: member, itemCount: itemCount, setupDigest: nil, keyID: nil,
                                       responseSHA256: nil, outcome: outcome, now: now)
        }
    }

    /// Appends an audit row of a refusal that charged nothing.
    public func recordRefusal(member: String, requestID: String, itemCount: Int, outcome: String, now: Date = Date()) async throws {
        try await database.transaction { sql in
            try await Self.appendAudit(sql, requestID: requestID, member: member, itemCount: itemCount, setupDigest: nil, keyID: nil,
                                       responseSHA256: nil, outcome: outcome, now: now)
        }
    }

    /// The receipt of an answered request.
    public func receipt(member: String, requestID: String) async throws -> String? {
        try await database.transaction { sql in
            try await sql.execute("SELECT receipt FROM psi_requests WHERE member = ? AND request_id = ? AND state = 'answered'",
                                  [.text(member), .text(requestID)]).first?[0].text
        }
    }

    /// Items charged to a member in a period (`D2026-12-02`, `M2026-12`).
    public func usage(member: String, period: String) async throws -> Int64 {
        try await database.transaction { sql in
            try await sql.execute("SELECT items FROM psi_usage WHERE member = ? AND period = ?", [.text(member), .text(period)]).first?[0].integer ?? 0
        }
    }

    /// One audit row.
    public struct AuditRow: Sendable, Equatable {
        public let requestID: String, member: String, itemCount: Int64, outcome: String, responseSHA256: String?
    }

    /// The audit table, in order.
    public func audit() async throws -> [AuditRow] {
        try await database.transaction { sql in
            try await sql.execute("SELECT request_id, member, item_count, outcome, response_sha256 FROM psi_audit ORDER BY seq", []).map {
                AuditRow(requestID: $0[0].text ?? "", member: $0[1].text ?? "", itemCount: $0[2].integer ?? 0, outcome: $0[3].text ?? "",
                         responseSHA256: $0[4].text)
            }
        }
    }

    /// Requests in the ledger: (member, request id, items, state).
    public func requests() async throws -> [(member: String, requestID: String, itemCount: Int64, state: String)] {
        try await database.transaction { sql in
            try await sql.execute("SELECT member, request_id, item_count, state FROM psi_requests ORDER BY member, request_id", []).map {
                (member: $0[0].text ?? "", requestID: $0[1].text ?? "", itemCount: $0[2].integer ?? 0, state: $0[3].text ?? "")
            }
        }
    }

    static func appendAudit(_ sql: any SQLExecutor, requestID: String, member: String, itemCount: Int, setupDigest: String?, keyID: String?,
                            responseSHA256: String?, outcome: String, now: Date) async throws {
        func opt(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
        try await sql.execute(
            "INSERT INTO psi_audit (request_id, member, at, item_count, setup_digest, key_id, response_sha256, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(requestID), .text(member), .integer(Int64(now.timeIntervalSince1970)), .integer(Int64(itemCount)), opt(setupDigest),
             opt(keyID), opt(responseSHA256), .text(outcome)])
    }
}
