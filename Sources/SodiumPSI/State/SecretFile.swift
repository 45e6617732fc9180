public import Foundation
internal import CSodium
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that hold secrets (party state, keys): created with mode 0600, written atomically,
/// and refused when other users could read them, as ssh does with private keys.
public enum SecretFile {
    /// Writes `bytes` to `url` atomically: a temporary file (mode 0600) in the same folder,
    /// flushed to disk, then renamed over the final name.
    ///
    /// - Throws: ``StateFileError/io(path:reason:)`` when the folder is not writable.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        do {
            let file = try AtomicFile(path: url.path, mode: 0o600)
            try file.write(bytes)
            try file.commit()
        } catch MessageFileError.io(let path, let reason) {
            throw StateFileError.io(path: path, reason: reason)
        }
    }

    /// Reads a secret file, refusing it when its permissions let group or others read or write it.
    ///
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` for a mode other than
    ///   owner-only, ``StateFileError/io(path:reason:)`` when it cannot be read.
    public static func read(from url: URL) throws -> [UInt8] {
        let file = try SecretFileReader(url: url)
        return try file.bytes(at: 0, count: file.length)
    }
}

/// A secret file opened for reading at any offset, after its permissions were checked on the
/// open descriptor (so the file checked is the file read).
final class SecretFileReader {
    let path: String
    let length: Int
    private let descriptor: Int32

    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` for a mode other than
    ///   owner-only, ``StateFileError/io(path:reason:)`` when it cannot be opened.
    init(url: URL) throws {
        path = url.path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StateFileError.io(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw StateFileError.io(path: path, reason: String(cString: strerror(errno)))
        }
        let mode = Int(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else {
            close(descriptor)
            throw StateFileError.insecurePermissions(path: path, mode: mode)
        }
        length = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Fills `destination` from `offset`.
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        do { try readFully(descriptor, path: path, at: offset, into: destination) } catch MessageFileError.io(let path, let reason) {
            throw StateFileError.io(path: path, reason: reason)
        }
    }

    /// `count` bytes from `offset`.
    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}

/// Errors reading or writing party state and key files.
public enum StateFileError: Error, Sendable, Equatable {
    /// The file could not be read or written.
    case io(path: String, reason: String)
    /// The file can be read or written by users other than its owner.
    case insecurePermissions(path: String, mode: Int)
    /// The file is not a state file of this library, or of another version or role.
    case invalidStateFile(path: String, reason: String)
}

extension StateFileError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .insecurePermissions(path, mode):
            return "\(path): permissions \(String(mode, radix: 8)) let other users access this secret file; expected 600 (run: chmod 600 \(path))"
        case let .invalidStateFile(path, reason):
            return "\(path): not a usable state file: \(reason)"
        }
    }
}
