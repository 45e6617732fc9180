public import Foundation

/// A counterparty an institution trusts: a name people use, its identity key, and optionally
/// the purposes it may be used for.
public struct Peer: Sendable, Equatable {
    /// The name operators use for it (`--peer "Bank B"`).
    public let name: String
    /// Its identity key.
    public let publicKey: PartyPublicKey
    /// The purpose labels it may be used for; nil for any purpose.
    public let purposes: [PurposeLabel]?

    /// A peer.
    public init(name: String, publicKey: PartyPublicKey, purposes: [PurposeLabel]? = nil) {
        self.name = name
        self.publicKey = publicKey
        self.purposes = purposes
    }

    /// Whether the peer may be used for `purpose`.
    public func allows(_ purpose: PurposeLabel) -> Bool {
        purposes?.contains(purpose) ?? true
    }
}

/// The trusted counterparties of a party, as the `psi` command reads them from a peers file.
///
/// A peers file is JSON, written and reviewed by people:
///
/// ```json
/// {"peers": [{"name": "Bank B", "publicKey": "<64 hex digits>", "purposes": ["2026 agent numbers"]}]}
/// ```
///
/// `purposes` is optional (absent: any purpose). Unknown fields are refused, so that a typo
/// such as `"purpose"` cannot silently allow every purpose; names and keys must be unique.
public struct PeerList: Sendable, Equatable {
    /// The peers, in file order.
    public let peers: [Peer]
    /// Where the list was read from, for error messages.
    public let origin: String

    /// A list from peers given in code.
    ///
    /// - Throws: ``TrustError/invalidPeersFile(path:reason:)`` for a repeated name or key.
    public init(peers: [Peer], origin: String = "peers") throws {
        for (index, peer) in peers.enumerated() {
            if let first = peers[..<index].firstIndex(where: { $0.name == peer.name }) {
                throw TrustError.invalidPeersFile(path: origin, reason: "entry \(index + 1) repeats the name \"\(peer.name)\" of entry \(first + 1); expected unique names")
            }
            if let first = peers[..<index].firstIndex(where: { $0.publicKey == peer.publicKey }) {
                throw TrustError.invalidPeersFile(path: origin, reason: "entry \(index + 1) (\"\(peer.name)\") repeats the public key of entry \(first + 1) (\"\(peers[first].name)\"); expected one entry a key")
            }
        }
        self.peers = peers
        self.origin = origin
    }

    /// Reads a peers file.
    ///
    /// - Throws: ``TrustError/io(path:reason:)``, ``TrustError/invalidPeersFile(path:reason:)``
    ///   saying which entry and field is wrong and what was expected.
    public init(contentsOf url: URL) throws {
        try self.init(json: try readTrustFile(url) { TrustError.io(path: url.path, reason: $0) }, origin: url.path)
    }

    /// Parses the JSON of a peers file.
    ///
    /// - Throws: ``TrustError/invalidPeersFile(path:reason:)``.
    public init(json: Data, origin: String) throws {
        func invalid(_ reason: String) -> TrustError { .invalidPeersFile(path: origin, reason: reason) }
        guard let top = try? JSONSerialization.jsonObject(with: json) else {
            throw invalid("it is not valid JSON; expected {\"peers\": [...]}")
        }
        guard let object = top as? [String: Any], let entries = object["peers"] as? [Any] else {
            throw invalid("expected a JSON object with a \"peers\" array")
        }
        if let unknown = object.keys.filter({ $0 != "peers" }).sorted().first {
            throw invalid("unknown field \"\(unknown)\" at the top level; expected only \"peers\"")
        }
        var peers = [Peer]()
        for (index, entry) in entries.enumerated() {
            let at = "entry \(index + 1)"
            guard let fields = entry as? [String: Any] else { throw invalid("\(at) is not an object; expected {\"name\": …, \"publicKey\": …}") }
            if let unknown = fields.keys.filter({ !["name", "publicKey", "purposes"].contains($0) }).sorted().first {
                throw invalid("\(at) has the unknown field \"\(unknown)\"; expected name, publicKey and optionally purposes")
            }
            guard let name = fields["name"] as? String, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw invalid("\(at) has no name; expected a non-empty \"name\" string")
            }
            let named = "\(at) (\"\(name)\")"
            guard let hex = fields["publicKey"] as? String, let key = try? PartyPublicKey(hex: hex) else {
                throw invalid("\(named) has no valid publicKey; expected 64 hex digits of an Ed25519 public key (psi identity show prints it)")
            }
            var purposes: [PurposeLabel]?
            if let value = fields["purposes"] {
                guard let labels = value as? [String], !labels.isEmpty else {
                    throw invalid("\(named): purposes must be a non-empty array of purpose labels (leave it out to allow any purpose)")
                }
                purposes = try labels.map { label in
                    do { return try PurposeLabel(label) } catch let error as PSIError {
                        throw invalid("\(named): \(error.localizedDescription)")
                    }
                }
            }
            peers.append(Peer(name: name, publicKey: key, purposes: purposes))
        }
        try self.init(peers: peers, origin: origin)
    }

    /// The peer called `name`, checked to be allowed `purpose`.
    ///
    /// - Throws: ``TrustError/unknownPeer(path:name:known:)``,
    ///   ``TrustError/peerNotAllowed(path:name:fingerprint:purpose:allowed:)``.
    public func peer(named name: String, for purpose: PurposeLabel) throws -> Peer {
        let peer = try peer(named: name)
        guard peer.allows(purpose) else {
            throw TrustError.peerNotAllowed(path: origin, name: name, fingerprint: peer.publicKey.fingerprint, purpose: purpose.value,
                                            allowed: peer.purposes?.map(\.value) ?? [])
        }
        return peer
    }

    /// The peer called `name`, whatever its purposes.
    ///
    /// - Throws: ``TrustError/unknownPeer(path:name:known:)``.
    public func peer(named name: String) throws -> Peer {
        guard let peer = peers.first(where: { $0.name == name }) else {
            throw TrustError.unknownPeer(path: origin, name: name, known: peers.map(\.name))
        }
        return peer
    }

    /// The peers allowed `purpose`.
    public func peers(for purpose: PurposeLabel) -> [Peer] {
        peers.filter { $0.allows(purpose) }
    }

    /// The name of the peer with this key, if listed.
    public func name(of key: PartyPublicKey) -> String? {
        peers.first { $0.publicKey == key }?.name
    }
}

/// A small file's bytes (a peers file, a receipt; at most 16 MiB), or the caller's error with the reason.
func readTrustFile(_ url: URL, error: (String) -> any Error) throws -> Data {
    Data(try readWholeFile(url, limit: 16 << 20, error: error))
}
