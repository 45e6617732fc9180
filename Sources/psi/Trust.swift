import ArgumentParser
import Foundation
import SodiumPSI

/// `psi identity …`: a party's signing identity.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Create or show your institution's signing identity (Ed25519). Every message you write is signed with it.",
        discussion: """
        psi identity create --identity bank-a.identity     (mode 0600; keep it, never send it)
        psi identity show --identity bank-a.identity       (the public key to give your peers)
        Your peers put your public key in their peers file, and you put theirs in yours:
          {"peers": [{"name": "Bank B", "publicKey": "<64 hex digits>", "purposes": ["2026 agent numbers"]}]}
        ("purposes" is optional: without it the peer may be used for any purpose.)
        Compare fingerprints by telephone or in person before you trust a key you received by e-mail.
        """,
        subcommands: [IdentityCreate.self, IdentityShow.self])
}

struct IdentityCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Generate a new identity file (mode 0600) and print its public key and fingerprint.")

    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The identity file to create.")
    var identity: String

    @Flag(name: .long, help: "Replace an existing identity file (your peers must then trust the new key).")
    var force = false

    func run() throws {
        try runReportingErrors {
            let identity = PartyIdentity()
            try identity.save(to: url(self.identity), replacing: force)
            try present(identity.publicKey, file: self.identity, json: output.json)
        }
    }
}

struct IdentityShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print an identity's public key (for your peers' peers files) and fingerprint.")

    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The identity file.")
    var identity: String

    func run() throws {
        try runReportingErrors {
            try present(PartyIdentity(contentsOf: url(identity)).publicKey, file: identity, json: output.json)
        }
    }
}

private func present(_ key: PartyPublicKey, file: String, json: Bool) throws {
    if json {
        try printJSON(["identity": file, "public_key": key.hex, "fingerprint": key.fingerprint])
    } else {
        print("public key:  \(key.hex)")
        print("fingerprint: \(key.fingerprint)")
    }
}

/// Who you are and whom you trust: every step that writes or reads messages takes these.
struct PartyOptions: ParsableArguments {
    @Option(name: .long, help: "Your identity file (psi identity create): it signs every message you write.")
    var identity: String

    @Option(name: .long, help: "Your peers file: the counterparties you trust, with their public keys and purposes (JSON).")
    var peers: String

    /// The two files, for the check that a step's paths are distinct (an output named like the
    /// identity would destroy it).
    var paths: [(option: String, path: String?)] { [("--identity", identity), ("--peers", peers)] }

    /// The identity, and the peers file (whose names then decorate error messages).
    func load() throws -> (PartyIdentity, PeerList) {
        let identity = try PartyIdentity(contentsOf: url(self.identity))
        let list = try PeerList(contentsOf: url(peers))
        ErrorNames.shared.register(list, identity: identity.publicKey)
        return (identity, list)
    }
}

/// The parties of a mutual exchange: your identity and the one peer you exchange with.
struct MutualPartyOptions: ParsableArguments {
    @OptionGroup var party: PartyOptions

    @Option(name: .long, help: "The peer you exchange with: its name in your peers file.")
    var peer: String

    /// Your identity and the peer's key, checked to be allowed `purpose`.
    func load(for purpose: PurposeLabel) throws -> (identity: PartyIdentity, peer: PartyPublicKey) {
        let (identity, list) = try party.load()
        return (identity, try list.peer(named: peer, for: purpose).publicKey)
    }
}

/// An optional peers file, whose names then decorate error messages.
func optionalPeers(_ path: String?) throws -> PeerList? {
    guard let path else { return nil }
    let list = try PeerList(contentsOf: url(path))
    ErrorNames.shared.register(list, identity: nil)
    return list
}

/// A key as a command prints it: its fingerprint, and its name in `list` when listed.
func named(_ key: PartyPublicKey?, in list: PeerList?) -> String {
    guard let key else { return "any reader" }
    return list?.name(of: key).map { "\(key.fingerprint) (\"\($0)\")" } ?? key.fingerprint
}

/// The names of the keys a command knows, so that its errors say "Bank B (ed25519:…)" rather
/// than a bare fingerprint.
final class ErrorNames: @unchecked Sendable {
    // A command runs on one thread: registered once before its work, read when it fails.
    static let shared = ErrorNames()
    private var names: [(fingerprint: String, name: String)] = []

    func register(_ list: PeerList, identity: PartyPublicKey?) {
        names = list.peers.map { ($0.publicKey.fingerprint, "peer \"\($0.name)\"") }
        if let identity { names.append((identity.fingerprint, "your identity")) }
        for peer in list.peers { for purpose in peer.purposes ?? [] { register(purpose: purpose, listedFor: peer.name) } }
    }

    /// Purpose labels by the hex SHA-256 that message headers carry, with where each is known from.
    private var purposes: [String: (label: PurposeLabel, source: String)] = [:]

    /// Makes a label known (the step's own, or one a peers file lists), so that a purpose
    /// mismatch can be shown as text.
    func register(purpose: PurposeLabel, listedFor peer: String? = nil) {
        let key = purpose.digest.map { String(format: "%02x", $0) }.joined()
        if purposes[key] == nil || peer == nil {
            purposes[key] = (purpose, peer.map { "listed for peer \"\($0)\" in your peers file" } ?? "yours")
        }
    }

