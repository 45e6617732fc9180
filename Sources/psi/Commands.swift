import ArgumentParser
import Foundation
import SodiumPSI

/// Runs `body` once for each identifier column; should a later column fail, removes the files
/// the earlier ones created, so a failed run leaves no exchange half started.
func forEachColumn<T>(_ columns: [IdentifierColumn], created: (IdentifierColumn) -> [String],
                      _ body: (IdentifierColumn) throws -> T) throws -> [T] {
    var done = [IdentifierColumn]()
    do {
        return try columns.map { column in
            let result = try body(column)
            done.append(column)
            return result
        }
    } catch {
        for column in done { for path in created(column) { unlink(path) } }
        throw error
    }
}

struct Initiate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Step 1 (initiator): blind your list and write the message for the responder.")

    @OptionGroup var input: InputOptions
    @OptionGroup var agreement: AgreementOptions
    @OptionGroup var parties: MutualPartyOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Your private state file (created with mode 0600; keep it, never send it; an existing one is refused unless --force).")
    var state: String

    @Option(name: .long, help: "The message file to send to the responder (1-initiator-blinded).")
    var out: String

    @Flag(name: .long, help: "Replace an existing state file (its exchange is lost). Without it an existing state file is refused.")
    var force = false

    func validate() throws {
        try input.format.requireKind()
        try requireDistinctPaths(input.paths + input.columns.flatMap { [("--state", $0.path(state)), ("--out", $0.path(out))] }
                                 + parties.party.paths)
    }

    func run() throws {
        try Self.step(input: input, agreement: agreement, parties: parties, json: output.json, state: state, out: out, force: force)
    }

    /// The step itself, for `psi initiate` and `psi exchange --connect`: blinds every column of
    /// `input` and writes each column's state and message.
    static func step(input: InputOptions, agreement: AgreementOptions, parties: MutualPartyOptions, json: Bool,
                     state: String, out: String, force: Bool) throws {
        let summary = StepSummary(json: json, inputs: [("--input", input.input)] + parties.party.paths)
        try runReportingErrors {
            ErrorNames.shared.register(purpose: agreement.purpose)
            let parts = try forEachColumn(input.columns, created: { [$0.path(state), $0.path(out)] }) { column in
                let configuration = try agreement.configuration(parties: parties, identifierType: column.identifierType)
                let blinding = try MutualPSIFileExchange.initiate(
                    list: input.reader(column), configuration: configuration, stateURL: url(column.path(state)),
                    messageURL: url(column.path(out)), replacingState: force)
                report(blinding.listSummary, input, column)
                note("\(column.fileTag == nil ? "" : "\(column.label): ")blinded \(blinding.inputSummary.distinct) distinct items; session \(blinding.context.sessionID); send \(column.path(out)) to the responder")
                let fields: [String: Any] = ["session": blinding.context.sessionID.description, "items_blinded": blinding.inputSummary.distinct,
                                             "input": blinding.listSummary.json, "message": column.path(out)]
                return (column, fields)
            }
            try summary.print(combined("initiate", parts), outputs: input.columns.flatMap {
                [("--state", $0.path(state)), ("--out", $0.path(out)), ("--rejects", $0.path(input.rejects))]
            })
        }
    }
}

