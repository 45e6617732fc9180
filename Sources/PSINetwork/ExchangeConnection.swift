public import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
#if canImport(Glibc)
import Glibc
#endif
public import SodiumPSI

/// The frames a connection received, handed to the exchange's thread; reading pauses while
/// many wait (backpressure: memory stays bounded however fast the peer sends).
final class FrameInbox: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Frame

    private let condition = NSCondition()
    private var frames: [Frame] = []
    private var head = 0
    private var closed = false
    private var failure: (any Error)?
    private var handshakeDone = false
    private var paused = false
    private var channel: (any Channel)?

    func handlerAdded(context: ChannelHandlerContext) {
        condition.lock(); channel = context.channel; condition.unlock()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        condition.lock()
        frames.append(frame)
        if frames.count - head >= 64, !paused {
            paused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
        condition.signal()
        condition.unlock()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            condition.lock(); handshakeDone = true; condition.signal(); condition.unlock()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        condition.lock(); closed = true; condition.broadcast(); condition.unlock()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        condition.lock(); if failure == nil { failure = error }; closed = true; condition.broadcast(); condition.unlock()
        context.close(promise: nil)
    }

    /// Waits for the TLS handshake.
    func waitForHandshake(timeout: Double) -> Result<Void, Outcome> {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !handshakeDone {
            if closed { return .failure(.closed(failure)) }
            if !condition.wait(until: deadline) && !handshakeDone { return .failure(.timedOut) }
        }
        return .success(())
    }

    enum Outcome: Error { case timedOut, closed((any Error)?) }

    /// A refusal the peer sent that is still unread: a send can fail because the peer closed
    /// after refusing, before this side read why.
    func pendingRefusal() -> Frame? {
        condition.lock(); defer { condition.unlock() }
        return frames[head...].first { $0.kind == .refusal }
    }

    /// After this side sent a refusal: drops what the peer still sends (reading on, so that
    /// closing does not reset the connection before the peer read the refusal) until the peer
    /// closes or `timeout` seconds have passed.
    func drainUntilClosed(timeout: Double) {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !closed {
            frames.removeAll(); head = 0
            if paused { paused = false; channel?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
            if !condition.wait(until: deadline) { return }
        }
    }

    /// The next frame, waiting at most `timeout` seconds for it.
    func next(timeout: Double) -> Result<Frame, Outcome> {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while head == frames.count {
            if closed { return .failure(.closed(failure)) }
            if !condition.wait(until: deadline) && head == frames.count { return .failure(closed ? .closed(failure) : .timedOut) }
        }
        let frame = frames[head]
        head += 1
        if head == frames.count { frames.removeAll(keepingCapacity: true); head = 0 }
        if paused, frames.count - head < 16 {
            paused = false
            channel?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
        return .success(frame)
    }
}

/// Who this side is in the exchange, and whom it accepts.
public struct ExchangeParties: Sendable {
    public enum Role: UInt8, Sendable { case initiator = 1, responder = 2 }
    public let role: Role
    public let identity: PartyIdentity
    public let peer: PartyPublicKey
    public let peerName: String
    public let purpose: PurposeLabel
    /// What the run is (full or incremental): both sides must agree.
    public let mode: UInt8

    public init(role: Role, identity: PartyIdentity, peer: PartyPublicKey, peerName: String, purpose: PurposeLabel, mode: UInt8) {
        self.role = role
        self.identity = identity
        self.peer = peer
        self.peerName = peerName
        self.purpose = purpose
        self.mode = mode
    }
}

/// One authenticated connection: frames in, frames out, the messages of the file flow as
/// chunked transfers (``offer(_:file:)``, ``fetch(_:into:)``).
public final class ExchangeSession: @unchecked Sendable {
    let channel: any Channel
    let inbox: FrameInbox
    let endpoint: String
    let timeout: Double
    let maximumMessageBytes: UInt64
    let log: @Sendable (String) -> Void

    init(channel: any Channel, inbox: FrameInbox, endpoint: String, timeout: Double, maximumMessageBytes: UInt64,
         log: @escaping @Sendable (String) -> Void) {
        self.channel = channel
        self.inbox = inbox
        self.endpoint = endpoint
        self.timeout = timeout
        self.maximumMessageBytes = maximumMessageBytes
        self.log = log
    }

    func send(_ frame: Frame) -> EventLoopFuture<Void> { channel.writeAndFlush(frame) }

    func sendAndWait(_ frame: Frame, during: String) throws {
        do { try send(frame).wait() } catch { throw lost(during: during) }
    }

    /// The connection is gone: the peer's refusal if it sent one before closing, else a lost connection.
    func lost(during: String) -> ExchangeError {
        inbox.pendingRefusal()?.refusalError ?? .connectionLost(endpoint: endpoint, during: during)
    }

    /// The next frame other than a keep-alive; a refusal frame from the peer is thrown.
    func receive(_ what: String) throws -> Frame {
        while true {
            switch inbox.next(timeout: timeout) {
            case .success(let frame):
                if frame.kind == .ping { continue }
                if frame.kind == .refusal { throw frame.refusalError }
                return frame
            case .failure(.timedOut): throw ExchangeError.timedOut(endpoint: endpoint, seconds: timeout, waitingFor: what)
            case .failure(.closed(let error)):
                if let error = error as? ExchangeError { throw error }
                throw lost(during: what)
            }
        }
    }

    func expect(_ kind: Frame.Kind, number: Int?, _ what: String) throws -> Frame {
        let frame = try receive(what)
        guard frame.kind == kind else {
            throw ExchangeError.protocolViolation(reason: "expected \(what), got a frame of type \(frame.kind)")
        }
        if let number, frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) != UInt8(number) {
            throw ExchangeError.protocolViolation(reason: "expected \(what), got another message's frame")
        }
        return frame
    }

    /// Tells the peer why it is refused (a refusal frame: reason code and words), waits a
    /// moment for the peer to read it and close, then closes.
    func refuse(_ error: ExchangeError) -> ExchangeError {
        let (reason, detail) = error.refusal ?? (.unspecified, error.errorDescription ?? "refused")
        if (try? send(.refusal(reason, detail)).wait()) != nil { inbox.drainUntilClosed(timeout: min(timeout, 5)) }
        close()
        return error
    }

    public func close() { _ = try? channel.close().wait() }

    /// Runs `body` (a step of the file flow, which may take minutes) while sending keep-alives,
    /// so that the peer's --timeout measures silence, not work.
    public func whileWorking<T>(_ body: () throws -> T) throws -> T {
        let interval = TimeAmount.milliseconds(Int64(max(100, timeout * 250)))
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [channel] _ in
            channel.writeAndFlush(Frame(.ping), promise: nil)
        }
        defer { task.cancel() }
        return try body()
    }

    // MARK: messages

    /// Sends message `number` from `file` unless the peer already holds it (same size and
    /// SHA-256), streamed in chunks with at most a few writes in flight, then waits for the
    /// peer's acknowledgement.
    public func offer(_ number: Int, file: URL) throws {
        let digest = try digestOf(file)
        let size = try fileSize(file)
        var offer = ByteBuffer()
        offer.writeInteger(UInt8(number)); offer.writeInteger(size); offer.writeBytes(digest)
        try sendAndWait(Frame(.offer, offer), during: "the offer of message \(number)")
        log("message \(number): offered (\(size) bytes, sha256 \(hex(digest)))")
        let want = try expect(.want, number: number, "the answer to the offer of message \(number)")
        guard want.payload.getInteger(at: want.payload.readerIndex + 1, as: UInt8.self) == 1 else {
            log("message \(number): the peer already holds it")
            return
        }
        guard let handle = FileHandle(forReadingAtPath: file.path) else { throw ExchangeError.io(path: file.path, reason: "cannot read") }
        defer { try? handle.close() }
        var inFlight = [EventLoopFuture<Void>]()
        while true {
            let chunk = handle.readData(ofLength: Frame.chunkSize)
            if chunk.isEmpty { break }
            var buffer = channel.allocator.buffer(capacity: chunk.count + 1)
            buffer.writeInteger(UInt8(number)); buffer.writeBytes(chunk)
            inFlight.append(send(Frame(.data, buffer)))
            if inFlight.count >= 8 {
                do { try inFlight.removeFirst().wait() } catch { throw lost(during: "message \(number)") }
            }
        }
        for future in inFlight {
            do { try future.wait() } catch { throw lost(during: "message \(number)") }
        }
        try sendAndWait(Frame(.end, bytes: [UInt8(number)]), during: "message \(number)")
        _ = try expect(.ack, number: number, "the acknowledgement of message \(number)")
        log("message \(number): sent")
    }

    /// Receives message `number` into `file` (through `file.part`, renamed once its size and
    /// SHA-256 match the offer). A file already there is kept when the offer is the same
    /// message, and a different one is refused.
    public func fetch(_ number: Int, into file: URL) throws {
        let offer = try expect(.offer, number: number, "message \(number)")
        var payload = offer.payload
        payload.moveReaderIndex(forwardBy: 1)
        guard let size = payload.readInteger(as: UInt64.self), let digest = payload.readBytes(length: 32) else {
            throw ExchangeError.protocolViolation(reason: "a short offer")
        }
        if FileManager.default.fileExists(atPath: file.path) {
            guard try digestOf(file) == digest else { throw refuse(.messageChanged(number: number, path: file.path)) }
            try sendAndWait(Frame(.want, bytes: [UInt8(number), 0]), during: "message \(number)")
            log("message \(number): already received")
            return
        }
        guard size <= maximumMessageBytes else { throw refuse(.messageTooLarge(number: number, size: size, limit: maximumMessageBytes)) }
        try sendAndWait(Frame(.want, bytes: [UInt8(number), 1]), during: "message \(number)")
        let part = file.appendingPathExtension("part")
        unlink(part.path)
        let fd = open(part.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ExchangeError.io(path: part.path, reason: String(cString: strerror(errno))) }
        var closed = false
        defer { if !closed { Glibc.close(fd); unlink(part.path) } }
        var received: UInt64 = 0
        while true {
            let frame = try receive("message \(number) (\(received) of \(size) bytes)")
            guard frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == UInt8(number) else {
                throw ExchangeError.protocolViolation(reason: "a frame of another message inside message \(number)")
            }
            if frame.kind == .end { break }
            guard frame.kind == .data else { throw ExchangeError.protocolViolation(reason: "a frame of type \(frame.kind) inside message \(number)") }
            let bytes = frame.payload.readableBytesView.dropFirst()
            received += UInt64(bytes.count)
            guard received <= size else { throw ExchangeError.protocolViolation(reason: "message \(number) is longer than offered") }
            let written = bytes.withContiguousStorageIfAvailable { write(fd, $0.baseAddress, $0.count) } ?? -1
            guard written == bytes.count else { throw ExchangeError.io(path: part.path, reason: "write failed") }
        }
        guard received == size, try digestOf(part) == digest else {
            throw ExchangeError.protocolViolation(reason: "message \(number) does not match its offer (size or SHA-256)")
        }
        guard fsync(fd) == 0, Glibc.close(fd) == 0 else { throw ExchangeError.io(path: part.path, reason: "cannot write") }
        closed = true
        guard rename(part.path, file.path) == 0 else {
            unlink(part.path)
            throw ExchangeError.io(path: file.path, reason: String(cString: strerror(errno)))
        }
        try sendAndWait(Frame(.ack, bytes: [UInt8(number)]), during: "message \(number)")
        log("message \(number): received (\(size) bytes, sha256 \(hex(digest)))")
    }

    private func digestOf(_ file: URL) throws -> [UInt8] {
        do { return try fileSHA256(file) } catch { throw ExchangeError.io(path: file.path, reason: error.localizedDescription) }
    }

    private func fileSize(_ file: URL) throws -> UInt64 {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber else {
            throw ExchangeError.io(path: file.path, reason: "cannot read")
        }
        return size.uint64Value
    }

    // MARK: handshake

    /// Both sides send a hello (role, run mode, purpose, identity key, a fresh nonce), check the
    /// peer's against what they expect, then sign the transcript: both hellos and the SHA-256 of
    /// the server's TLS certificate, so a proof cannot be replayed on another connection.
    func authenticate(_ parties: ExchangeParties, certificateDigest: [UInt8]) throws {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let magic = Array("SPSIX1".utf8)
        let mine = magic + [parties.role.rawValue, parties.mode] + sha256(Array(parties.purpose.value.utf8))
            + parties.identity.publicKey.bytes + nonce
        try sendAndWait(Frame(.hello, bytes: mine), during: "the handshake")
        let theirs = try expect(.hello, number: nil, "the peer's hello").bytes
        guard theirs.count == mine.count, Array(theirs.prefix(6)) == magic else {
            throw refuse(.protocolViolation(reason: "not a psi exchange hello"))
        }
        let key = try PartyPublicKey(bytes: Array(theirs[40..<72]))
        guard key == parties.peer else {
            throw refuse(.wrongPeer(expected: "\(parties.peerName) (\(parties.peer.fingerprint))", found: key.fingerprint))
        }
        let peerRole: ExchangeParties.Role = parties.role == .initiator ? .responder : .initiator
        guard theirs[6] == peerRole.rawValue else { throw refuse(.unauthenticated(reason: "both sides are the \(parties.role)")) }
        guard theirs[7] == parties.mode else { throw refuse(.unauthenticated(reason: "one side runs a full exchange and the other an incremental run")) }
        guard Array(theirs[8..<40]) == Array(mine[8..<40]) else { throw refuse(.unauthenticated(reason: "the peer's purpose label is not yours")) }
        let (first, second) = parties.role == .initiator ? (mine, theirs) : (theirs, mine)
        let transcript = Array("SodiumPSI exchange v1\0".utf8) + certificateDigest + first + second
        try sendAndWait(Frame(.auth, bytes: parties.identity.signature(of: [parties.role.rawValue] + transcript)), during: "the handshake")
        let signature = try expect(.auth, number: nil, "the peer's signature").bytes
        guard parties.peer.isValidSignature(signature, of: [peerRole.rawValue] + transcript) else {
            throw refuse(.unauthenticated(reason: "its signature of the handshake does not verify for \(parties.peerName)'s key (another TLS connection, or not its identity)"))
        }
    }
}

