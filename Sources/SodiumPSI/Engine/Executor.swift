import Dispatch
import Foundation

/// A bounded executor for the `async` steps of mutual PSI: the CPU work of each step runs on
/// its own threads, never on Swift's cooperative pool, with exactly ``threads`` worker threads.
///
/// Steps given the same executor run one after another, each on all of its threads, so a
/// service that answers many requests bounds the cores PSI takes by sizing one executor (the
/// `psi` command uses one of all cores). Cancelling the task of a step stops it at the next
/// chunk; it then leaves nothing behind: no message, no state, no temporary file.
///
/// ```swift
/// let executor = PSIExecutor(threads: 4)
/// Task { for await report in executor.progress { print(report.step, report.completed) } }
/// let a = try await MutualPSIInitiator(items: cursor, configuration: config, executor: executor)
/// ```
public final class PSIExecutor: Sendable {
    /// Worker threads each step uses (at least 1).
    public let threads: Int
    /// Progress of every step run on this executor, as it happens (reports are dropped when
    /// nobody iterates, beyond the 1,024 most recent).
    public let progress: AsyncStream<ProgressReport>
    private let reports: AsyncStream<ProgressReport>.Continuation
    private let queue = DispatchQueue(label: "SodiumPSI.PSIExecutor", qos: .userInitiated)

    /// An executor with `threads` worker threads (values below 1 are raised to 1).
    public init(threads: Int) {
        self.threads = max(1, threads)
        (progress, reports) = AsyncStream.makeStream(of: ProgressReport.self, bufferingPolicy: .bufferingNewest(1_024))
    }

    /// An executor with one thread for each active processor core.
    public static var allCores: PSIExecutor { PSIExecutor(threads: ProcessInfo.processInfo.activeProcessorCount) }

    deinit { reports.finish() }

    /// Runs `body` on the executor's queue with `configuration` set to its threads, its progress
    /// and the task's cancellation.
    func run<T: Sendable>(_ configuration: MutualPSIConfiguration,
                          _ body: @escaping @Sendable (MutualPSIConfiguration) throws -> T) async throws -> T {
        ensureSodiumInitialized()
        let flag = CancellationFlag()
        var config = configuration
        config.parallelism = Parallelism(threads: threads, batchSize: configuration.parallelism.batchSize)
        config.cancellation = flag
        let own = configuration.progress
        let reports = self.reports
        config.progress = { report in
            own?(report)
            reports.yield(report)
        }
        let step = config
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try body(step) }) }
            }
        } onCancel: {
            flag.cancel()
        }
    }
}

/// Set when the task of a step is cancelled; the engine checks it between chunks.
///
/// `@unchecked Sendable` is safe: the flag is read and written under the lock.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    func cancel() { lock.withLock { cancelled = true } }

    /// Throws `CancellationError` once cancelled.
    func check() throws {
        if lock.withLock({ cancelled }) { throw CancellationError() }
    }
}

extension MutualPSIConfiguration {
    /// Throws `CancellationError` when the step's task was cancelled.
    func checkCancelled() throws { try cancellation?.check() }
}

/// Records from an `AsyncSequence` (a database cursor), pulled by a step running on an
/// executor's thread, a chunk at a time.
///
/// `@unchecked Sendable` is safe: the iterator is used by one thread at a time — the step's,
/// which waits for each `next()` to finish before it asks again.
final class AsyncRecords: @unchecked Sendable {
    /// The sequence's iterator, type-erased.
    private let nextItem: () async throws -> Identifier?

    init<S: AsyncSequence>(_ sequence: S) where S.Element == Identifier {
        var iterator = sequence.makeAsyncIterator()
        nextItem = { try await iterator.next() }
    }

    /// The next item, awaited from the (blocking) calling thread; nil at the end.
    private func next() throws -> Identifier? {
        let box = ResultBox<Identifier?>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.result = .success(try await self.nextItem()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    /// The records, as a source for the engine (cancellation is checked before each item).
    func source(_ configuration: MutualPSIConfiguration) -> RecordSource {
        RecordSource { body in
            var index = 0
            while let item = try self.next() {
                try configuration.checkCancelled()
                try body(ListRecord(identifier: item, original: item.canonical, lineNumber: 0))
                index += 1
            }
        }
    }
}

/// A result handed from a task to a waiting thread. `@unchecked Sendable` is safe: it is written
/// before the semaphore is signalled and read only after the wait.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

// MARK: - async steps

extension MutualPSIInitiator {
    /// Step 1 from an `AsyncSequence` of items (a database cursor), on `executor`.
    ///
    /// - Parameters:
    ///   - items: this party's items; repeats are collapsed.
    ///   - configuration: the agreed settings; its ``MutualPSIConfiguration/parallelism`` is
    ///     replaced by the executor's threads.
    ///   - executor: where the CPU work runs.
    /// - Throws: `CancellationError` when the task is cancelled (nothing is kept), and the
    ///   errors of ``init(items:configuration:)``.
    public init<S: AsyncSequence>(items: S, configuration: MutualPSIConfiguration, executor: PSIExecutor) async throws
        where S.Element == Identifier {
        let records = AsyncRecords(items)
        self = try await executor.run(configuration) { config in
            try MutualPSIInitiator(source: records.source(config), configuration: config, secret: nil)
        }
    }

    /// ``finish(responderBlindedSet:initiatorSetReblinded:)`` on `executor`.
    ///
    /// - Throws: `CancellationError` when the task is cancelled, and the errors of the
    ///   synchronous step.
    public func finish(responderBlindedSet: MutualPSIMessage, initiatorSetReblinded: MutualPSIMessage,
                       executor: PSIExecutor) async throws -> Completion {
        let party = self
        return try await executor.run(configuration) { config in
            try party.finish(responderBlindedSet: responderBlindedSet, initiatorSetReblinded: initiatorSetReblinded,
                             configuration: config)
        }
    }
}

extension MutualPSIResponder {
    /// A responder's blinding from an `AsyncSequence` of items (a database cursor), on `executor`.
    ///
    /// - Throws: `CancellationError` when the task is cancelled (nothing is kept), and the
    ///   errors of ``init(items:configuration:)``.
    public init<S: AsyncSequence>(items: S, configuration: MutualPSIConfiguration, executor: PSIExecutor) async throws
        where S.Element == Identifier {
        let records = AsyncRecords(items)
        self = try await executor.run(configuration) { config in
            try MutualPSIResponder(source: records.source(config), configuration: config, secret: nil)
        }
    }

    /// ``respond(to:)`` on `executor`.
    ///
    /// - Throws: `CancellationError` when the task is cancelled (this responder is then
    ///   unchanged), and the errors of the synchronous step.
    public mutating func respond(to initiatorBlindedSet: MutualPSIMessage, executor: PSIExecutor) async throws -> Reply {
        let party = self
        let (answered, reply) = try await executor.run(configuration) { config in
            var answering = party
            let reply = try answering.respond(to: initiatorBlindedSet, configuration: config)
            return (answering, reply)
        }
        self = answered
        return reply
    }

    /// ``finish(responderSetReblinded:)`` on `executor`.
    ///
    /// - Throws: `CancellationError` when the task is cancelled, and the errors of the
    ///   synchronous step.
    public func finish(responderSetReblinded: MutualPSIMessage, executor: PSIExecutor) async throws -> MutualPSIResult {
        let party = self
        return try await executor.run(configuration) { config in
            try party.finish(responderSetReblinded: responderSetReblinded, configuration: config)
        }
    }
}
