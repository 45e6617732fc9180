import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the temporary files of one streaming step live: a private folder (mode 0700) removed
/// with everything in it when released — on success and on error alike — or, for a step that
/// must not touch the file system (the in-memory API), memory.
///
/// Temporary files hold blinded values and copies of the party's own records, so on disk they
/// are created with mode 0600 inside the folder and never outlive the step.
final class WorkDirectory {
    /// The folder; nil when the files are kept in memory.
    let path: String?
    private var files = 0

    /// Creates `.sodium-psi-work-<random>` inside `parent`.
    init(in parent: URL) throws {
        let path = parent.path + "/.sodium-psi-work-" + SessionID.random().description.prefix(12)
        guard mkdir(path, 0o700) == 0 else {
            throw OutputFileError.cannotCreate(path: path, reason: "cannot create a work folder: " + String(cString: strerror(errno)))
        }
        self.path = path
    }

    private init() { path = nil }

    /// Temporary files held in memory.
    static func inMemory() -> WorkDirectory { WorkDirectory() }

    deinit { if let path { try? FileManager.default.removeItem(atPath: path) } }

    /// A new empty temporary file.
    func newFile(bufferSize: Int = 1 << 20) throws -> SpillFile {
        files += 1
        guard let path else { return SpillFile(memoryNamed: "temporary buffer \(files)") }
        return try SpillFile(path: path + "/\(files).tmp", bufferSize: bufferSize)
    }
}

/// A temporary file that is appended to through a buffer, then read back from any offset; or
/// the same held in memory. A file is removed when released. Typed appends and reads are for
/// plain values only (integers and ``BlindedElement``s, which hold no references).
final class SpillFile {
    /// The file's path, or a name for a buffer in memory (for errors).
    let path: String
    private var descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// The bytes of a buffer in memory (nil for a file).
    private var memory: [UInt8]?
    /// Bytes appended so far.
    private(set) var byteCount = 0

    init(path: String, bufferSize: Int) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw OutputFileError.cannotCreate(path: path, reason: String(cString: strerror(errno))) }
        buffer = .allocate(byteCount: max(bufferSize, 64), alignment: 16)
    }

    /// A buffer in memory.
    init(memoryNamed name: String) {
        path = name
        descriptor = -1
        buffer = .allocate(byteCount: 0, alignment: 16)
        memory = []
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(path)
        }
        buffer.deallocate()
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if memory != nil {
            memory!.append(contentsOf: bytes)
            byteCount += bytes.count
            return
        }
        if buffered + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try writeFully(bytes, at: byteCount)
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
        try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]), at: byteCount - buffered)
        buffered = 0
    }

    /// Fills `destination` from `offset` (after ``flush()``).
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        guard let memory else { return try readFully(descriptor, path: path, at: offset, into: destination) }
        guard offset >= 0, offset + destination.count <= memory.count else {
            throw MessageFileError.io(path: path, reason: "read past the end of a temporary buffer")
        }
        guard destination.count > 0 else { return }
        memory.withUnsafeBytes { destination.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: destination.count) }
    }

    /// Reads `count` values of type `T` from the value at `index` (after ``flush()``).
    func read<T>(_: T.Type, from index: Int, count: Int) throws -> [T] {
        try [T](filling: count) { try read(at: index * MemoryLayout<T>.stride, into: $0) }
    }

    /// Calls `body` with successive chunks of at most `maximumBytes` bytes (after ``flush()``).
    func forEachChunk(maximumBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let memory {
            try memory.withUnsafeBytes { all in
                var offset = 0
                while offset < all.count {
                    let n = min(max(1, maximumBytes), all.count - offset)
                    try body(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                    offset += n
                }
            }
            return
        }
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

    private func writeFully(_ bytes: UnsafeRawBufferPointer, at start: Int) throws {
        var offset = 0
        while offset < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(start + offset))
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
