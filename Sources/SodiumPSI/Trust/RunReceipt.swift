public import Foundation

/// The version of this library, as receipts name it.
public enum SodiumPSIVersion {
    /// The library's version.
    public static let current = "0.2.0"
}

/// A signed record of one finished run for a compliance officer: who exchanged with whom, for
/// what purpose, in which session, how large the sets were, how many matched, the SHA-256 of
/// every message file sent and received, and when. It never holds an item, a match or a
/// secret. The party that ran the step signs it with its identity; ``verify(origin:)`` checks it alone
/// and ``checkSameRun(as:origin:otherOrigin:)`` checks that two parties' receipts describe one exchange.
///
/// The bytes signed are a fixed text (see `Docs/file-format.md`, "Run receipts"), so that any
/// implementation can verify a receipt without reproducing a JSON encoder.
public struct RunReceipt: Sendable, Equatable {
    /// The receipt format this library writes and reads.
    public static let formatVersion = 1
    /// What the signature covers before the fields.
    static let signatureContext = "SodiumPSI-V2-receipt"

    /// Which side of which protocol the signer played.
    public enum Role: String, Sendable, CaseIterable {
        /// Mutual PSI, party A.
        case initiator
        /// Mutual PSI, party B.
        case responder
        /// Unbalanced PSI, the list holder (one receipt per answered request).
        case hub
        /// Unbalanced PSI, a querying member (one receipt per finished query).
        case member

        /// The role that ran the other side.
        var counterpart: Role {
            switch self {
            case .initiator: return .responder
            case .responder: return .initiator
            case .hub: return .member
            case .member: return .hub
            }
        }
    }

    /// A message file of the run: its step (the header's kind byte) and the SHA-256 of the whole
    /// file, as `sha256sum` prints it.
    public struct Message: Sendable, Hashable, Codable {
        /// The message kind (for mutual PSI a ``MutualPSIMessage/Kind`` raw value, for unbalanced
        /// PSI an ``UnbalancedMessageKind`` raw value).
        public let kind: UInt8
        /// SHA-256 of the file, 32 bytes.
        public let sha256: [UInt8]

        /// A message.
        public init(kind: UInt8, sha256: [UInt8]) {
            self.kind = kind
            self.sha256 = sha256
        }
    }

    /// The receipt format (``formatVersion``).
    public let format: Int
    /// The library and version that made it.
    public let tool: String
    /// The protocol.
    public let protocolID: PSIProtocol
    /// The signer's role.
    public let role: Role
    /// The suite.
    public let suite: PSISuite
    /// The outcome (mutual PSI) or answer mode (unbalanced PSI), in words.
    public let outcome: String
    /// The identifier type, in words.
    public let identifierType: IdentifierType
    /// The purpose label.
    public let purpose: PurposeLabel
    /// The session (mutual PSI) or query (unbalanced PSI) identifier.
    public let sessionID: SessionID
    /// The signer's identity key.
    public let party: PartyPublicKey
    /// The other party's identity key.
    public let peer: PartyPublicKey
    /// The signer's distinct items; nil where the step does not know it (a hub answering a request).
    public let ownSetSize: Int?
    /// The other party's set size as the signer learned it.
    public let peerSetSize: Int?
    /// How many items matched, as the signer learned it; nil when it learned nothing (a hub).
    public let resultCount: Int?
    /// Unbalanced PSI: the digest of the setup the request names (its file's stored digest).
    public let setupDigest: [UInt8]?
    /// The message files the signer sent, in order.
    public let sent: [Message]
    /// The message files the signer read, in order.
    public let received: [Message]
    /// When the signer's first step of the run started and its last step ended (UTC, whole seconds).
    public let startedAt: Date, finishedAt: Date
    /// The signer's Ed25519 signature of ``signedBytes``.
    public let signature: [UInt8]