    /// A purpose mismatch with both labels as text where they are known, and the rule they are compared by.
    func purposeMismatch(path: String, found: String, expected: String) -> String {
        func shown(_ digest: String) -> String {
            guard let known = purposes[digest] else { return "a label unknown here (SHA-256 \(digest))" }
            return "\"\(known.label.value)\" (\(known.source == "yours" ? "SHA-256 \(digest)" : "\(known.source)"))"
        }
        var text = "\(path): the message was made for the purpose \(shown(found)); expected \(shown(expected)). Both sides must give the same --purpose: labels are compared after Unicode NFC only, so full-width and ASCII punctuation, spaces and letter case all differ"
        if let a = purposes[found]?.label.value, let b = purposes[expected]?.label.value,
           a.precomposedStringWithCompatibilityMapping == b.precomposedStringWithCompatibilityMapping {
            text += " (these two differ only in full-width or other compatibility forms, which are not folded)"
        }
        return text
    }

    /// `text` with each known fingerprint followed by its name (unless a name already follows it).
    func decorate(_ text: String) -> String {
        names.reduce(text) { text, known in
            let pattern = NSRegularExpression.escapedPattern(for: known.fingerprint) + "(?!\\))"
            guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
            return regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: NSRegularExpression.escapedTemplate(for: "\(known.fingerprint) (\(known.name))"))
        }
    }
}

/// Where a finishing step writes its signed receipt.
struct ReceiptOptions: ParsableArguments {
    @Option(name: .long, help: "Where to write this run's signed receipt (JSON; default: the state file's name, or the response's for psi hub respond, with .receipt.json).")
    var receipt: String?

    /// The receipt's path: the option, or `file` with `.receipt.json`.
    func path(nextTo file: String) -> String { receipt ?? file + ".receipt.json" }

    /// The receipt's path for one identifier column's exchange: the option or the column's
    /// state (`a.phone.state.receipt.json`), named with the column's kind.
    func path(nextTo file: String, _ column: IdentifierColumn) -> String {
        column.path(receipt) ?? column.path(file) + ".receipt.json"
    }

    /// Writes a receipt and says where.
    func write(_ signed: RunReceipt, nextTo file: String, _ column: IdentifierColumn? = nil) throws {
        let written = column.map { path(nextTo: file, $0) } ?? path(nextTo: file)
        try signed.write(to: url(written))
        note("signed receipt \(written) (psi receipt verify \(written))")
    }
}

/// `psi receipt …`: what a compliance officer runs.
struct ReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Verify signed run receipts: who exchanged what with whom, and that two parties' receipts describe one run.",
        subcommands: [ReceiptVerify.self])
}

struct ReceiptVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a receipt's signature and, with --peer-receipt, that both parties' receipts describe the same run.",
        discussion: """
        A receipt is signed by the party that wrote it, with the key it names; compare that key's fingerprint with the one
        you know for the institution (or pass --peers to have the names of a peers file printed). Exit code 76 when a
        signature does not verify or the receipts describe different runs.
        """)

    @OptionGroup var output: OutputOptions

    @Argument(help: "A receipt (JSON) written by psi finish, psi member finish or psi hub respond.")
    var file: String

    @Option(name: .customLong("peer-receipt"), help: "The other party's receipt of the same run.")
    var peerReceipt: String?

    @Option(name: .long, help: "A peers file, to name the parties.")
    var peers: String?

    func run() throws {
        try runReportingErrors {
            let list = try optionalPeers(peers)
            func party(_ key: PartyPublicKey) -> String { named(key, in: list) }
            let receipt = try RunReceipt(contentsOf: url(file))
            try receipt.verify(origin: file)
            var summary: [String: Any] = [
                "receipt": file, "signature_valid": true, "signer": party(receipt.party), "peer": party(receipt.peer),
                "role": receipt.role.rawValue, "protocol": receipt.protocolID.description, "purpose": receipt.purpose.value,
                "session": receipt.sessionID.description, "result_count": receipt.resultCount ?? NSNull(),
                "started_at": RunReceipt.timestamp(receipt.startedAt), "finished_at": RunReceipt.timestamp(receipt.finishedAt),
            ]
            note("\(file): signature verifies: \(receipt.role.rawValue) \(party(receipt.party)) with \(party(receipt.peer)), "
                 + "purpose \"\(receipt.purpose.value)\", session \(receipt.sessionID), "
                 + "\(receipt.resultCount.map { "\($0) in common" } ?? "no result learned")")
            if let peerReceipt {
                let other = try RunReceipt(contentsOf: url(peerReceipt))
                try receipt.checkSameRun(as: other, origin: file, otherOrigin: peerReceipt)
                summary["peer_receipt"] = peerReceipt
                summary["same_run"] = true
                note("\(peerReceipt): signature verifies; both receipts describe the same run")
            }
            if output.json { try printJSON(summary) }
        }
    }
}
