// psi-hub: the alliance hub as an HTTPS service, and its member client (Docs/service.md).
// A thin shell: every step is a PSIService call. Kept apart from `psi` so that the file-flow
// tool, its sanitizer runs and its fuzz builds never link the server stack.
import ArgumentParser
import Foundation
import Logging
import PSIService
import SodiumPSI

@main
struct PSIHub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psi-hub",
        abstract: "The alliance hub as an HTTPS service, and the member's one-command query of it.",
        subcommands: [Serve.self, Query.self])
}

func fail(_ error: any Error) -> ExitCode {
    let text = (error as? any LocalizedError)?.errorDescription ?? String(describing: error)
    FileHandle.standardError.write(Data("psi-hub: \(text)\n".utf8))
    return ExitCode(76)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the hub's setup and answer members' signed requests over HTTPS until SIGTERM.")

    @Option(name: .long, help: "The service configuration (hub.toml; see Docs/service.md).")
    var config: String

    @Flag(name: .customLong("allow-plain-http"), help: "Serve without TLS when the configuration names no certificate (loopback tests only).")
    var allowPlainHTTP = false

    func run() async throws {
        // Logs go to standard error; standard output carries only "listening on …" and "stopped".
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let configuration: HubServiceConfiguration
        let service: HubService
        do {
            configuration = try HubServiceConfiguration(contentsOf: URL(fileURLWithPath: config))
            guard configuration.certificatePath != nil || allowPlainHTTP else {
                throw HubServiceError.invalidConfiguration(path: config, reason: "[server] names no certificate and private_key; the service serves HTTPS only")
            }
            service = try await HubService(configuration: configuration)
        } catch {
            throw fail(error)
        }
        let scheme = configuration.certificatePath == nil ? "http" : "https"
        let host = configuration.host
        try await service.run(onServerRunning: { port in
            FileHandle.standardOutput.write(Data("listening on \(scheme)://\(host):\(port)\n".utf8))
        })
        FileHandle.standardOutput.write(Data("stopped\n".utf8))
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query the hub service: fetch (or refresh) its setup and deltas, request, evaluate and finish in one command.",
        discussion: "Writes the matches file and the member's receipt as psi member finish does, and the hub's receipt beside it.")

    @Option(name: .long, help: "The hub service's address, https://host:port.")
    var hub: String
    @Option(name: .long, help: "Your identity file.")
    var identity: String
    @Option(name: .long, help: "Your peers file (the hub's public key is listed under --hub-name).")
    var peers: String
    @Option(name: .customLong("hub-name"), help: "The hub's name in your peers file.")
    var hubName: String
    @Option(name: .long, help: "phone, document or plain.")
    var kind: String
    @Option(name: .long, help: "Your list: one value a line, or CSV with --column.")
    var input: String
    @Option(name: .long, help: "The CSV column holding the values (name).")
    var column: String?
    @Option(name: .long, help: "The purpose label of the hub's list.")
    var purpose: String
    @Option(name: .long, help: "Where the setup, its deltas and the query's files are kept between queries.")
    var cache: String
    @Option(name: .long, help: "PEM certificates trusted to sign the hub's (a private CA); default: the system's roots.")
    var ca: String?
    @Option(name: .long, help: "The matches file (CSV, mode 0600).")
    var out: String
    @Flag(name: .long, help: "Write every row of each matched value with its columns, as psi member finish --input does (default: one row a matched value, its first line, as psi member finish without --input).")
    var join = false
    @Option(name: .long, help: "With --join: the list's columns to write beside each match (names or numbers, comma-separated or repeated; default: every column).")
    var keep: [String] = []

    func validate() throws {
        if !keep.isEmpty, !join { throw ValidationError("--keep needs --join: the columns are written beside every row of a match") }
    }

    func run() async throws {
        do {
            let identityKey = try PartyIdentity(contentsOf: URL(fileURLWithPath: identity))
            let list = try PeerList(contentsOf: URL(fileURLWithPath: peers))
            let purposeLabel = try PurposeLabel(purpose)
            let hubKey = try list.peer(named: hubName, for: purposeLabel).publicKey
            guard let identifierKind = HubServiceConfiguration.kind(named: kind) else {
                throw ValidationError("--kind is \(kind); expected \(HubServiceConfiguration.kindNames)")
            }
            let reader = IdentifierListReader(url: URL(fileURLWithPath: input), format: column.map { .csv(column: .name($0)) } ?? .lines,
                                              kind: identifierKind)
            let (records, _) = try reader.readAll()
            let client = try HubClient(baseURL: hub, identity: identityKey, hub: hubKey, directory: URL(fileURLWithPath: cache), trustRootsPEM: ca)
            let result: HubClient.QueryResult
            do {
                result = try await client.query(records: records, purpose: purposeLabel, identifierType: IdentifierType(kind: identifierKind))
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
            let outURL = URL(fileURLWithPath: out)
            // The matches file of psi member finish: the same MatchesTable, joined with the list
            // read again (the same reader) or one row a matched value, then the labels' columns.
            var table: MatchesTable
            if join {
                let names = keep.flatMap { $0.split(separator: ",", omittingEmptySubsequences: true).map(String.init) }
                table = try MatchesTable(joining: [MatchesTable.Part(list: reader, column: column ?? "", matches: result.outcome.matches)],
                                         keep: names.isEmpty ? nil : names.map { Int($0).map { .number($0) } ?? .name($0) })
            } else {
                let rows = MatchesTable(records: result.outcome.matches, column: column ?? "").rows
                table = MatchesTable(columns: MatchesTable.leadingColumns, rows: rows.sorted { Int($0[0])! < Int($1[0])! })
            }
            if !result.outcome.labels.isEmpty {
                let labels = Dictionary(zip(result.outcome.matches.map(\.identifier.canonical), result.outcome.labels)) { first, _ in first }
                let canonical = table.columns.firstIndex(of: "canonical")!
                table.addColumns(SetupLabel.csvHeader) { row in labels[row[canonical]]?.csvFields ?? SetupLabel.csvHeader.map { _ in "" } }
            }
            try table.write(to: outURL)
            let receiptURL = URL(fileURLWithPath: out + ".receipt.json")
            let hubReceiptURL = URL(fileURLWithPath: out + ".hub-receipt.json")
            try result.outcome.receipt.write(to: receiptURL)
            try result.hubReceipt.write(to: hubReceiptURL)
            try result.hubReceipt.verify(origin: hubReceiptURL.path)
            try result.outcome.receipt.checkSameRun(as: result.hubReceipt, origin: receiptURL.path, otherOrigin: hubReceiptURL.path)
            print("\(result.outcome.result.count) of your \(result.outcome.requestSize) items are in the hub's list of \(result.outcome.setupItemCount); "
                  + "the hub's proof was verified; request \(result.requestID); wrote \(out), \(receiptURL.lastPathComponent) and \(hubReceiptURL.lastPathComponent) (both receipts verified, same run)")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
