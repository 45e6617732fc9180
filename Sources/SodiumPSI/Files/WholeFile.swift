import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file's bytes, read with `open`, `fstat` and `pread` straight into the array.
///
/// Not `Data(contentsOf:)`: Foundation's reader on Linux leaks its 4 KiB read buffer for some
/// files (LeakSanitizer reports it under the message-file fuzz target), and goes through `Data`
/// only to be copied once more into `[UInt8]`.
///
/// - Parameter limit: the largest file accepted, checked on the open descriptor before reading.
/// - Throws: the `reason` (a system error's text, "not a regular file", or the size against the
///   limit) through `error`, which names the file as its caller's error type does.
func readWholeFile(_ url: URL, limit: Int = Int.max, error: (String) -> any Error) throws -> [UInt8] {
    let path = url.path
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw error(String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw error(String(cString: strerror(errno))) }
    guard info.st_mode & S_IFMT == S_IFREG else { throw error("not a regular file") }
    let count = Int(info.st_size)
    guard count <= limit else { throw error("\(count) bytes, more than the \(limit) accepted") }
    do {
        return try [UInt8](filling: count) { try readFully(descriptor, path: path, at: 0, into: $0) }
    } catch MessageFileError.io(_, let reason) {
        throw error(reason)
    }
}