    /// A receipt signed by `identity` (the signer's key is `identity.publicKey`).
    init(role: Role, protocolID: PSIProtocol, suite: PSISuite, outcome: String, identifierType: IdentifierType,
         purpose: PurposeLabel, sessionID: SessionID, identity: PartyIdentity, peer: PartyPublicKey,
         ownSetSize: Int?, peerSetSize: Int?, resultCount: Int?, setupDigest: [UInt8]?,
         sent: [Message], received: [Message], startedAt: Date, finishedAt: Date) {
        self.init(format: Self.formatVersion, tool: "SodiumPSI \(SodiumPSIVersion.current)", protocolID: protocolID, role: role,
                  suite: suite, outcome: outcome, identifierType: identifierType, purpose: purpose, sessionID: sessionID,
                  party: identity.publicKey, peer: peer, ownSetSize: ownSetSize, peerSetSize: peerSetSize,
                  resultCount: resultCount, setupDigest: setupDigest, sent: sent, received: received,
                  startedAt: Self.wholeSeconds(startedAt), finishedAt: Self.wholeSeconds(finishedAt), signature: [])
        let unsigned = self
        self = unsigned.with(signature: identity.signature(of: unsigned.signedBytes))
    }

    init(format: Int, tool: String, protocolID: PSIProtocol, role: Role, suite: PSISuite, outcome: String,
                 identifierType: IdentifierType, purpose: PurposeLabel, sessionID: SessionID, party: PartyPublicKey,
                 peer: PartyPublicKey, ownSetSize: Int?, peerSetSize: Int?, resultCount: Int?, setupDigest: [UInt8]?,
                 sent: [Message], received: [Message], startedAt: Date, finishedAt: Date, signature: [UInt8]) {
        self.format = format
        self.tool = tool
        self.protocolID = protocolID
        self.role = role
        self.suite = suite
        self.outcome = outcome
        self.identifierType = identifierType
        self.purpose = purpose
        self.sessionID = sessionID
        self.party = party
        self.peer = peer
        self.ownSetSize = ownSetSize
        self.peerSetSize = peerSetSize
        self.resultCount = resultCount
        self.setupDigest = setupDigest
        self.sent = sent
        self.received = received
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.signature = signature
    }

    private func with(signature: [UInt8]) -> RunReceipt {
        RunReceipt(format: format, tool: tool, protocolID: protocolID, role: role, suite: suite, outcome: outcome,
                   identifierType: identifierType, purpose: purpose, sessionID: sessionID, party: party, peer: peer,
                   ownSetSize: ownSetSize, peerSetSize: peerSetSize, resultCount: resultCount, setupDigest: setupDigest,
                   sent: sent, received: received, startedAt: startedAt, finishedAt: finishedAt, signature: signature)
    }

    private static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    // MARK: Signed bytes

    /// The bytes the signer signs: `SodiumPSI-V2-receipt` and one `name=value` line per field,
    /// in a fixed order, each ending in a line feed (see `Docs/file-format.md`).
    public var signedBytes: [UInt8] {
        func number(_ value: Int?) -> String { value.map(String.init) ?? "-" }
        func messages(_ list: [Message]) -> String { list.map { "\($0.kind):\($0.sha256.hexString)" }.joined(separator: ",") }
        let lines = [
            Self.signatureContext,
            "format=\(format)",
            "tool=\(tool)",
            "protocol=\(protocolID)",
            "role=\(role.rawValue)",
            "suite=\(suite)",
            "outcome=\(outcome)",
            "identifier_type=\(identifierType)",
            "purpose=\(purpose.value)",
            "purpose_digest=\(purpose.digest.hexString)",
            "session=\(sessionID)",
            "party=\(party.hex)",
            "peer=\(peer.hex)",
            "own_set_size=\(number(ownSetSize))",
            "peer_set_size=\(number(peerSetSize))",
            "result_count=\(number(resultCount))",
            "setup_digest=\(setupDigest?.hexString ?? "-")",
            "sent=\(messages(sent))",
            "received=\(messages(received))",
            "started_at=\(Self.timestamp(startedAt))",
            "finished_at=\(Self.timestamp(finishedAt))",
        ]
        return Array(lines.map { $0 + "\n" }.joined().utf8)
    }

