import Foundation
import SodiumPSI

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
///
/// `@unchecked Sendable` is safe: the only mutable state is guarded by the lock.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var lastPercent = -1
    private var lastStep = ""

    /// A handler for the library's progress reports, or nil when standard error is not a
    /// terminal (logs and pipes stay free of control characters).
    static func handlerIfTerminal() -> ProgressHandler? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        let bar = ProgressBar()
        return { bar.draw($0) }
    }

    private func draw(_ report: ProgressReport) {
        lock.withLock {
            // A new step after one of unknown length: end that step's line.
            if report.step != lastStep && lastPercent == -2 { writeStandardError("\n") }
            guard report.total > 0 else {
                // A streamed list: its length is not known until it has been read.
                writeStandardError("\r\(report.step): \(report.completed) items")
                lastStep = report.step
                lastPercent = -2
                return
            }
            let percent = report.completed * 100 / report.total
            guard percent != lastPercent || report.step != lastStep else { return }
            lastPercent = percent
            lastStep = report.step
            let width = 30
            let filled = percent * width / 100
            var line = "\r\(report.step) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            line += "] \(percent)% (\(report.completed)/\(report.total))"
            if report.completed >= report.total {
                line += "\n"
                lastPercent = -1
            }
            writeStandardError(line)
        }
    }
}
