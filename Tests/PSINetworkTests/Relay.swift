import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A free loopback port (bound and released; the tests' processes bind it right after).
func freePort() throws -> Int {
    let listener = try Relay.listen()
    defer { close(listener.fd) }
    return listener.port
}

/// A real TCP relay on loopback: forwards each connection to `127.0.0.1:target`, and cuts the
/// first one after `cutFirstAfter` bytes from the client. With no target it accepts and then
/// says nothing (a stalled peer).
final class Relay: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let lock = NSLock()
    private var count = 0
    private var stopped = false
    private var sockets: [Int32] = []

    var connections: Int { lock.lock(); defer { lock.unlock() }; return count }

    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    init(to target: Int?, cutFirstAfter: Int?) throws {
        (fd, port) = try Self.listen()
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                lock.lock(); count += 1; let first = count == 1; sockets.append(client); let done = stopped; lock.unlock()
                if done { close(client); return }
                guard let target else { continue }   // stalled: hold the connection, say nothing
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = UInt16(target).bigEndian
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard connected == 0 else { close(client); close(server); continue }
                lock.lock(); sockets.append(server); lock.unlock()
                let limit = first ? cutFirstAfter : nil
                Thread.detachNewThread { Self.pump(from: client, to: server, limit: limit) }
                Thread.detachNewThread { Self.pump(from: server, to: client, limit: nil) }
            }
        }
    }

    /// Copies bytes until either side closes, or `limit` bytes have passed: then cuts both.
    private static func pump(from: Int32, to: Int32, limit: Int?) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var passed = 0
        while true {
            let want = limit.map { min(buffer.count, $0 - passed) } ?? buffer.count
            if want <= 0 { break }
            let n = read(from, &buffer, want)
            if n <= 0 { break }
            var offset = 0
            while offset < n {
                let w = buffer[offset..<n].withUnsafeBytes { write(to, $0.baseAddress, $0.count) }
                if w <= 0 { shutdown(from, Int32(SHUT_RDWR)); shutdown(to, Int32(SHUT_RDWR)); return }
                offset += w
            }
            passed += n
        }
        shutdown(from, Int32(SHUT_RDWR)); shutdown(to, Int32(SHUT_RDWR))
    }

    func stop() {
        lock.lock(); stopped = true; let open = sockets; lock.unlock()
        for socket in open { shutdown(socket, Int32(SHUT_RDWR)) }
        shutdown(fd, Int32(SHUT_RDWR)); close(fd)
    }
}
