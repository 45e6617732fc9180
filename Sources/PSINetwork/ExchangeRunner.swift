public import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SodiumPSI

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// How to reach the peer and how long to wait for it.
public struct ExchangeNetworkOptions: Sendable {
    public enum Endpoint: Sendable {
        /// Responder: accept connections here, with this certificate chain and key (PEM).
        case listen(host: String, port: Int, certificate: String, key: String)
        /// Initiator: connect here, trusting these roots (PEM), checking the name `serverName`.
        case connect(host: String, port: Int, trustRoots: String, serverName: String?)
    }

    public var endpoint: Endpoint
    /// Seconds of silence from the peer (also the TLS handshake's bound) before giving up.
    public var timeout: Double = 60
    public var connectTimeout: Double = 10
    /// Initiator: new connections after a failed or lost one (0.25 s, 0.5 s, 1 s … at most 10 s apart).
    public var retries: Int = 3
    /// Responder: how long to wait for each connection.
    public var acceptTimeout: Double = 300
    public var maximumMessageBytes: UInt64 = 4096 << 20

    public init(endpoint: Endpoint) { self.endpoint = endpoint }

    var name: String {
        switch endpoint {
        case let .listen(host, port, _, _), let .connect(host, port, _, _): return "\(host):\(port)"
        }
    }
}

/// Parses `HOST:PORT` (`[::1]:PORT` for IPv6).
public func parseEndpoint(_ text: String) -> (host: String, port: Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
}

/// Runs `body` over an authenticated connection, again over a new one when the connection
/// fails, is lost or stalls: `body` must resume from the files it already holds (the file
/// flow's steps commit their outputs atomically, so it does).
public enum ExchangeRunner {
    public static func run(_ options: ExchangeNetworkOptions, parties: ExchangeParties, log: @escaping @Sendable (String) -> Void,
                           body: (ExchangeSession) throws -> Void) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        switch options.endpoint {
        case let .connect(host, port, roots, serverName):
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            tls.trustRoots = .file(roots)
            tls.certificateVerification = .fullVerification
            let context: NIOSSLContext
            do { context = try NIOSSLContext(configuration: tls) } catch { throw ExchangeError.tls(reason: "\(roots): \(error)") }
            var attempt = 0
            while true {
                do {
                    let session = try connect(group: group, host: host, port: port, serverName: serverName ?? host,
                                              context: context, options: options, log: log)
                    defer { session.close() }
                    try session.authenticate(parties, certificateDigest: try certificateDigest(session.channel, peer: true))
                    log("connected to \(options.name), peer \(parties.peerName) (\(parties.peer.fingerprint)) authenticated")
                    try body(session)
                    return
                } catch let error as ExchangeError where error.isTransient && attempt < options.retries {
                    attempt += 1
                    let delay = min(10, 0.25 * Double(1 << min(attempt - 1, 6)))
                    log("\(error.localizedDescription); connecting again in \(delay) s (attempt \(attempt + 1) of \(options.retries + 1))")
                    Thread.sleep(forTimeInterval: delay)
                }
            }
        case let .listen(host, port, certificate, key):
            let chain: [NIOSSLCertificate]
            let context: NIOSSLContext
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificate)
                let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
                var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
                tls.minimumTLSVersion = .tlsv12
                context = try NIOSSLContext(configuration: tls)
            } catch { throw ExchangeError.tls(reason: "\(certificate), \(key): \(error)") }
            guard let own = chain.first, let der = try? own.toDERBytes() else { throw ExchangeError.tls(reason: "\(certificate) holds no certificate") }
            let accepted = AcceptQueue()
            let server: any Channel
            do {
                server = try ServerBootstrap(group: group)
                    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let inbox = FrameInbox()
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                            try channel.pipeline.syncOperations.addHandler(inbox)
                            accepted.push(channel, inbox)
                        }
                    }
                    .bind(host: host, port: port).wait()
            } catch { throw ExchangeError.cannotListen(endpoint: options.name, reason: "\(error)") }
            defer { _ = try? server.close().wait() }
            log("listening on \(host):\(server.localAddress?.port ?? port)")
            while true {
                guard let (channel, inbox) = accepted.pop(timeout: options.acceptTimeout) else {
                    throw ExchangeError.noConnection(endpoint: options.name, seconds: options.acceptTimeout)
                }
                let peerName = channel.remoteAddress?.description ?? "the peer"
                let session = ExchangeSession(channel: channel, inbox: inbox, endpoint: peerName, timeout: options.timeout,
                                              maximumMessageBytes: options.maximumMessageBytes, log: log)
                defer { session.close() }
                do {
                    try handshake(session, inbox: inbox)
                    try session.authenticate(parties, certificateDigest: sha256(der))
                    log("accepted \(peerName), peer \(parties.peerName) (\(parties.peer.fingerprint)) authenticated")
                    try body(session)
                    return
                } catch let error as ExchangeError where error.isTransient {
                    log("\(error.localizedDescription); waiting for the initiator to connect again")
                }
            }
        }
    }

    private static func connect(group: any EventLoopGroup, host: String, port: Int, serverName: String, context: NIOSSLContext,
                                options: ExchangeNetworkOptions, log: @escaping @Sendable (String) -> Void) throws -> ExchangeSession {
        let inbox = FrameInbox()
        let channel: any Channel
        do {
            channel = try ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(options.connectTimeout * 1000)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let name = serverName.isIPAddress ? nil : serverName
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: name))
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
                        try channel.pipeline.syncOperations.addHandler(inbox)
                    }
                }
                .connect(host: host, port: port).wait()
        } catch { throw ExchangeError.cannotConnect(endpoint: options.name, reason: "\(error)") }
        let session = ExchangeSession(channel: channel, inbox: inbox, endpoint: options.name, timeout: options.timeout,
                                      maximumMessageBytes: options.maximumMessageBytes, log: log)
        do { try handshake(session, inbox: inbox) } catch { session.close(); throw error }
        return session
    }

    private static func handshake(_ session: ExchangeSession, inbox: FrameInbox) throws {
        switch inbox.waitForHandshake(timeout: session.timeout) {
        case .success: return
        case .failure(.timedOut): throw ExchangeError.timedOut(endpoint: session.endpoint, seconds: session.timeout, waitingFor: "the TLS handshake")
        case .failure(.closed(let error)):
            if let error = error as? NIOSSLError { throw ExchangeError.tls(reason: "\(error)") }
            if let error, "\(error)".contains("handshake") || "\(error)".contains("certificate") { throw ExchangeError.tls(reason: "\(error)") }
            throw ExchangeError.connectionLost(endpoint: session.endpoint, during: "the TLS handshake")
        }
    }

    private static func certificateDigest(_ channel: any Channel, peer: Bool) throws -> [UInt8] {
        guard let certificate = try? channel.nioSSL_peerCertificate().wait(), let der = try? certificate.toDERBytes() else {
            throw ExchangeError.tls(reason: "the server presented no certificate")
        }
        return sha256(der)
    }
}

/// Connections the listener accepted, taken one at a time.
final class AcceptQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [(any Channel, FrameInbox)] = []

    func push(_ channel: any Channel, _ inbox: FrameInbox) {
        condition.lock(); queue.append((channel, inbox)); condition.signal(); condition.unlock()
    }

    func pop(timeout: Double) -> (any Channel, FrameInbox)? {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while queue.isEmpty { if !condition.wait(until: deadline) && queue.isEmpty { return nil } }
        return queue.removeFirst()
    }
}

extension String {
    var isIPAddress: Bool { (try? SocketAddress(ipAddress: self, port: 0)) != nil }
}
