public import Foundation
internal import SQLiteNIO
internal import NIOCore
internal import Synchronization

/// The ledger in an SQLite file (the embedded default: one replica, the file beside the hub key).
///
/// One connection, one transaction at a time (`BEGIN IMMEDIATE`), WAL journal, synchronous
/// FULL: a transaction that returned is on disk, so a crash after it loses nothing and a crash
/// before it leaves nothing.
public final class SQLiteLedgerDatabase: LedgerDatabase {
    public let dialect = SQLDialect.sqlite
    private let connection: SQLiteConnection
    private let lock = AsyncLock()

    private init(connection: SQLiteConnection) { self.connection = connection }

    /// Opens (creating) the file.
    public static func open(path: String) async throws -> SQLiteLedgerDatabase {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        let db = SQLiteLedgerDatabase(connection: connection)
        _ = try await connection.query("PRAGMA journal_mode = WAL", [])
        _ = try await connection.query("PRAGMA synchronous = FULL", [])
        _ = try await connection.query("PRAGMA busy_timeout = 10000", [])
        return db
    }

    struct Executor: SQLExecutor {
        let connection: SQLiteConnection
        func execute(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
            let rows = try await connection.query(sql, binds.map { value -> SQLiteData in
                switch value {
                case .integer(let v): .integer(Int(v))
                case .text(let v): .text(v)
                case .blob(let v): .blob(ByteBuffer(bytes: v))
                case .null: .null
                }
            })
            return rows.map { row in
                row.columns.map { column in
                    switch column.data {
                    case .integer(let v): .integer(Int64(v))
                    case .float(let v): .integer(Int64(v))
                    case .text(let v): .text(v)
                    case .blob(var v): .blob(v.readBytes(length: v.readableBytes) ?? [])
                    case .null: .null
                    }
                }
            }
        }
    }

    public func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T) async throws -> T {
        await lock.lock()
        defer { lock.unlock() }
        let executor = Executor(connection: connection)
        _ = try await connection.query("BEGIN IMMEDIATE", [])
        do {
            let result = try await body(executor)
            _ = try await connection.query("COMMIT", [])
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    public func close() async throws { try await connection.close() }
}

/// A FIFO lock for async code (one SQLite transaction at a time on one connection).
final class AsyncLock: Sendable {
    private struct State: ~Copyable {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if s.locked { s.waiters.append(continuation); return false }
                s.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.locked = false; return nil }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
