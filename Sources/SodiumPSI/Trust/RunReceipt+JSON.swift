public import Foundation

// The receipt file: one JSON object (sorted keys), whose every field is also in the signed
// bytes, or derived from one that is (fingerprints, the purpose digest) and checked against it.
extension RunReceipt {
    private static let keys: Set<String> = ["format", "tool", "protocol", "role", "suite", "outcome", "identifierType", "purpose",
                                             "purposeDigest", "session", "party", "peer", "ownSetSize", "peerSetSize", "resultCount",
                                             "setupDigest", "sent", "received", "startedAt", "finishedAt", "signature"]

    /// The receipt as JSON (sorted keys, one line).
    public func jsonData() throws -> Data {
        func key(_ k: PartyPublicKey) -> [String: Any] { ["publicKey": k.hex, "fingerprint": k.fingerprint] }
        func messages(_ list: [Message]) -> [[String: Any]] { list.map { ["kind": Int($0.kind), "sha256": $0.sha256.hexString] } }
        let object: [String: Any] = [
            "format": format, "tool": tool, "protocol": protocolID.description, "role": role.rawValue,
            "suite": suite.description, "outcome": outcome, "identifierType": identifierType.description,
            "purpose": purpose.value, "purposeDigest": purpose.digest.hexString, "session": sessionID.description,
            "party": key(party), "peer": key(peer),
            "ownSetSize": ownSetSize ?? NSNull(), "peerSetSize": peerSetSize ?? NSNull(), "resultCount": resultCount ?? NSNull(),
            "setupDigest": setupDigest?.hexString ?? NSNull(), "sent": messages(sent), "received": messages(received),
            "startedAt": Self.timestamp(startedAt), "finishedAt": Self.timestamp(finishedAt), "signature": signature.hexString,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8)
    }

    /// Writes the receipt (JSON, mode 0644 narrowed by the umask: it holds nothing secret), atomically.
    ///
    /// - Throws: ``OutputFileError``.
    public func write(to url: URL) throws {
        let file = try AtomicFile(path: url.path, mode: 0o644)
        try file.write([UInt8](try jsonData()))
        try file.commit()
    }

    /// Reads a receipt file (nothing is verified; see ``verify(origin:)``).
    ///
    /// - Throws: ``ReceiptError/io(path:reason:)``, ``ReceiptError/invalidReceipt(path:reason:)``.
    public init(contentsOf url: URL) throws {
        try self.init(json: try readTrustFile(url) { ReceiptError.io(path: url.path, reason: $0) }, origin: url.path)
    }

    /// Parses a receipt's JSON, refusing unknown or missing fields and derived fields (a
    /// fingerprint, the purpose digest) that do not match what they are derived from.
    ///
    /// - Throws: ``ReceiptError/invalidReceipt(path:reason:)``.
    public init(json: Data, origin: String) throws {
        func invalid(_ reason: String) -> ReceiptError { .invalidReceipt(path: origin, reason: reason) }
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw invalid("it is not a JSON object")
        }
        if let unknown = Set(object.keys).subtracting(Self.keys).sorted().first { throw invalid("unknown field \"\(unknown)\"") }
        if let missing = Self.keys.subtracting(object.keys).sorted().first { throw invalid("missing field \"\(missing)\"") }
        func string(_ name: String) throws -> String {
            // No control characters: every value is one line of the signed bytes.
            guard let value = object[name] as? String, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw invalid("\"\(name)\" is not a string of printable text")
            }
            return value
        }
        func hex(_ name: String, _ text: String, count: Int) throws -> [UInt8] {
            guard let bytes = [UInt8](hexString: text), bytes.count == count else { throw invalid("\"\(name)\" is not \(2 * count) hex digits") }
            return bytes
        }
        func optionalCount(_ name: String) throws -> Int? {
            if object[name] is NSNull { return nil }
            guard let value = object[name] as? Int, value >= 0 else { throw invalid("\"\(name)\" is not a count or null") }
            return value
        }
        func key(_ name: String) throws -> PartyPublicKey {
            guard let fields = object[name] as? [String: Any], Set(fields.keys) == ["publicKey", "fingerprint"],
                  let text = fields["publicKey"] as? String, let fingerprint = fields["fingerprint"] as? String,
                  let key = try? PartyPublicKey(hex: text) else {
                throw invalid("\"\(name)\" is not {\"publicKey\": 64 hex digits of a valid key, \"fingerprint\": …}")
            }
            guard key.fingerprint == fingerprint else { throw invalid("the \(name)'s fingerprint \(fingerprint) is not its key's, \(key.fingerprint)") }
            return key
        }
        func messages(_ name: String) throws -> [Message] {
            guard let list = object[name] as? [[String: Any]] else { throw invalid("\"\(name)\" is not a list of messages") }
            return try list.map { entry in
                guard Set(entry.keys) == ["kind", "sha256"], let kind = entry["kind"] as? Int, (1...255).contains(kind),
                      let digest = entry["sha256"] as? String else {
                    throw invalid("\"\(name)\" holds an entry that is not {\"kind\": 1–255, \"sha256\": 64 hex digits}")
                }
                return Message(kind: UInt8(kind), sha256: try hex(name, digest, count: 32))
            }
        }
        guard object["format"] as? Int == Self.formatVersion else {
            throw invalid("format \(object["format"] ?? "?"); this version of the library reads format \(Self.formatVersion)")
        }
        guard let protocolID = PSIProtocol.allCases.first(where: { $0.description == (object["protocol"] as? String) }) else {
            throw invalid("unknown protocol")
        }
        guard let role = Role(rawValue: try string("role")) else { throw invalid("unknown role") }
        guard let suite = PSISuite(name: try string("suite")) else { throw invalid("unknown suite") }
        guard let identifierType = IdentifierType(description: try string("identifierType")) else {
            throw invalid("unknown identifier type")
        }
        let purpose: PurposeLabel
        do { purpose = try PurposeLabel(try string("purpose")) } catch let error as PSIError { throw invalid(error.localizedDescription) }
        guard try string("purposeDigest") == purpose.digest.hexString else { throw invalid("the purpose digest is not the purpose label's") }
        let setupDigest = object["setupDigest"] is NSNull ? nil : try hex("setupDigest", try string("setupDigest"), count: 32)
        guard let startedAt = Self.date(try string("startedAt")), let finishedAt = Self.date(try string("finishedAt")) else {
            throw invalid("a time is not ISO 8601 (2026-12-01T21:41:37Z)")
        }
        self.init(format: Self.formatVersion, tool: try string("tool"), protocolID: protocolID, role: role, suite: suite,
                  outcome: try string("outcome"), identifierType: identifierType, purpose: purpose,
                  sessionID: try SessionID(bytes: try hex("session", try string("session"), count: SessionID.byteCount)),
                  party: try key("party"), peer: try key("peer"), ownSetSize: try optionalCount("ownSetSize"),
                  peerSetSize: try optionalCount("peerSetSize"), resultCount: try optionalCount("resultCount"),
                  setupDigest: setupDigest, sent: try messages("sent"), received: try messages("received"),
                  startedAt: startedAt, finishedAt: finishedAt,
                  signature: try hex("signature", try string("signature"), count: PartyIdentity.signatureByteCount))
    }
}