struct Respond: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Step 2 (responder): blind your list, re-blind the initiator's set, write two messages back.")

    @OptionGroup var input: InputOptions
    @OptionGroup var agreement: AgreementOptions
    @OptionGroup var parties: MutualPartyOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("initiator-blinded"), help: "The initiator's message (1-initiator-blinded).")
    var initiatorBlinded: String

    @Option(name: .long, help: "Your private state file (created with mode 0600; keep it, never send it; an existing one is refused unless --force).")
    var state: String

    @Option(name: .customLong("out-responder-blinded"), help: "Where to write your own set blinded, for the initiator (2-responder-blinded).")
    var outResponderBlinded: String

    @Option(name: .customLong("out-initiator-reblinded"), help: "Where to write the initiator's set re-blinded, for the initiator (2-initiator-reblinded).")
    var outInitiatorReblinded: String

    @Flag(name: .long, help: "Replace an existing state file (its exchange is lost). Without it an existing state file is refused.")
    var force = false

    @OptionGroup var receipt: ReceiptOptions

    func validate() throws {
        try input.format.requireKind()
        try requireDistinctPaths(input.paths + input.columns.flatMap { column in
            [("--initiator-blinded", column.path(initiatorBlinded)), ("--state", column.path(state)),
             ("--out-responder-blinded", column.path(outResponderBlinded)), ("--out-initiator-reblinded", column.path(outInitiatorReblinded)),
             ("--receipt", receipt.path(nextTo: state, column))]
        } + parties.party.paths)
    }

    func run() throws {
        try Self.step(input: input, agreement: agreement, parties: parties, json: output.json, initiatorBlinded: initiatorBlinded,
                      state: state, outResponderBlinded: outResponderBlinded, outInitiatorReblinded: outInitiatorReblinded,
                      force: force, receipt: receipt)
    }

    /// The step itself, for `psi respond` and `psi exchange --listen`: every column of `input`
    /// blinded and the initiator's set of that column re-blinded.
    static func step(input: InputOptions, agreement: AgreementOptions, parties: MutualPartyOptions, json: Bool,
                     initiatorBlinded: String, state: String, outResponderBlinded: String, outInitiatorReblinded: String,
                     force: Bool, receipt: ReceiptOptions) throws {
        let summary = StepSummary(json: json, inputs: [("--input", input.input)] + input.columns.map {
            ("--initiator-blinded", $0.path(initiatorBlinded))
        } + parties.party.paths)
        try runReportingErrors {
            ErrorNames.shared.register(purpose: agreement.purpose)
            let created = { (column: IdentifierColumn) in
                [column.path(state), column.path(outResponderBlinded), column.path(outInitiatorReblinded), receipt.path(nextTo: state, column)]
            }
            let parts = try forEachColumn(input.columns, created: created) { column in
                let configuration = try agreement.configuration(parties: parties, identifierType: column.identifierType)
                let blinding = try MutualPSIFileExchange.respond(
                    list: input.reader(column), configuration: configuration, requestURL: url(column.path(initiatorBlinded)),
                    stateURL: url(column.path(state)), responderSetURL: url(column.path(outResponderBlinded)),
                    reblindedURL: url(column.path(outInitiatorReblinded)), replacingState: force,
                    reviewPeerSetSize: { size in
                        note("\(column.fileTag == nil ? "" : "\(column.label): ")the initiator's set holds \(size) items (limit --max-peer-items \(configuration.maximumPeerSetSize))")
                    })
                // Only the initiator learns: this is the responder's last step, and it signs the receipt.
                if let signed = blinding.receipt { try receipt.write(signed, nextTo: state, column) }
                report(blinding.listSummary, input, column)
                let peerSetSize = blinding.peerSetSize ?? 0
                note("\(column.fileTag == nil ? "" : "\(column.label): ")blinded \(blinding.inputSummary.distinct) distinct items and re-blinded \(peerSetSize) items; send \(column.path(outResponderBlinded)) and \(column.path(outInitiatorReblinded)) to the initiator")
                let fields: [String: Any] = ["session": blinding.context.sessionID.description, "peer_set_size": peerSetSize,
                                             "items_blinded": blinding.inputSummary.distinct, "input": blinding.listSummary.json,
                                             "messages": [column.path(outResponderBlinded), column.path(outInitiatorReblinded)]]
                return (column, fields)
            }
            try summary.print(combined("respond", parts), outputs: input.columns.flatMap { column in
                [("--state", column.path(state)), ("--out-responder-blinded", column.path(outResponderBlinded)),
                 ("--out-initiator-reblinded", column.path(outInitiatorReblinded)), ("--receipt", receipt.path(nextTo: state, column)),
                 ("--rejects", column.path(input.rejects))]
            })
        }
    }
}

