public import Foundation

/// Why `psi exchange` stopped. ``isTransient`` errors (the connection failed, was lost or
/// stalled) are retried by the initiator and waited out by the listener; the others stop.
public enum ExchangeError: Error, LocalizedError, Sendable {
    case cannotConnect(endpoint: String, reason: String)
    case cannotListen(endpoint: String, reason: String)
    case connectionLost(endpoint: String, during: String)
    case timedOut(endpoint: String, seconds: Double, waitingFor: String)
    case noConnection(endpoint: String, seconds: Double)
    case wrongPeer(expected: String, found: String)
    case unauthenticated(reason: String)
    case peerRefused(reason: String)
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

    /// Refused the peer's identity or signature (exit status 77).
    public var isAuthentication: Bool {
        switch self {
        case .wrongPeer, .unauthenticated, .peerRefused: return true
        default: return false
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
        case let .peerRefused(reason): return "the peer refused this exchange: \(reason)"
        case let .protocolViolation(reason): return "the peer broke the exchange protocol: \(reason)"
        case let .messageChanged(number, path):
            return "the peer offered a message \(number) different from the one already received (\(path)): a second set of blinded values for the same run is refused"
        case let .messageTooLarge(number, size, limit): return "the peer offered a message \(number) of \(size) bytes, above the limit of \(limit) bytes (--max-message-mib)"
        case let .tls(reason): return "TLS: \(reason)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
