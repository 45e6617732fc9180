public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks that no two paths of a step name the same file, so that no output overwrites
/// another output or an input of the same step.
package enum FilePaths {
    /// - Parameter paths: each path with the name to use in the error (a role, or the command
    ///   option it came from); nil paths are skipped.
    /// - Throws: ``OutputFileError/samePath(path:first:second:)`` for the first pair found.
    package static func requireDistinct(_ paths: [(name: String, url: URL?)]) throws {
        var seen = [String: String]()
        for (name, url) in paths {
            guard let url else { continue }
            let identity = Self.identity(of: url)
            if let first = seen[identity] {
                throw OutputFileError.samePath(path: url.path, first: first, second: name)
            }
            seen[identity] = name
        }
    }

    /// Refuses an existing secret file early, before any work, unless it is to be replaced.
    /// (The commit refuses it again atomically, should one appear meanwhile.)
    ///
    /// - Throws: ``OutputFileError/exists(path:)``.
    package static func refuseExisting(_ url: URL, replacing: Bool) throws {
        var info = stat()
        if !replacing, lstat(url.path, &info) == 0 { throw OutputFileError.exists(path: url.path) }
    }

    /// The file a path names: an existing file by device and inode (so symbolic and hard links
    /// resolve to it); a file not made yet by its folder's device and inode and its name.
    static func identity(of url: URL) -> String {
        var info = stat()
        if stat(url.path, &info) == 0 { return "file \(info.st_dev) \(info.st_ino)" }
        let folder = url.deletingLastPathComponent()
        if stat(folder.path, &info) == 0 { return "in \(info.st_dev) \(info.st_ino) \(url.lastPathComponent)" }
        return "path " + url.standardizedFileURL.path
    }
}

/// The SHA-256 of a whole file, read a MiB at a time.
///
/// - Throws: ``MessageFileError/io(path:reason:)`` when it cannot be read.
package func fileSHA256(_ url: URL) throws -> [UInt8] {
    let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw MessageFileError.io(path: url.path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var hasher = SHA256Hasher()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw MessageFileError.io(path: url.path, reason: String(cString: strerror(errno)))
        }
        if n == 0 { break }
        chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
    }
    return hasher.finalize()
}