struct Finish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Last step for either side: compute what you learn.",
        discussion: """
        Each input is named after the message it takes:
          A: psi finish --state a.state --responder-blinded 2-responder-blinded.spsi \\
               --initiator-reblinded 2-initiator-reblinded.spsi \\
               --out-responder-reblinded 3-responder-reblinded.spsi \\
               --input list.csv --column agent_phone --kind phone --out matches.csv \\
               --identity a.identity --peers peers.json --peer "Bank B"
          B: psi finish --state b.state --responder-reblinded 3-responder-reblinded.spsi \\
               --input list.csv --column agent_phone --kind phone --out matches.csv \\
               --identity b.identity --peers peers.json --peer "Bank A"
        With --input (and the list's options as when it was blinded), the matches file has a row for every row of \
        each matched value: line, column, value, canonical, then the row's columns (or --keep's). Without it, one \
        row a matched value (its first line). Cardinality-only: the count. See Docs/file-format.md.
        """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var parties: MutualPartyOptions

    @Option(name: .long, help: "Your state file from initiate or respond.")
    var state: String

    @Option(name: .customLong("responder-blinded"), help: "Initiator: the responder's blinded set (2-responder-blinded).")
    var responderBlinded: String?

    @Option(name: .customLong("initiator-reblinded"), help: "Initiator: your set re-blinded by the responder (2-initiator-reblinded).")
    var initiatorReblinded: String?

    @Option(name: .customLong("out-responder-reblinded"), help: "Initiator: where to write step 3 for the responder (3-responder-reblinded; both-learn and cardinality-only).")
    var outResponderReblinded: String?

    @Option(name: .customLong("responder-reblinded"), help: "Responder: your set re-blinded by the initiator (3-responder-reblinded).")
    var responderReblinded: String?

    @OptionGroup var result: ResultOptions
    @OptionGroup var format: ListFormatOptions
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var workDirectory: WorkDirectoryOptions
    @OptionGroup var receipt: ReceiptOptions

    private var isInitiator: Bool { responderBlinded != nil || initiatorReblinded != nil || outResponderReblinded != nil }

    func validate() throws {
        if isInitiator, responderReblinded != nil {
            throw ValidationError("--responder-reblinded is the responder's input; the initiator gives --responder-blinded and --initiator-reblinded")
        }
        if isInitiator, responderBlinded == nil || initiatorReblinded == nil {
            throw ValidationError("the initiator gives both --responder-blinded and --initiator-reblinded (the two messages of step 2)")
        }
        if !isInitiator, responderReblinded == nil {
            throw ValidationError("give the initiator's inputs (--responder-blinded, --initiator-reblinded) or the responder's (--responder-reblinded)")
        }
        if result.input != nil { try format.requireKind() }
        try requireDistinctPaths(format.columns.flatMap { column in
            [("--state", column.path(state)), ("--responder-blinded", column.path(responderBlinded)),
             ("--initiator-reblinded", column.path(initiatorReblinded)), ("--out-responder-reblinded", column.path(outResponderReblinded)),
             ("--responder-reblinded", column.path(responderReblinded)), ("--receipt", receipt.path(nextTo: state, column))]
        } + [("--input", result.input), ("--out", result.path)] + parties.party.paths)
    }

    func run() throws {
        try FinishStep(json: output.json, parties: parties, state: state, responderBlinded: responderBlinded,
                       initiatorReblinded: initiatorReblinded, outResponderReblinded: outResponderReblinded,
                       responderReblinded: responderReblinded, matchesFile: result.file, joining: result.input, format: format,
                       threads: threads, workDirectory: workDirectory, receipt: receipt).run()
    }
}

/// `psi finish`'s work, for it and for each side's last step in `psi exchange`: the parsed
/// option groups and paths of one finish (the initiator's when `responderBlinded` is given).
struct FinishStep {
    let json: Bool
    let parties: MutualPartyOptions
    let state: String
    let responderBlinded: String?
    let initiatorReblinded: String?
    let outResponderReblinded: String?
    let responderReblinded: String?
    let matchesFile: MatchesFileOptions
    /// The list to join the matches with (`--input`), read with `format`.
    let joining: String?
    let format: ListFormatOptions
    let threads: ThreadOptions
    let workDirectory: WorkDirectoryOptions
    let receipt: ReceiptOptions

    private var isInitiator: Bool { responderBlinded != nil || initiatorReblinded != nil || outResponderReblinded != nil }

    /// Every file the step reads, per column.
    private func inputs(_ column: IdentifierColumn) -> [(option: String, path: String?)] {
        [("--state", column.path(state)), ("--responder-blinded", column.path(responderBlinded)),
         ("--initiator-reblinded", column.path(initiatorReblinded)), ("--responder-reblinded", column.path(responderReblinded))]
    }

    func run() throws {
        let columns = format.columns
        let summary = StepSummary(json: json, inputs: columns.flatMap(inputs) + [("--input", joining)] + parties.party.paths)
        try runReportingErrors {
            let (identity, list) = try parties.party.load()
            let named = try list.peer(named: parties.peer)
            // The peer must still be trusted for the state's purpose; the library checks its key is the state's.
            let review = { (purpose: PurposeLabel) in
                ErrorNames.shared.register(purpose: purpose)
                _ = try list.peer(named: parties.peer, for: purpose)
            }
            let role = isInitiator ? "initiator" : "responder"
            let outcomes = try columns.map { column -> (IdentifierColumn, MutualPSIFileExchange.Outcome) in
                let outcome: MutualPSIFileExchange.Outcome
                if isInitiator {
                    do {
                        outcome = try MutualPSIFileExchange.finishInitiator(
                            stateURL: url(column.path(state)), identity: identity, peer: named.publicKey,
                            responderSetURL: url(column.path(responderBlinded!)), reblindedURL: url(column.path(initiatorReblinded!)),
                            replyURL: column.path(outResponderReblinded).map(url), parallelism: threads.parallelism,
                            progress: ProgressBar.handlerIfTerminal(), streaming: workDirectory.streaming, reviewPurpose: review)
                    } catch OutputFileError.missingPath(_, let reason) {
                        throw ValidationError("--out-responder-reblinded is required: \(reason)")
                    }
                    if let reply = column.path(outResponderReblinded), outcome.replyWritten { note("send \(reply) to the responder") }
                } else {
                    outcome = try MutualPSIFileExchange.finishResponder(
                        stateURL: url(column.path(state)), identity: identity, peer: named.publicKey,
                        replyURL: url(column.path(responderReblinded!)), parallelism: threads.parallelism,
                        progress: ProgressBar.handlerIfTerminal(), streaming: workDirectory.streaming, reviewPurpose: review)
                }
                try receipt.write(outcome.receipt, nextTo: state, column)
                return (column, outcome)
            }
            var fields = try present(outcomes)
            fields["role"] = role
            try summary.print(fields, outputs: columns.flatMap { column in
                [("--state", column.path(state)), ("--out-responder-reblinded", column.path(outResponderReblinded)),
                 ("--receipt", receipt.path(nextTo: state, column))]
            } + [("--out", matchesFile.path)])
        }
    }

