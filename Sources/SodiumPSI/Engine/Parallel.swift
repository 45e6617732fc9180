import Dispatch
import Foundation

/// How much parallelism the batch engine uses.
public struct Parallelism: Sendable, Equatable {
    /// The default ``batchSize``: about 50 ms of ristretto255 multiplications.
    public static let defaultBatchSize = 1_024

    /// Number of worker threads (at least 1).
    public let threads: Int
    /// The most items a worker takes at a time. Small batches keep the workers finishing
    /// together; each batch costs one lock round trip.
    public let batchSize: Int

    /// A fixed number of threads.
    ///
    /// - Parameters:
    ///   - threads: worker threads; values below 1 are raised to 1.
    ///   - batchSize: the most items a worker takes at a time; values below 1 are raised to 1.
    public init(threads: Int, batchSize: Int = defaultBatchSize) {
        self.threads = max(1, threads)
        self.batchSize = max(1, batchSize)
    }

    /// One thread for each active processor core.
    public static var allCores: Parallelism { Parallelism(threads: ProcessInfo.processInfo.activeProcessorCount) }

    /// A single thread, in the calling thread.
    public static let serial = Parallelism(threads: 1)
}

/// Progress of a long step, reported as batches of work complete.
public struct ProgressReport: Sendable, Equatable {
    /// What is being done, e.g. "blinding".
    public let step: String
    /// Items done so far.
    public let completed: Int
    /// Items in the step; 0 when not known at all. For a list file read as a stream it is an
    /// estimate (``totalIsEstimate``) until the list has been read: its lines, counted before the
    /// step, minus a header; blank and invalid lines make it a little high.
    public let total: Int
    /// Whether ``total`` is an estimate. The step's last report has the exact total.
    public let totalIsEstimate: Bool

    init(step: String, completed: Int, total: Int, totalIsEstimate: Bool = false) {
        self.step = step
        self.completed = completed
        self.total = total
        self.totalIsEstimate = totalIsEstimate
    }
}

/// Receives ``ProgressReport``s, possibly from worker threads, in increasing order of `completed`.
public typealias ProgressHandler = @Sendable (ProgressReport) -> Void

/// Runs `body` over `0..<count` split into contiguous ranges, one per worker.
///
/// Each range is processed by exactly one call; the calls may run concurrently, so `body` must
/// only write to the part of shared buffers that its range owns. The first error thrown (by
/// range order) is rethrown after all ranges finish.
func forEachRange(count: Int, parallelism: Parallelism, minimumPerThread: Int = 64,
                  progress: (step: String, handler: ProgressHandler)? = nil,
                  _ body: (Range<Int>) throws -> Void) throws {
    guard count > 0 else { return }
    let workers = min(parallelism.threads, max(1, count / minimumPerThread))
    var report: (@Sendable (Int) -> Void)?
    if let (step, handler) = progress {
        report = { handler(ProgressReport(step: step, completed: $0, total: count)) }
    }
    let state = WorkState(count: count, workers: workers, batchSize: parallelism.batchSize, progress: report)
    if workers == 1 {
        while let range = state.nextRange() {
            try body(range)
            state.completed(range.count)
        }
        return
    }
    withoutActuallyEscaping(body) { body in
        // Workers call `body` on disjoint ranges and the caller waits for all of them, which is
        // the contract documented above; the closure itself need not be Sendable.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let range = state.nextRange() {
                do {
                    try body(range)
                    state.completed(range.count)
                } catch {
                    state.set(range.lowerBound, error)
                }
            }
        }
    }
    if let error = state.firstError { throw error }
}

/// The shared work counter and errors of one `forEachRange` call.
///
/// Each worker takes the next piece until none are left. Pieces are at most `batchSize` items,
/// and shrink towards the end (each is at most an eighth of what remains per worker, and at
/// least 16 items), so the workers finish together: with a few large pieces, one worker can sit
/// idle at the end of every chunk while another finishes. This is "guided" self-scheduling.
///
/// `@unchecked Sendable` is safe: all mutable state is accessed under the lock.
private final class WorkState: @unchecked Sendable {
    private let count: Int
    private let workers: Int
    private let batchSize: Int
    private var next = 0
    private var done = 0
    private var errors: [(start: Int, error: any Error)] = []
    private let lock = NSLock()
    private let progress: (@Sendable (Int) -> Void)?

    init(count: Int, workers: Int, batchSize: Int, progress: (@Sendable (Int) -> Void)?) {
        self.count = count
        self.workers = workers
        self.batchSize = batchSize
        self.progress = progress
    }

    func nextRange() -> Range<Int>? {
        lock.withLock {
            let remaining = count - next
            guard remaining > 0 else { return nil }
            let size = min(remaining, max(min(batchSize, 16), min(batchSize, remaining / (workers * 8))))
            defer { next += size }
            return next..<(next + size)
        }
    }

    func completed(_ items: Int) {
        guard let progress else { return }
        // Reported under the lock so that reports arrive in increasing order.
        lock.withLock {
            done += items
            progress(done)
        }
    }

    func set(_ start: Int, _ error: any Error) { lock.withLock { errors.append((start, error)) } }

    /// The error of the earliest range that failed.
    var firstError: (any Error)? { lock.withLock { errors.min { $0.start < $1.start }?.error } }
}

/// Overlaps serial work with parallel work: each submitted input is transformed in the
/// background (the transform itself uses all threads, through ``forEachRange``) while the caller
/// reads the next input and consumes the previous output.
///
/// At most one transform runs at a time; outputs are consumed in submission order, on the
/// caller's thread. Reading a list and writing files thus no longer leave the cores idle
/// between chunks.
final class Pipeline<Input, Output> {
    /// One transform in flight. `@unchecked Sendable` is safe: `result` is written by the
    /// background job before it signals `done`, and read by the caller only after waiting.
    private final class Job: @unchecked Sendable {
        var result: Result<Output, any Error>?
        let done = DispatchSemaphore(value: 0)
    }

    private let transform: (Input) throws -> Output
    private let consume: (Output) throws -> Void
    private var running: Job?

    init(transform: @escaping (Input) throws -> Output, consume: @escaping (Output) throws -> Void) {
        self.transform = transform
        self.consume = consume
    }

    deinit { running?.done.wait() }

    /// Waits for the transform in flight, starts this input's, then consumes the finished output.
    func submit(_ input: Input) throws {
        let previous = try waitForRunning()
        let job = Job()
        // The transform captures only its input and immutable, thread-safe state (secrets are
        // read-only, progress handlers are Sendable); the caller waits for it before returning.
        nonisolated(unsafe) let work = { [transform] in try transform(input) }
        DispatchQueue.global(qos: .userInitiated).async {
            job.result = Result { try work() }
            job.done.signal()
        }
        running = job
        if let previous { try consume(previous) }
    }

    /// Waits for the last transform and consumes its output.
    func finish() throws {
        if let last = try waitForRunning() { try consume(last) }
    }

    private func waitForRunning() throws -> Output? {
        guard let job = running else { return nil }
        job.done.wait()
        running = nil
        return try job.result!.get()
    }
}