    /// ISO 8601 in UTC with whole seconds: `2026-12-01T21:41:37Z`.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    // MARK: Checks

    /// Checks the signature with the receipt's own ``party`` key.
    ///
    /// - Throws: ``ReceiptError/badSignature(path:signer:)``.
    public func verify(origin: String = "receipt") throws {
        guard party.isValidSignature(signature, of: signedBytes) else {
            throw ReceiptError.badSignature(path: origin, signer: party.fingerprint)
        }
    }

    /// Checks that `other`, the other party's receipt, describes the same run: the same
    /// protocol, suite, outcome, identifier type, purpose, session (and setup), the two parties
    /// swapped, complementary roles, each side's set size as the other learned it, the same
    /// result count where both learned one, and every message one sent as one the other
    /// received, and the reverse (published setups and deltas, which only members read, are
    /// left out). Both signatures must verify first.
    ///
    /// - Throws: ``ReceiptError/differentRuns(field:first:second:)`` naming the first field
    ///   that differs, and the errors of ``verify(origin:)``.
    public func checkSameRun(as other: RunReceipt, origin: String = "receipt", otherOrigin: String = "peer receipt") throws {
        try verify(origin: origin)
        try other.verify(origin: otherOrigin)
        func same(_ field: String, _ a: String, _ b: String) throws {
            guard a == b else { throw ReceiptError.differentRuns(field: field, first: a, second: b) }
        }
        try same("protocol", protocolID.description, other.protocolID.description)
        try same("role", role.counterpart.rawValue, other.role.rawValue)
        try same("suite", suite.description, other.suite.description)
        try same("outcome", outcome, other.outcome)
        try same("identifier type", identifierType.description, other.identifierType.description)
        try same("purpose", purpose.value, other.purpose.value)
        try same("session", sessionID.description, other.sessionID.description)
        try same("parties", "\(party.fingerprint) with \(peer.fingerprint)", "\(other.peer.fingerprint) with \(other.party.fingerprint)")
        try same("setup digest", setupDigest?.hexString ?? "none", other.setupDigest?.hexString ?? "none")
        for (field, mine, theirs) in [("own set size as the peer learned it", ownSetSize, other.peerSetSize),
                                      ("peer set size as the peer knows its own", peerSetSize, other.ownSetSize),
                                      ("result count", resultCount, other.resultCount)] {
            if let mine, let theirs { try same(field, String(mine), String(theirs)) }
        }
        func exchanged(_ list: [Message]) -> Set<Message> {
            Set(list.filter { protocolID == .mutual || ![UnbalancedMessageKind.setup.rawValue, UnbalancedMessageKind.setupDelta.rawValue].contains($0.kind) })
        }
        func describe(_ list: Set<Message>) -> String {
            list.isEmpty ? "none" : list.map { "\($0.kind):\($0.sha256.hexString)" }.sorted().joined(separator: ", ")
        }
        try same("messages sent and received", describe(exchanged(sent)), describe(exchanged(other.received)))
        try same("messages received and sent", describe(exchanged(received)), describe(exchanged(other.sent)))
    }
}

/// Why a receipt was refused.
public enum ReceiptError: Error, Sendable, Equatable {
    /// The file could not be read or written.
    case io(path: String, reason: String)
    /// Not a receipt of this library (what is wrong in `reason`).
    case invalidReceipt(path: String, reason: String)
    /// The signature does not verify with the receipt's signer key: a field was changed.
    case badSignature(path: String, signer: String)
    /// Two receipts do not describe the same run.
    case differentRuns(field: String, first: String, second: String)
}

extension ReceiptError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidReceipt(path, reason):
            return "\(path): not a valid receipt: \(reason)"
        case let .badSignature(path, signer):
            return "\(path): the signature does not verify with the signer's key \(signer); the receipt was altered"
        case let .differentRuns(field, first, second):
            return "the receipts describe different runs: \(field) differs (\(first) against \(second))"
        }
    }
}
