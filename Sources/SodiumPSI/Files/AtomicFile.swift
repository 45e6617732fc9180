public import Foundation
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
/// name only by ``commit(replacing:)``: a crash or an error never leaves a partial file under
/// the final name. Writes are buffered.
///
/// Permissions: a secret file (`mode` without group or other bits, 0600) gets exactly that
/// mode whatever the umask, so that its owner can always read it back; any other file (a
/// message, 0644) is created with `mode` narrowed by the operator's umask.
final class AtomicFile {
    let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var finished = false
    private var committed = false
    private static let bufferSize = 1 << 20

    /// A test seam: when set for the current task, called with the final path once the file is
    /// fully written and synced under its temporary name, just before it is renamed. A test
    /// throws from it to fail a commit at exactly that point, or looks at the folder then.
    @TaskLocal static var beforeCommit: (@Sendable (_ path: String, _ temporaryPath: String) throws -> Void)?

    /// Creates the temporary file.
    ///
    /// - Throws: ``OutputFileError/cannotCreate(path:reason:)`` when the folder is missing or
    ///   not writable.
    init(path: String, mode: mode_t) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + "."
            + SessionID.random().description.prefix(12) + ".partial"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw OutputFileError.cannotCreate(path: path, reason: Self.reason()) }
        if mode & 0o077 == 0 {
            // The umask may have narrowed a secret file's mode further (even to unreadable).
            guard fchmod(descriptor, mode) == 0 else {
                let error = OutputFileError.cannotCreate(path: path, reason: Self.reason())
                abort()
                throw error
            }
        }
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

    /// Flushes, syncs to disk and moves the file to its final name.
    ///
    /// - Parameter replacing: replace a file already under the final name (rename). When false
    ///   the file is linked under the final name, which fails if anything is there, so no
    ///   check-then-rename race can overwrite a file that appeared meanwhile.
    /// - Throws: ``OutputFileError/exists(path:)`` (not replacing),
    ///   ``OutputFileError/writeFailed(path:reason:)`` (disk full, I/O error) and
    ///   ``OutputFileError/cannotCreate(path:reason:)`` (the final name cannot be made).
    func commit(replacing: Bool = true) throws {
        do {
            try flush()
            guard fsync(descriptor) == 0 else { throw OutputFileError.writeFailed(path: path, reason: Self.reason()) }
            let status = close(descriptor)
            descriptor = -1
            guard status == 0 else { throw OutputFileError.writeFailed(path: path, reason: Self.reason()) }
            try Self.beforeCommit?(path, temporaryPath)
            if replacing {
                guard rename(temporaryPath, path) == 0 else { throw OutputFileError.cannotCreate(path: path, reason: Self.reason()) }
            } else {
                guard link(temporaryPath, path) == 0 else {
                    if errno == EEXIST { throw OutputFileError.exists(path: path) }
                    throw OutputFileError.cannotCreate(path: path, reason: Self.reason())
                }
                unlink(temporaryPath)
            }
        } catch {
            abort()
            throw error
        }
        finished = true
        committed = true
    }

    /// Removes the temporary file; the final name is untouched.
    func abort() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryPath)
        wipeBuffer()
    }

    /// Removes a committed file again: a later output of the same step failed, and the step
    /// must leave none of its outputs behind.
    func retract() {
        if committed { unlink(path) }
        committed = false
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeFully($0) }
        wipeBuffer()
        buffer.removeAll(keepingCapacity: true)
    }

    /// The buffer may hold a secret (state files).
    private func wipeBuffer() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeMutableBytes { wipe($0) }
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputFileError.writeFailed(path: path, reason: Self.reason())
            }
            offset += written
        }
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}

/// Commits a step's outputs in order (the state first, then the messages). When one fails,
/// those already committed are removed again, so a failed step leaves none of its outputs
/// under a final name — in particular no message to send without the state to finish it.
///
/// - Parameter outputs: each output's commit, and how to remove it once committed.
func commitInOrder(_ outputs: [(commit: () throws -> Void, retract: () -> Void)]) throws {
    for (index, output) in outputs.enumerated() {
        do { try output.commit() } catch {
            for done in outputs[..<index].reversed() { done.retract() }
            throw error
        }
    }
}

/// Why a step refused the paths it was given, or could not write one of its outputs.
///
/// Every case names the file. The `psi` command maps them to sysexits codes: a path mistake is
/// a usage error (64), an output that cannot be created 73, an I/O error while writing 74.
public enum OutputFileError: Error, Sendable, Equatable {
    /// Two paths of one step name the same file (after symbolic links and hard links), e.g.
    /// the state and the message to send: one would overwrite the other.
    case samePath(path: String, first: String, second: String)
    /// A step needs a path it was not given.
    case missingPath(what: String, reason: String)
    /// A secret file (state, key) is already there and replacing it was not asked for.
    case exists(path: String)
    /// The output cannot be created: its folder is missing or not writable, or the name is taken
    /// by a folder.
    case cannotCreate(path: String, reason: String)
    /// Writing the output failed (disk full, I/O error); nothing was saved under its name.
    case writeFailed(path: String, reason: String)
}

extension OutputFileError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .samePath(path, first, second):
            return "\(first) and \(second) name the same file \(path); every file of a step must be a different file"
        case let .missingPath(what, reason):
            return "\(what) is required: \(reason)"
        case let .exists(path):
            return "\(path): already exists and holds a secret; refusing to overwrite it (pass --force to replace it)"
        case let .cannotCreate(path, reason):
            return "\(path): cannot create the file: \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): writing failed: \(reason); nothing was saved"
        }
    }
}
