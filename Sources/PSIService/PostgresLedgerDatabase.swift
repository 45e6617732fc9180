public import Foundation
internal import PostgresNIO
internal import NIOCore
internal import Logging
public import ServiceLifecycle

/// The ledger in PostgreSQL, shared by several replicas. Budgets stay exact across replicas
/// because each charge is one conditional `UPDATE … WHERE items + n <= limit` on the member's
/// usage row inside the request's transaction: PostgreSQL serialises concurrent updates of
/// one row, and re-checks the condition on the row as the other transaction left it.
public final class PostgresLedgerDatabase: LedgerDatabase, Service {
    public let dialect = SQLDialect.postgres
    let client: PostgresClient
    let logger: Logger
    let runner: Task<Void, Never>

    /// A client of the server (run it with ``run()`` before its first transaction).
    public init(host: String, port: Int, user: String, password: String?, database: String) {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database,
                                                         tls: .disable)
        configuration.options.maximumConnections = 8
        let client = PostgresClient(configuration: configuration)
        self.client = client
        self.logger = Logger(label: "sodium-psi.ledger.postgres")
        // The pool runs from here until ``close()``.
        self.runner = Task { await client.run() }
    }

    /// The pool already runs (from ``init``); this only waits for cancellation.
    public func run() async throws {
        try? await gracefulShutdown()
    }

    struct Executor: SQLExecutor {
        let connection: PostgresConnection
        let logger: Logger
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            // `?` placeholders become $1, $2, … (the ledger's statements hold no `?` in literals).
            var text = ""
            var n = 0
            for c in sql {
                if c == "?" { n += 1; text += "$\(n)" } else { text.append(c) }
            }
            var bindings = PostgresBindings()
            for value in binds {
                switch value {
                case .integer(let v): bindings.append(v)
                case .text(let v): bindings.append(v)
                case .blob(let v): bindings.append(ByteBuffer(bytes: v))
                case .null: bindings.appendNull()
                }
            }
            let rows = try await connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: logger)
            var result = [[SQLValue]]()
            for try await row in rows {
                var values = [SQLValue]()
                for cell in row {
                    guard cell.bytes != nil else { values.append(.null); continue }
                    switch cell.dataType {
                    case .int8, .int4, .int2: values.append(.integer(try cell.decode(Int64.self)))
                    case .bytea:
                        var buffer = try cell.decode(ByteBuffer.self)
                        values.append(.blob(buffer.readBytes(length: buffer.readableBytes) ?? []))
                    case .void: values.append(.null)
                    default: values.append(.text(try cell.decode(String.self)))
                    }
                }
                result.append(values)
            }
            return result
        }
    }

    public func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(Executor(connection: connection, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            // The ledger's own refusals (over budget) come back as they were thrown.
            if let inner = error.closureError, error.rollbackError == nil { throw inner }
            throw error
        }
    }

    public func close() async throws {
        runner.cancel()
        await runner.value
    }
}
