import Foundation
internal import CSodium
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private folder (mode 0700) for the temporary files of one streaming step, removed with
/// everything in it when released — on success and on error alike.
///
/// Temporary files hold blinded values and copies of the party's own records, so they are
/// created with mode 0600 inside it and never outlive the step.
final class WorkDirectory {
    let path: String
    private var files = 0

    /// Creates `.sodium-psi-work-<random>` inside `parent`.
    init(in parent: URL) throws {
        path = parent.path + "/.sodium-psi-work-" + SessionID.random().description.prefix(12)
        guard mkdir(path, 0o700) == 0 else {
            throw OutputFileError.cannotCreate(path: path, reason: "cannot create a work folder: " + String(cString: strerror(errno)))
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A new empty temporary file.
    func newFile(bufferSize: Int = 1 << 20) throws -> SpillFile {
        files += 1
        return try SpillFile(path: path + "/\(files).tmp", bufferSize: bufferSize)
    }
}

/// A temporary file that is appended to through a buffer, then read back from any offset.
/// It is removed when released. Typed appends and reads are for plain values only (integers
/// and ``BlindedElement``s, which hold no references).
final class SpillFile {
    let path: String
    private var descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Bytes appended so far.
    private(set) var byteCount = 0

    init(path: String, bufferSize: Int) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw OutputFileError.cannotCreate(path: path, reason: String(cString: strerror(errno))) }
        buffer = .allocate(byteCount: max(bufferSize, 64), alignment: 16)
    }

    deinit {
        close(descriptor)
        unlink(path)
        buffer.deallocate()
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if buffered + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try writeFully(bytes)
        } else {
            (buffer.baseAddress! + buffered).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            buffered += bytes.count
        }
        byteCount += bytes.count
    }

    func append<T>(_ values: UnsafeBufferPointer<T>) throws {
        try append(UnsafeRawBufferPointer(values))
    }

    func append<T>(_ values: [T]) throws {
        try values.withUnsafeBytes { try append($0) }
    }

    /// Writes out buffered bytes, so that reads see everything appended.
    func flush() throws {
        guard buffered > 0 else { return }
        try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        buffered = 0
    }

    /// Fills `destination` from `offset` (after ``flush()``).
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        try readFully(descriptor, path: path, at: offset, into: destination)
    }

    /// Reads `count` values of type `T` from the value at `index` (after ``flush()``).
    func read<T>(_: T.Type, from index: Int, count: Int) throws -> [T] {
        try [T](unsafeUninitializedCapacity: count) { out, initialized in
            try read(at: index * MemoryLayout<T>.stride, into: UnsafeMutableRawBufferPointer(out))
            initialized = count
        }
    }

    /// Calls `body` with successive chunks of at most `maximumBytes` bytes (after ``flush()``).
    func forEachChunk(maximumBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try flush()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(maximumBytes, byteCount)), alignment: 16)
        defer { chunk.deallocate() }
        var offset = 0
        while offset < byteCount {
            let n = min(chunk.count, byteCount - offset)
            let part = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n])
            try read(at: offset, into: part)
            try body(UnsafeRawBufferPointer(part))
            offset += n
        }
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(byteCount - buffered + offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputFileError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}

/// `pread` until `destination` is full.
///
/// - Throws: ``MessageFileError/io(path:reason:)`` on a read error or when the file ends first.
func readFully(_ descriptor: Int32, path: String, at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
    var done = 0
    while done < destination.count {
        let n = pread(descriptor, destination.baseAddress! + done, destination.count - done, off_t(offset + done))
        if n < 0 {
            if errno == EINTR { continue }
            throw MessageFileError.io(path: path, reason: String(cString: strerror(errno)))
        }
        guard n > 0 else { throw MessageFileError.io(path: path, reason: "the file ended early (was it changed while in use?)") }
        done += n
    }
}