    /// Tells the operator each column's result and writes the matches (or counts) of all of them.
    private func present(_ outcomes: [(column: IdentifierColumn, outcome: MutualPSIFileExchange.Outcome)]) throws -> [String: Any] {
        var parts = [(column: IdentifierColumn, fields: [String: Any])]()
        var matches = [(column: IdentifierColumn, matches: [ListRecord])]()
        var counts = [(column: IdentifierColumn, count: Int)]()
        for (column, outcome) in outcomes {
            let prefix = column.fileTag == nil ? "" : "\(column.label): "
            var fields: [String: Any] = ["intersection_size": outcome.result.count]
            switch outcome.result {
            case .intersection(let i):
                note("\(prefix)\(i.items.count) items in common (your set \(i.ownSetSize), peer's set \(i.peerSetSize))")
                fields["own_set_size"] = i.ownSetSize
                fields["peer_set_size"] = i.peerSetSize
                matches.append((column, outcome.matches))
            case .cardinality(let c):
                note("\(prefix)\(c.count) items in common (your set \(c.ownSetSize), peer's set \(c.peerSetSize)); which ones is not revealed")
                fields["own_set_size"] = c.ownSetSize
                fields["peer_set_size"] = c.peerSetSize
                counts.append((column, c.count))
            }
            parts.append((column, fields))
        }
        var summary = combined("finish", parts)
        if !matches.isEmpty, !counts.isEmpty {
            throw ValidationError("the columns' states were made with different --outcome values; finish them one at a time")
        }
        if !matches.isEmpty { try deliver(matches, matchesFile, joining: joining, format: format, json: json, summary: &summary) }
        if !counts.isEmpty { try deliverCounts(counts, matchesFile, json: json, summary: &summary) }
        return summary
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a message file's header, check its sender's signature and its digest.",
        discussion: "Any sender's signature is checked, trusted or not; with --peers, the sender and recipient are named. Exit code 76 when the signature or the digest does not verify.")

    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "A peers file, to name the sender and the recipient.")
    var peers: String?

    @Argument(help: "A .spsi message file.")
    var file: String

    func run() throws {
        try runReportingErrors {
            let list = try optionalPeers(peers)
            let inspection = try MessageFileReader.inspect(url: url(file))
            let header = inspection.header
            func party(_ key: PartyPublicKey?) -> String { named(key, in: list) }
            var fields: [(String, Any)] = [
                ("file", file), ("format_version", Int(header.version)), ("suite", header.suite.description),
                ("protocol", header.protocolID.description), ("kind", header.kindDescription),
                ("mode", header.modeDescription), ("element_size", header.elementSize), ("count", header.count),
                ("identifier_type", header.identifierType?.description ?? "none"),
                ("purpose_digest", header.purposeDigest.map { String(format: "%02x", $0) }.joined()),
                ("session", header.sessionID.description),
                ("key_id", header.keyID.map { String(format: "%02x", $0) }.joined()),
                ("sender", party(header.sender)), ("recipient", party(header.recipient)),
                ("extension_types", header.extensions.records.map { Int($0.type) }),
                ("signature_valid", inspection.signatureValid), ("digest_valid", inspection.digestValid),
            ]
            if output.json {
                fields += [("sender_public_key", header.sender.hex), ("recipient_public_key", header.recipient?.hex ?? NSNull())]
                try printJSON(Dictionary(uniqueKeysWithValues: fields))
            } else {
                for (name, value) in fields { print("\(name): \(value)") }
            }
            if !inspection.signatureValid {
                throw MessageFileError.badSignature(path: file, sender: header.sender.fingerprint)
            }
            if !inspection.digestValid {
                throw MessageFileError.digestMismatch(path: file)
            }
        }
    }
}
