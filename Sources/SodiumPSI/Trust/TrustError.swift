public import Foundation

/// Why an identity file or a peers file was refused, or a peer could not be used. Cases name
/// files, peers and key fingerprints; never a secret key.
public enum TrustError: Error, Sendable, Equatable {
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// Creating an identity would replace an existing identity file.
    case identityFileExists(path: String)
    /// The file is not an identity file of this library, or is damaged.
    case invalidIdentityFile(path: String, reason: String)
    /// The peers file is not valid (what and where in `reason`).
    case invalidPeersFile(path: String, reason: String)
    /// No peer of this name in the peers file.
    case unknownPeer(path: String, name: String, known: [String])
    /// The peer is listed, but not for this purpose.
    case peerNotAllowed(path: String, name: String, fingerprint: String, purpose: String, allowed: [String])
}

extension TrustError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .identityFileExists(path):
            return "\(path): an identity file already exists; expected a new file name (or --force to replace it, which makes the old identity unusable for your peers)"
        case let .invalidIdentityFile(path, reason):
            return "\(path): not a usable identity file: \(reason)"
        case let .invalidPeersFile(path, reason):
            return "\(path): invalid peers file: \(reason)"
        case let .unknownPeer(path, name, known):
            let list = known.isEmpty ? "it lists no peers" : "it lists " + known.map { "\"\($0)\"" }.joined(separator: ", ")
            return "\(path): no peer named \"\(name)\"; \(list)"
        case let .peerNotAllowed(path, name, fingerprint, purpose, allowed):
            return "\(path): peer \"\(name)\" (\(fingerprint)) is not allowed the purpose \"\(purpose)\"; it is listed for "
                + allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        }
    }
}
