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
        --incremental) in --work, with the same list, agreement and result options as those commands
        (several --column, --input-encoding, --delimiter, --rejects, --max-invalid, --keep, --outcome …),
        and the messages travel as frames. After TLS both sides sign the handshake with their identity:
        a peer whose key is not --peer's is refused before any element is sent, and told why (exit 77 on
        both sides). A lost connection is resumed from the last whole message (the initiator connects
        again, --retries; or run the same command again): no step runs twice, so no value is blinded
        twice. Silence longer than --timeout stops with exit 69 and no output. A full exchange needs a
        new --state (one state file a column, as psi initiate names them); an incremental run matches
        one column.
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
    @OptionGroup var input: InputOptions
    @Option(name: .long, help: "Full: your state file (new for each exchange; one a column, named with its kind). Incremental: the relationship state.")
    var state: String
    @Option(name: .long, help: "The folder for the messages of this run (created; emptied of them once the run completes).")
    var work: String
    @OptionGroup var result: MatchesFileOptions
    @Option(name: .long, help: "Incremental: write the new and vanished matches (mode 0600).")
    var changes: String?
    @Flag(name: .customLong("keep-messages"), help: "Keep the messages in --work after the run.")
    var keepMessages = false

    @OptionGroup var agreement: AgreementOptions
    @OptionGroup var parties: MutualPartyOptions
    @OptionGroup var receipt: ReceiptOptions

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
        try input.format.requireKind()
        if incremental {
            try input.format.requireOneColumn("an incremental run matches one column")
            if agreement.outcome != .bothLearn || agreement.verifiable { throw ValidationError("--outcome and --verifiable are for full exchanges: an incremental run is both-learn") }
            if !result.keep.isEmpty { throw ValidationError("--keep is for full exchanges: an incremental run writes the canonical values") }
            if agreement.workDirectory.workDir != nil || receipt.receipt != nil { throw ValidationError("--work-dir and --receipt are for full exchanges") }
        } else if changes != nil {
            throw ValidationError("--changes is for incremental runs (--incremental)")
        }
        if learns, result.path == nil { throw ValidationError("give --out: where to write the matches") }
        try requireDistinctPaths(input.paths + input.columns.flatMap { column in
            [("--state", column.path(state)), ("--receipt", incremental ? nil : receipt.path(nextTo: state, column))]
        } + [("--out", result.path), ("--changes", changes)] + parties.party.paths)
    }

    private var isInitiator: Bool { connect != nil }
    /// Whether this side learns a result (the responder of an initiator-learns exchange does not).
    private var learns: Bool { incremental || isInitiator || agreement.outcome != .initiatorLearns }
    /// Whether the initiator sends step 3 (message 4).
    private var sendsStep3: Bool { agreement.outcome != .initiatorLearns }
    private var exists: (String) -> Bool { { FileManager.default.fileExists(atPath: $0) } }
    private var mode: UInt8 { incremental ? 2 : 1 }

    /// The run's columns in the order both sides transfer them (by kind), each with its slot:
    /// 0 for a run of one column, else 1 + the kind's place (phone, document, plain).
    private var columns: [(column: IdentifierColumn, slot: Int)] {
        input.columns.map { ($0, $0.fileTag == nil ? 0 : 1 + KindOption.allCases.firstIndex(of: $0.kind)!) }.sorted { $0.slot < $1.slot }
    }

    /// Message `k` (1-4 full, 1-3 incremental) in --work, as the steps are given it (each names
    /// a column's own file with its kind when the run has several: 1.spsi → 1.phone.spsi).
    private func file(_ k: Int) -> String {
        let names = incremental ? ["1.spsi", "2.spsi", "3.spsi"] : ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi"]
        return URL(fileURLWithPath: work).appendingPathComponent(names[k - 1]).path
    }

    /// Message `k` of a column: its file and its number on the wire (4 × slot + k).
    private func message(_ k: Int, _ column: (column: IdentifierColumn, slot: Int)) -> (path: String, number: Int) {
        (column.column.path(file(k)), 4 * column.slot + k)
    }

    func run() throws {
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (identity, peer) = try parties.load(for: agreement.purpose)
            let network = try networkOptions()
            let role: ExchangeParties.Role = isInitiator ? .initiator : .responder
            let who = ExchangeParties(role: role, identity: identity, peer: peer, peerName: parties.peer, purpose: agreement.purpose, mode: mode)
            if isInitiator { try prepareInitiator() }
            try ExchangeRunner.run(network, parties: who, log: { note("psi exchange: \($0)") }) { session in
                if incremental { try runIncremental(session) } else { try runFull(session) }
            }
            if !keepMessages { for column in columns { for k in 1...(incremental ? 3 : 4) { unlink(message(k, column).path) } } }
            note(learns ? "psi exchange: done; matches in \(result.path!)" : "psi exchange: done; only the initiator learns the matches")
        } catch let error as ExchangeError {
            note("psi: error: \(error.localizedDescription)")
            throw ExitCode(error.exitStatus)
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

    /// The incremental steps' configuration: the agreement options (both-learn: see validate).
    private func incrementalConfiguration(_ type: IdentifierType) throws -> MutualPSIConfiguration {
        try agreement.configuration(parties: parties, identifierType: type)
    }

    /// The initiator's first step, before connecting; never again once its messages exist.
    private func prepareInitiator() throws {
        let first = message(1, columns[0]).path
        if incremental {
            if exists(first) { return }
            try IncrementalInitiate.step(input: input, configuration: incrementalConfiguration, state: state, epoch: nil, rotateEvery: nil, out: first)
        } else {
            if columns.allSatisfy({ exists(message(1, $0).path) }) { return }
            if let column = columns.first(where: { exists($0.column.path(state)) }) {
                throw ValidationError("\(column.column.path(state)) exists but \(message(1, column).path) does not: that exchange cannot resume here; a new exchange needs a new --state")
            }
            // psi initiate names each column's files itself (1.spsi → 1.phone.spsi).
            try Initiate.step(input: input, agreement: agreement, parties: parties, json: false, state: state, out: file(1), force: false)
        }
    }

    /// Each side's last step of a full exchange, as psi finish with this side's messages.
    private func finish(initiator: Bool) throws {
        try FinishStep(json: false, parties: parties, state: state, responderBlinded: initiator ? file(2) : nil,
                       initiatorReblinded: initiator ? file(3) : nil, outResponderReblinded: initiator && sendsStep3 ? file(4) : nil,
                       responderReblinded: initiator ? nil : file(4), matchesFile: result, joining: input.input, format: input.format,
                       threads: agreement.threads, workDirectory: agreement.workDirectory, receipt: receipt).run()
    }

    private func runFull(_ session: ExchangeSession) throws {
        let all = { (k: Int) in columns.map { message(k, $0) } }
        if isInitiator {
            for m in all(1) { try session.offer(m.number, file: url(m.path)) }
            for m in all(2) + all(3) { try session.fetch(m.number, into: url(m.path)) }
            if !exists(result.path!) || (sendsStep3 && all(4).contains { !exists($0.path) }) {
                try session.whileWorking { try finish(initiator: true) }
            }
            if sendsStep3 { for m in all(4) { try session.offer(m.number, file: url(m.path)) } }
        } else {
            for m in all(1) { try session.fetch(m.number, into: url(m.path)) }
            if (all(2) + all(3)).contains(where: { !exists($0.path) }) {
                if let column = columns.first(where: { exists($0.column.path(state)) }) {
                    throw ValidationError("\(column.column.path(state)) exists but its messages are not in \(work): that exchange cannot resume here; a new exchange needs a new --state")
                }
                try session.whileWorking {
                    try Respond.step(input: input, agreement: agreement, parties: parties, json: false, initiatorBlinded: file(1),
                                     state: state, outResponderBlinded: file(2), outInitiatorReblinded: file(3), force: false, receipt: receipt)
                }
            }
            for m in all(2) + all(3) { try session.offer(m.number, file: url(m.path)) }
            guard sendsStep3 else { session.close(); return }
            for m in all(4) { try session.fetch(m.number, into: url(m.path)) }
            session.close()
            try finish(initiator: false)
        }
    }

    private func runIncremental(_ session: ExchangeSession) throws {
        let column = columns[0]
        let (m1, m2, m3) = (message(1, column), message(2, column), message(3, column))
        let finishing = { (response: String, out: String?) in
            try IncrementalFinish.step(configuration: incrementalConfiguration, type: column.column.identifierType, state: state, response: response,
                                       out: out, matches: result.path, changes: changes, json: false)
        }
        if isInitiator {
            try session.offer(m1.number, file: url(m1.path))
            try session.fetch(m2.number, into: url(m2.path))
            if !exists(m3.path) || !exists(result.path!) {
                try session.whileWorking { try finishing(m2.path, m3.path) }
            }
            try session.offer(m3.number, file: url(m3.path))
        } else {
            try session.fetch(m1.number, into: url(m1.path))
            if !exists(m2.path) {
                try session.whileWorking {
                    try IncrementalRespond.step(input: input, configuration: incrementalConfiguration, state: state, epoch: nil,
                                                request: m1.path, out: m2.path)
                }
            }
            try session.offer(m2.number, file: url(m2.path))
            try session.fetch(m3.number, into: url(m3.path))
            session.close()
            try finishing(m3.path, nil)
        }
    }
}
#else
let networkSubcommands: [any ParsableCommand.Type] = []
#endif
