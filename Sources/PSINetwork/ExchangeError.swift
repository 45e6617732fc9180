public import Foundation

/// Why one side refused the other, as the refusal frame carries it (Docs/protocol.md, "Over the
/// network", frame type 9): the code decides the refused side's exit status.
public enum RefusalReason: UInt8, Sendable, CustomStringConvertible {
    /// A code this version does not know.
    case unspecified = 0
    /// The peer's identity key is not the one expected for this exchange.
    case identity = 1
    /// The handshake did not authenticate: same role on both sides, another run mode or purpose,
    /// or a signature that does not verify.
    case authentication = 2
    /// A frame or hello that breaks the exchange protocol.
    case protocolViolation = 3
    /// An offer of a message other than the one the refusing side already received.
    case messageChanged = 4
    /// An offer above the refusing side's `--max-message-mib`.
    case messageTooLarge = 5

    public var description: String {
        switch self {
        case .unspecified: return "refused"
        case .identity: return "identity refused"
        case .authentication: return "handshake not authenticated"
        case .protocolViolation: return "protocol violation"
        case .messageChanged: return "message changed"
        case .messageTooLarge: return "message too large"
        }
    }
}

/// Why `psi exchange` stopped. ``isTransient`` errors (the connection failed, was lost or
/// stalled) are retried by the initiator and waited out by the listener; the others stop.
/// ``exitStatus`` is the command's exit status for each (the table in Docs/threat-model.md,
/// "Files, paths and exit codes").
public enum ExchangeError: Error, LocalizedError, Sendable {
    case cannotConnect(endpoint: String, reason: String)
    case cannotListen(endpoint: String, reason: String)
    case connectionLost(endpoint: String, during: String)
    case timedOut(endpoint: String, seconds: Double, waitingFor: String)
    case noConnection(endpoint: String, seconds: Double)
    case wrongPeer(expected: String, found: String)
    case unauthenticated(reason: String)
    /// The peer sent a refusal frame: its reason code and its words.
    case peerRefused(reason: RefusalReason, detail: String)
    case protocolViolation(reason: String)
    case messageChanged(number: Int, path: String)
    case messageTooLarge(number: Int, size: UInt64, limit: UInt64)
    case tls(reason: String)
    case io(path: String, reason: String)

    public var isTransient: Bool {
        switch self {
        case .cannotConnect, .connectionLost, .timedOut: return true
        default: return false
        }
    }

    /// Exit status 69 (sysexits' EX_UNAVAILABLE): the peer could not be reached, was lost or
    /// stalled, or never connected.
    public static let unavailableStatus: Int32 = 69
    /// Exit status 77 (EX_NOPERM): this side refused the peer's identity or handshake, or the
    /// peer refused this side's.
    public static let refusedStatus: Int32 = 77
    /// Exit status 76 (EX_PROTOCOL): every other stop (a protocol violation, a changed or
    /// too large message, TLS, a file of the work folder).
    public static let protocolStatus: Int32 = 76

    /// The exit status of `psi exchange` stopped by this error.
    public var exitStatus: Int32 {
        switch self {
        case .wrongPeer, .unauthenticated: return Self.refusedStatus
        case .peerRefused(.identity, _), .peerRefused(.authentication, _): return Self.refusedStatus
        case .cannotConnect, .connectionLost, .timedOut, .noConnection: return Self.unavailableStatus
        case .peerRefused, .cannotListen, .protocolViolation, .messageChanged, .messageTooLarge, .tls, .io: return Self.protocolStatus
        }
    }

    /// What this side tells the peer it refuses, in the refusal frame: the reason code and words
    /// written for the peer. Nil for errors that are not a refusal.
    var refusal: (reason: RefusalReason, detail: String)? {
        switch self {
        case let .wrongPeer(expected, found):
            return (.identity, "your identity key \(found) is not the one it expects for this exchange (\(expected))")
        case let .unauthenticated(reason): return (.authentication, reason)
        case let .protocolViolation(reason): return (.protocolViolation, reason)
        case let .messageChanged(number, _):
            return (.messageChanged, "it already holds another message \(number) of this run; a second set of blinded values is refused")
        case let .messageTooLarge(number, size, limit):
            return (.messageTooLarge, "message \(number) of \(size) bytes is above its limit of \(limit) bytes (--max-message-mib)")
        default: return nil
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .cannotConnect(endpoint, reason): return "cannot connect to \(endpoint): \(reason)"
        case let .cannotListen(endpoint, reason): return "cannot listen on \(endpoint): \(reason)"
        case let .connectionLost(endpoint, during): return "the connection with \(endpoint) was lost during \(during)"
        case let .timedOut(endpoint, seconds, waitingFor):
            return "the peer at \(endpoint) sent nothing for \(Int(seconds)) s while waiting for \(waitingFor) (--timeout); no output was written"
        case let .noConnection(endpoint, seconds): return "no peer connected to \(endpoint) within \(Int(seconds)) s (--accept-timeout)"
        case let .wrongPeer(expected, found):
            return "refused the peer: it proved the identity \(found), expected \(expected) (your peers file); nothing was sent"
        case let .unauthenticated(reason): return "refused the peer: \(reason); nothing was sent"
        case let .peerRefused(reason, detail):
            return "the peer refused this exchange (\(reason)): \(detail)" + (exitStatus == Self.refusedStatus ? "; nothing was sent" : "")
        case let .protocolViolation(reason): return "the peer broke the exchange protocol: \(reason)"
        case let .messageChanged(number, path):
            return "the peer offered a message \(number) different from the one already received (\(path)): a second set of blinded values for the same run is refused"
        case let .messageTooLarge(number, size, limit): return "the peer offered a message \(number) of \(size) bytes, above the limit of \(limit) bytes (--max-message-mib)"
        case let .tls(reason): return "TLS: \(reason)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
