import Foundation
import SodiumPSI

/// A one-line progress bar on standard error, drawn only when standard error is a terminal:
/// items done of the total, the rate and the time left. Every other line the command writes
/// (``note(_:)``, standard output) first erases the bar's line, so output never runs into it;
/// the bar is drawn again at the next report.
///
/// `@unchecked Sendable` is safe: the only mutable state is guarded by the lock.
final class ProgressBar: @unchecked Sendable {
    private static let lock = NSLock()
    /// Whether a bar is on screen without its line ended (guarded by `lock`).
    nonisolated(unsafe) private static var lineOpen = false

    private var step = ""
    private var stepStartedAt = Date()
    private var lastDrawn = Date.distantPast
    private var lastPercent = -1
    private let now: () -> Date

    init(now: @escaping () -> Date = Date.init) { self.now = now }

    /// A handler for the library's progress reports, or nil when standard error is not a
    /// terminal (logs and pipes stay free of control characters).
    static func handlerIfTerminal() -> ProgressHandler? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        let bar = ProgressBar()
        return { report in
            lock.withLock {
                guard let line = bar.line(for: report) else { return }
                // A finished step's bar stays on screen, ended by its own newline.
                let finished = Self.isFinished(report)
                writeStandardError("\r\u{1B}[K" + line + (finished ? "\n" : ""))
                lineOpen = !finished
            }
        }
    }

    /// Erases the bar's line, if one is open, before other output.
    static func clearLine() {
        lock.withLock {
            if lineOpen { writeStandardError("\r\u{1B}[K") }
            lineOpen = false
        }
    }

    /// The text to draw for `report`, or nil when nothing visible changed (at most ten draws a
    /// second, and always the last).
    func line(for report: ProgressReport) -> String? {
        let time = now()
        if report.step != step {
            step = report.step
            stepStartedAt = time
            lastPercent = -1
        }
        let finished = Self.isFinished(report)
        guard finished || time.timeIntervalSince(lastDrawn) >= 0.1 else { return nil }
        let elapsed = time.timeIntervalSince(stepStartedAt)
        let rate = elapsed > 0 ? Double(report.completed) / elapsed : 0
        guard report.total > 0 else {
            // No total, not even an estimate: items done and the rate.
            lastDrawn = time
            return "\(report.step): \(Self.count(report.completed)) items" + (rate > 0 ? ", \(Self.count(Int(rate)))/s" : "")
        }
        // An estimated total (a streamed list's lines) may be passed before the exact last report.
        let percent = min(report.totalIsEstimate ? 99 : 100, report.completed * 100 / report.total)
        guard percent != lastPercent || finished else { return nil }
        lastPercent = percent
        lastDrawn = time
        let width = 24
        let filled = percent * width / 100
        var text = "\(report.step) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        text += "] \(percent)% \(Self.count(report.completed)) of " + (report.totalIsEstimate ? "about " : "") + Self.count(report.total)
        if finished {
            text += " in \(Self.duration(elapsed))"
        } else if rate > 0 {
            text += ", ETA \(Self.duration(Double(report.total - report.completed) / rate))"
        } else {
            text += ", ETA --"
        }
        return text
    }

    /// A step is finished at its exact total (an estimated one may be passed or not reached).
    static func isFinished(_ report: ProgressReport) -> Bool {
        report.total > 0 && !report.totalIsEstimate && report.completed >= report.total
    }

    /// `12,345`.
    static func count(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }

    /// `0:07`, `12:30`, `1:02:03`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
