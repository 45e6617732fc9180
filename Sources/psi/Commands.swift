import ArgumentParser
import Foundation
import SodiumPSI

struct Initiate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Step 1 (initiator): blind your list and write the message for the responder.")

    @OptionGroup var input: InputOptions
    @OptionGroup var agreement: AgreementOptions
    @OptionGroup var parties: MutualPartyOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Your private state file (created with mode 0600; keep it, never send it; an existing one is refused unless --force).")
    var state: String

    @Option(name: .long, help: "The message file to send to the responder.")
    var out: String

    @Flag(name: .long, help: "Replace an existing state file (its exchange is lost). Without it an existing state file is refused.")
    var force = false

    func validate() throws {
        try requireDistinctPaths(input.paths + [("--state", state), ("--out", out)] + parties.party.paths)
    }

    func run() throws {
        try runReportingErrors {
            let configuration = try agreement.configuration(parties: parties, identifierType: input.identifierType)
            let blinding = try MutualPSIFileExchange.initiate(
                list: listReader(input), configuration: configuration, stateURL: url(state), messageURL: url(out),
                replacingState: force)
            let summary = blinding.listSummary
            report(summary, input)
            note("blinded \(blinding.inputSummary.distinct) distinct items; session \(blinding.context.sessionID); send \(out) to the responder")
            if output.json {
                try printJSON(["step": "initiate", "session": blinding.context.sessionID.description,
                               "items_blinded": blinding.inputSummary.distinct, "input": summary.json, "message": out])
            }
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

    @Option(name: .long, help: "The initiator's step-1 message.")
    var request: String

    @Option(name: .long, help: "Your private state file (created with mode 0600; keep it, never send it; an existing one is refused unless --force).")
    var state: String

    @Option(name: .customLong("out-blinded"), help: "Message file for your own blinded set (send to the initiator).")
    var outBlinded: String

    @Option(name: .customLong("out-reblinded"), help: "Message file for the initiator's set re-blinded (send to the initiator).")
    var outReblinded: String

    @Flag(name: .long, help: "Replace an existing state file (its exchange is lost). Without it an existing state file is refused.")
    var force = false

    @OptionGroup var receipt: ReceiptOptions

    func validate() throws {
        try requireDistinctPaths(input.paths + [("--request", request), ("--state", state),
                                  ("--out-blinded", outBlinded), ("--out-reblinded", outReblinded),
                                  ("--receipt", receipt.path(nextTo: state))] + parties.party.paths)
    }

    func run() throws {
        try runReportingErrors {
            let configuration = try agreement.configuration(parties: parties, identifierType: input.identifierType)
            let blinding = try MutualPSIFileExchange.respond(
                list: listReader(input), configuration: configuration, requestURL: url(request), stateURL: url(state),
                responderSetURL: url(outBlinded), reblindedURL: url(outReblinded), replacingState: force,
                reviewPeerSetSize: { size in
                    note("the initiator's set holds \(size) items (limit --max-peer-items \(configuration.maximumPeerSetSize))")
                })
            // Only the initiator learns: this is the responder's last step, and it signs the receipt.
            if let signed = blinding.receipt { try receipt.write(signed, nextTo: state) }
            let summary = blinding.listSummary
            report(summary, input)
            let peerSetSize = blinding.peerSetSize ?? 0
            note("blinded \(blinding.inputSummary.distinct) distinct items and re-blinded \(peerSetSize) items; send \(outBlinded) and \(outReblinded) to the initiator")
            if output.json {
                try printJSON(["step": "respond", "session": blinding.context.sessionID.description,
                               "peer_set_size": peerSetSize, "items_blinded": blinding.inputSummary.distinct,
                               "input": summary.json, "messages": [outBlinded, outReblinded]])
            }
        }
    }
}

struct Finish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Last step for either side: compute what you learn.",
        discussion: """
        Initiator: psi finish --state a.state --identity a.identity --peers peers.json --peer "Bank B" \\
                   --responder-set 2-responder-blinded.spsi --reblinded 2-initiator-reblinded.spsi \\
                   --reply 3-responder-reblinded.spsi --output matches.csv
        Responder: psi finish --state b.state --identity b.identity --peers peers.json --peer "Bank A" \\
                   --reblinded 3-responder-reblinded.spsi --output matches.csv
        The output lists each match as: line number, the value as written in your input, canonical form.
        """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var parties: MutualPartyOptions

    @Option(name: .long, help: "Your state file from initiate or respond.")
    var state: String

    @Option(name: .customLong("responder-set"), help: "Initiator only: the responder's blinded set.")
    var responderSet: String?

    @Option(name: .long, help: "The re-blinded set of your own items that the peer sent back.")
    var reblinded: String

    @Option(name: .long, help: "Initiator only: where to write step 3 for the responder (both-learn, cardinality-only).")
    var reply: String?

    @Option(name: .customLong("output"), help: "Where to write the matches (CSV, mode 0600). Without it, matches go to standard output.")
    var matchesPath: String?

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("work-dir"), help: "Folder for temporary files of large sets (default: the state file's folder).")
    var workDir: String?

    @OptionGroup var receipt: ReceiptOptions

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if responderSet == nil, reply != nil { throw ValidationError("--reply is for the initiator, which also gives --responder-set") }
        try requireDistinctPaths([("--state", state), ("--responder-set", responderSet), ("--reblinded", reblinded),
                                  ("--reply", reply), ("--output", matchesPath), ("--receipt", receipt.path(nextTo: state))]
                                 + parties.party.paths)
    }

    func run() throws {
        try runReportingErrors {
            let parallelism = threads.map { Parallelism(threads: $0) } ?? .allCores
            let (identity, list) = try parties.party.load()
            let named = try list.peer(named: parties.peer)
            // The peer must still be trusted for the state's purpose; the library checks its key is the state's.
            let review = { (purpose: PurposeLabel) in _ = try list.peer(named: parties.peer, for: purpose) }
            let streaming = StreamingOptions(workDirectory: workDir.map(url))
            let outcome: MutualPSIFileExchange.Outcome
            let role: String
            if let responderSet {
                role = "initiator"
                do {
                    outcome = try MutualPSIFileExchange.finishInitiator(
                        stateURL: url(state), identity: identity, peer: named.publicKey,
                        responderSetURL: url(responderSet), reblindedURL: url(reblinded),
                        replyURL: reply.map(url), parallelism: parallelism, progress: ProgressBar.handlerIfTerminal(),
                        streaming: streaming, reviewPurpose: review)
                } catch OutputFileError.missingPath(_, let reason) {
                    throw ValidationError("--reply is required: \(reason)")
                }
                if let reply, outcome.replyWritten { note("send \(reply) to the responder") }
            } else {
                role = "responder"
                outcome = try MutualPSIFileExchange.finishResponder(stateURL: url(state), identity: identity, peer: named.publicKey,
                                                                    replyURL: url(reblinded),
                                                                    parallelism: parallelism, progress: ProgressBar.handlerIfTerminal(),
                                                                    streaming: streaming, reviewPurpose: review)
            }
            try receipt.write(outcome.receipt, nextTo: state)
            try present(outcome, role: role)
        }
    }

    private func present(_ outcome: MutualPSIFileExchange.Outcome, role: String) throws {
        var summary: [String: Any] = ["step": "finish", "role": role, "intersection_size": outcome.result.count]
        switch outcome.result {
        case .intersection(let i):
            note("\(i.items.count) items in common (your set \(i.ownSetSize), peer's set \(i.peerSetSize))")
            summary["own_set_size"] = i.ownSetSize
            summary["peer_set_size"] = i.peerSetSize
            try deliver(outcome.matches, to: matchesPath, json: output.json, summary: &summary)
        case .cardinality(let c):
            note("\(c.count) items in common (your set \(c.ownSetSize), peer's set \(c.peerSetSize)); which ones is not revealed")
            summary["own_set_size"] = c.ownSetSize
            summary["peer_set_size"] = c.peerSetSize
            if !output.json && matchesPath == nil { print(c.count) }
        }
        if output.json { try printJSON(summary) }
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
