import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, under a name no method shadows.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// A file written under a temporary name in the destination folder and renamed over the final
/// name only by ``commit()``: a crash or an error never leaves a partial file under the final
/// name. Writes are buffered.
final class AtomicFile {
    let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var finished = false
    private static let bufferSize = 1 << 20

    /// Creates the temporary file with exactly `mode` permissions.
    init(path: String, mode: mode_t) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + "."
            + SessionID.random().description.prefix(12) + ".partial"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Self.error(path) }
        // The umask may have narrowed the mode; make it exactly what was asked.
        fchmod(descriptor, mode)
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit { abort() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Flushes, syncs to disk and renames over the final name.
    func commit() throws {
        try syncAndClose()
        guard rename(temporaryPath, path) == 0 else { throw Self.error(path) }
        finished = true
    }

    /// Flushes, syncs to disk and gives the file its final name only if that name is free:
    /// `link(2)` creates the name atomically or fails, so no check-then-rename race can replace
    /// a file that appeared meanwhile.
    ///
    /// - Returns: false, with the temporary file removed, when the final name exists.
    func commitWithoutReplacing() throws -> Bool {
        try syncAndClose()
        defer { abort() }
        guard link(temporaryPath, path) == 0 else {
            if errno == EEXIST { return false }
            throw Self.error(path)
        }
        return true
    }

    private func syncAndClose() throws {
        try flush()
        Self.pauseBeforeRenameForTests(temporaryPath)
        guard fsync(descriptor) == 0 else { throw Self.error(path) }
        guard close(descriptor) == 0 else { descriptor = -1; throw Self.error(path) }
        descriptor = -1
    }

    /// Removes the temporary file; the final name is untouched.
    func abort() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { close(descriptor) }
        unlink(temporaryPath)
        if !buffer.isEmpty { buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, $0.count) } }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeFully($0) }
        buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, $0.count) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.error(path)
            }
            offset += written
        }
    }

    /// Fault injection for the crash test: when `SODIUM_PSI_TEST_PAUSE_BEFORE_RENAME` names a
    /// marker path, a process creates that marker once its output is fully written under the
    /// temporary name, then waits, so that a test can kill it at exactly that point.
    private static func pauseBeforeRenameForTests(_ temporaryPath: String) {
        guard let marker = ProcessInfo.processInfo.environment["SODIUM_PSI_TEST_PAUSE_BEFORE_RENAME"] else { return }
        _ = FileManager.default.createFile(atPath: marker, contents: Data(temporaryPath.utf8))
        sleep(30)
    }

    private static func error(_ path: String) -> MessageFileError {
        .io(path: path, reason: String(cString: strerror(errno)))
    }
}
