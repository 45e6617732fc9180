import ArgumentParser
import Foundation
import SodiumPSI
#if canImport(PSINetwork)
import PSINetwork

let networkSubcommands: [any ParsableCommand.Type] = [ExchangeCommand.self]

/// `psi exchange --listen|--connect`: the file flow's steps on each side, their messages over
/// one TLS connection (Docs/protocol.md, "Over the network").
struct ExchangeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "Run a whole mutual exchange (or an incremental daily run) with the peer over one TLS connection.",
        discussion: """
        B (responder): psi exchange --listen 0.0.0.0:7443 --tls-certificate b.crt --tls-key b.key \\
                         --input b.txt --kind phone --state b.state --work b-work --out b.matches.csv \\
                         --purpose "2026 agent numbers" --identity b.identity --peers peers.json --peer "Bank A"
        A (initiator): psi exchange --connect bank-b.example:7443 --tls-ca b-ca.crt \\
                         --input a.txt --kind phone --state a.state --work a-work --out a.matches.csv \\
                         --purpose "2026 agent numbers" --identity a.identity --peers peers.json --peer "Bank B"
        Each side runs the file flow's steps (psi initiate/respond/finish, or psi incremental … with
        --incremental) in --work, and the messages travel as frames. After TLS both sides sign the
        handshake with their identity: a peer whose key is not --peer's is refused before any element
        is sent (exit 77). A lost connection is resumed from the last whole message (the initiator
        connects again, --retries; or run the same command again): no step runs twice, so no value is
        blinded twice. Silence longer than --timeout stops with exit 69 and no output.
        Full exchanges: both-learn, one column; a new exchange needs a new --state.
        """)

    @Option(name: .long, help: "Responder: accept the initiator's connection on HOST:PORT.")
    var listen: String?
    @Option(name: .long, help: "Initiator: connect to the responder at HOST:PORT.")
    var connect: String?
    @Option(name: .customLong("tls-certificate"), help: "Responder: its TLS certificate chain (PEM).")
    var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "Responder: its TLS private key (PEM).")
    var tlsKey: String?
    @Option(name: .customLong("tls-ca"), help: "Initiator: the certificate(s) it trusts for the responder's TLS (PEM).")
    var tlsCA: String?
    @Option(name: .customLong("tls-server-name"), help: "Initiator: the name the responder's certificate must hold (default: the host).")
    var tlsServerName: String?
    @Option(name: .long, help: "Seconds of silence from the peer before giving up.")
    var timeout: Double = 60
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the TCP connection.")
    var connectTimeout: Double = 10
    @Option(name: .long, help: "Initiator: connect again this many times after a failed or lost connection.")
    var retries: Int = 3
    @Option(name: .customLong("accept-timeout"), help: "Responder: seconds to wait for each connection.")
    var acceptTimeout: Double = 300
    @Option(name: .customLong("max-message-mib"), help: "Refuse a peer message larger than this (MiB).")
    var maxMessageMiB: UInt64 = 4096

    @Flag(name: .long, help: "An incremental daily run of a relationship (--state is the relationship state).")
    var incremental = false
    @Option(name: .long, help: "Your list (one value a line, or CSV with --column).")
    var input: String
    @Option(name: .long, help: "What the values are: phone, document, plain.")
    var kind: String
    @Option(name: .long, help: "CSV: the column to match.")
    var column: String?
    @Option(name: .long, help: "Full: your state file (new for each exchange). Incremental: the relationship state.")
    var state: String
    @Option(name: .long, help: "The folder for the messages of this run (created; emptied of them once the run completes).")
    var work: String
    @Option(name: .long, help: "Where to write the matches (mode 0600).")
    var out: String
    @Option(name: .long, help: "Incremental: write the new and vanished matches (mode 0600).")
    var changes: String?
    @Flag(name: .customLong("keep-messages"), help: "Keep the messages in --work after the run.")
    var keepMessages = false

    @OptionGroup var purposeOption: PurposeOptions
    @OptionGroup var parties: MutualPartyOptions

    func validate() throws {
        guard (listen == nil) != (connect == nil) else { throw ValidationError("give --listen HOST:PORT (responder) or --connect HOST:PORT (initiator)") }
        if let listen {
            guard parseEndpoint(listen) != nil else { throw ValidationError("--listen \(listen): expected HOST:PORT") }
            guard tlsCertificate != nil, tlsKey != nil else { throw ValidationError("--listen needs --tls-certificate and --tls-key") }
        }
        if let connect {
            guard parseEndpoint(connect) != nil else { throw ValidationError("--connect \(connect): expected HOST:PORT") }
            guard tlsCA != nil else { throw ValidationError("--connect needs --tls-ca (the certificate that signs the responder's)") }
        }
        guard timeout > 0, connectTimeout > 0, acceptTimeout > 0, retries >= 0 else { throw ValidationError("timeouts must be positive and --retries at least 0") }
    }

    private var isInitiator: Bool { connect != nil }
    private func message(_ name: String) -> URL { URL(fileURLWithPath: work).appendingPathComponent(name) }
    private var messageNames: [String] { incremental ? ["1.spsi", "2.spsi", "3.spsi"] : ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi"] }
    private var exists: (URL) -> Bool { { FileManager.default.fileExists(atPath: $0.path) } }

    private var common: [String] {
        ["--purpose", purposeOption.purpose.value, "--identity", parties.party.identity, "--peers", parties.party.peers, "--peer", parties.peer]
    }
    /// The parties without the purpose (psi finish reads it from the state).
    private var partyOptions: [String] { ["--identity", parties.party.identity, "--peers", parties.party.peers, "--peer", parties.peer] }
    private var list: [String] { ["--input", input, "--kind", kind] + (column.map { ["--column", $0] } ?? []) }

    func run() throws {
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (identity, peer) = try parties.load(for: purposeOption.purpose)
            let network = try networkOptions()
            let role: ExchangeParties.Role = isInitiator ? .initiator : .responder
            let who = ExchangeParties(role: role, identity: identity, peer: peer, peerName: parties.peer, purpose: purposeOption.purpose,
                                      mode: incremental ? 2 : 1)
            if isInitiator { try prepareInitiator() }
            try ExchangeRunner.run(network, parties: who, log: { note("psi exchange: \($0)") }) { session in
                if incremental { try runIncremental(session) } else { try runFull(session) }
            }
            if !keepMessages { for name in messageNames { unlink(message(name).path) } }
            note("psi exchange: done; matches in \(out)")
        } catch let error as ExchangeError {
            note("psi: error: \(error.localizedDescription)")
            throw ExitCode(error.isAuthentication ? 77 : (error.isTransient || { if case .noConnection = error { return true }; return false }() ? 69 : ExitStatus.protocolError))
        } catch let error as ExitCode {
            throw error
        } catch {
            try runReportingErrors { throw error }
        }
    }

    private func networkOptions() throws -> ExchangeNetworkOptions {
        var options: ExchangeNetworkOptions
        if let listen, let (host, port) = parseEndpoint(listen) {
            options = ExchangeNetworkOptions(endpoint: .listen(host: host, port: port, certificate: url(tlsCertificate!).path, key: url(tlsKey!).path))
        } else {
            let (host, port) = parseEndpoint(connect!)!
            options = ExchangeNetworkOptions(endpoint: .connect(host: host, port: port, trustRoots: url(tlsCA!).path, serverName: tlsServerName))
        }
        options.timeout = timeout
        options.connectTimeout = connectTimeout
        options.retries = retries
        options.acceptTimeout = acceptTimeout
        options.maximumMessageBytes = maxMessageMiB << 20
        return options
    }

    /// The initiator's first step, before connecting; never again once its message exists.
    private func prepareInitiator() throws {
        if exists(message("1.spsi")) { return }
        if incremental {
            try step(IncrementalInitiate.self, list + common + ["--state", state, "--out", message("1.spsi").path])
        } else {
            guard !exists(URL(fileURLWithPath: state)) else {
                throw ValidationError("\(state) exists but \(message("1.spsi").path) does not: that exchange cannot resume here; a new exchange needs a new --state")
            }
            try step(Initiate.self, list + common + ["--state", state, "--out", message("1.spsi").path])
        }
    }

    private func runFull(_ session: ExchangeSession) throws {
        let (m1, m2a, m2b, m3) = (message("1.spsi"), message("2a.spsi"), message("2b.spsi"), message("3.spsi"))
        if isInitiator {
            try session.offer(1, file: m1)
            try session.fetch(2, into: m2a)
            try session.fetch(3, into: m2b)
            if !exists(m3) || !exists(URL(fileURLWithPath: out)) {
                try session.whileWorking {
                    try step(Finish.self, partyOptions + list + ["--state", state, "--responder-blinded", m2a.path, "--initiator-reblinded", m2b.path,
                                                      "--out-responder-reblinded", m3.path, "--out", out])
                }
            }
            try session.offer(4, file: m3)
        } else {
            try session.fetch(1, into: m1)
            if !exists(m2a) || !exists(m2b) {
                guard !exists(URL(fileURLWithPath: state)) else {
                    throw ValidationError("\(state) exists but its messages are not in \(work): that exchange cannot resume here; a new exchange needs a new --state")
                }
                try session.whileWorking {
                    try step(Respond.self, list + common + ["--initiator-blinded", m1.path, "--state", state, "--out-responder-blinded", m2a.path,
                                                       "--out-initiator-reblinded", m2b.path])
                }
            }
            try session.offer(2, file: m2a)
            try session.offer(3, file: m2b)
            try session.fetch(4, into: m3)
            session.close()
            try step(Finish.self, partyOptions + list + ["--state", state, "--responder-reblinded", m3.path, "--out", out])
        }
    }

    private func runIncremental(_ session: ExchangeSession) throws {
        let (m1, m2, m3) = (message("1.spsi"), message("2.spsi"), message("3.spsi"))
        let finishing = common + ["--state", state, "--kind", kind, "--matches", out] + (changes.map { ["--changes", $0] } ?? [])
        if isInitiator {
            try session.offer(1, file: m1)
            try session.fetch(2, into: m2)
            if !exists(m3) || !exists(URL(fileURLWithPath: out)) {
                try session.whileWorking { try step(IncrementalFinish.self, finishing + ["--in", m2.path, "--out", m3.path]) }
            }
            try session.offer(3, file: m3)
        } else {
            try session.fetch(1, into: m1)
            if !exists(m2) {
                try session.whileWorking {
                    try step(IncrementalRespond.self, list + common + ["--state", state, "--in", m1.path, "--out", m2.path])
                }
            }
            try session.offer(2, file: m2)
            try session.fetch(3, into: m3)
            session.close()
            try step(IncrementalFinish.self, finishing + ["--in", m3.path])
        }
    }
}
/// Runs one step of the file flow, as its own command would with `arguments`.
private func step<C: ParsableCommand>(_ command: C.Type, _ arguments: [String]) throws {
    var parsed: C
    do { parsed = try C.parse(arguments) } catch {
        throw ValidationError("psi exchange could not start the step \(C.configuration.commandName ?? "\(C.self)"): \(C.message(for: error))")
    }
    try parsed.run()
}
#else
let networkSubcommands: [any ParsableCommand.Type] = []
#endif
