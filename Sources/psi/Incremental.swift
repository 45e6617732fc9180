import ArgumentParser
import Foundation
import SodiumPSI

/// `psi incremental initiate|respond|finish`: daily runs of a relationship over files.
struct IncrementalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incremental",
        abstract: "Daily runs of a mutual relationship that send only what changed since the last run.",
        discussion: """
        A relationship (two institutions, one purpose) keeps a private relationship state on each side
        (mode 0600). Each day:
          A: psi incremental initiate --input today.txt --state a.rel --out 1.spsi
          B: psi incremental respond  --input today.txt --state b.rel --in 1.spsi --out 2.spsi
          A: psi incremental finish   --state a.rel --in 2.spsi --out 3.spsi --matches a.matches.txt
          B: psi incremental finish   --state b.rel --in 3.spsi --matches b.matches.txt
        The first day, and each new epoch (--epoch N above the state's, or --rotate-every DAYS on the
        initiator), is a full exchange with fresh scalars; other days blind and send only the added items
        and announce removals. The state changes only at finish (atomic replace): a run stopped at any
        point can be run again from its start. See Docs/protocol.md and Docs/threat-model.md.
        """,
        subcommands: [IncrementalInitiate.self, IncrementalRespond.self, IncrementalFinish.self])
}

/// What every incremental step agrees on with the peer.
struct IncrementalAgreement: ParsableArguments {
    @OptionGroup var purposeOption: PurposeOptions
    @OptionGroup var parties: MutualPartyOptions

    @Option(name: .long, help: "The suite both sides agreed on.", transform: PSISuite.parse)
    var suite: PSISuite = .ristretto255SHA512

    @Option(name: .customLong("max-peer-items"), help: "The largest peer list you accept (local policy).")
    var maxPeerItems: Int = MutualPSIConfiguration.defaultMaximumPeerSetSize

    @Option(name: .long, help: "Your relationship state (mode 0600; created by the first finish).")
    var state: String

    @OptionGroup var threads: ThreadOptions

    func configuration(_ type: IdentifierType) throws -> MutualPSIConfiguration {
        let (identity, peer) = try parties.load(for: purposeOption.purpose)
        return MutualPSIConfiguration(purpose: purposeOption.purpose, outcome: .bothLearn, identity: identity, peer: peer,
                                      identifierType: type, suite: suite, maximumPeerSetSize: maxPeerItems,
                                      parallelism: threads.parallelism)
    }
}

/// Reads the whole current list (one identifier column).
func readIncrementalList(_ input: InputOptions) throws -> (items: [Identifier], type: IdentifierType) {
    let column = input.columns[0]
    let (records, summary) = try input.reader(column).readAll()
    report(summary, input, column)
    return (records.map(\.identifier), column.identifierType)
}

/// The epoch of the initiator's next run: --epoch, or from --rotate-every and the day.
private func plannedEpoch(epoch: UInt64?, rotateEvery: UInt64?, state: String) throws -> UInt64? {
    if let epoch { return epoch }
    guard let rotateEvery else { return nil }
    let day = try IncrementalPSI.nextDay(state: url(state))
    return (day - 1) / rotateEvery + 1
}

struct IncrementalInitiate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "initiate",
                                                    abstract: "Message 1 (initiator): your additions blinded and your removals.")

    @OptionGroup var input: InputOptions
    @OptionGroup var agreement: IncrementalAgreement

    @Option(name: .long, help: "The epoch of this run (default: the state's, 1 at first); above the state's starts a new epoch (a full exchange).")
    var epoch: UInt64?

    @Option(name: .customLong("rotate-every"), help: "Start a new epoch every DAYS runs (epoch = (day - 1) / DAYS + 1), unless --epoch is given.")
    var rotateEvery: UInt64?

    @Option(name: .long, help: "The message for the responder (1).")
    var out: String

    func validate() throws {
        try input.format.requireKind()
        try input.format.requireOneColumn("an incremental run matches one column")
        if rotateEvery == 0 { throw ValidationError("--rotate-every must be at least 1") }
        try requireDistinctPaths(input.paths + [("--state", agreement.state), ("--state", IncrementalPSI.pendingURL(url(agreement.state)).path),
                                                ("--out", out)] + agreement.parties.party.paths)
    }

    func run() throws {
        try Self.step(input: input, configuration: agreement.configuration, state: agreement.state, epoch: epoch,
                      rotateEvery: rotateEvery, out: out)
    }

    /// The step itself, for `psi incremental initiate` and `psi exchange --connect --incremental`.
    static func step(input: InputOptions, configuration: (IdentifierType) throws -> MutualPSIConfiguration, state: String,
                     epoch: UInt64?, rotateEvery: UInt64?, out: String) throws {
        try runReportingErrors {
            let list = try readIncrementalList(input)
            let configuration = try configuration(list.type)
            let sent = try IncrementalPSI.initiate(items: list.items, configuration: configuration, state: url(state),
                                                   epoch: try plannedEpoch(epoch: epoch, rotateEvery: rotateEvery, state: state),
                                                   messageURL: url(out))
            note("day \(sent.day), epoch \(sent.epoch), \(sent.full ? "full exchange" : "incremental"): sent \(sent.added) added and \(sent.removed) removed items, \(sent.message.count) bytes; send \(out) to the responder")
        }
    }
}

struct IncrementalRespond: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "respond",
                                                    abstract: "Message 2 (responder): the initiator's additions re-blinded, your additions and removals.")

    @OptionGroup var input: InputOptions
    @OptionGroup var agreement: IncrementalAgreement

    @Option(name: .long, help: "The epoch you expect (default: any the initiator starts, never an older one).")
    var epoch: UInt64?

    @Option(name: .customLong("in"), help: "The initiator's message 1.")
    var request: String

    @Option(name: .long, help: "The message for the initiator (2).")
    var out: String

    func validate() throws {
        try input.format.requireKind()
        try input.format.requireOneColumn("an incremental run matches one column")
        try requireDistinctPaths(input.paths + [("--state", agreement.state), ("--state", IncrementalPSI.pendingURL(url(agreement.state)).path),
                                                ("--in", request), ("--out", out)] + agreement.parties.party.paths)
    }

    func run() throws {
        try Self.step(input: input, configuration: agreement.configuration, state: agreement.state, epoch: epoch,
                      request: request, out: out)
    }

    /// The step itself, for `psi incremental respond` and `psi exchange --listen --incremental`.
    static func step(input: InputOptions, configuration: (IdentifierType) throws -> MutualPSIConfiguration, state: String,
                     epoch: UInt64?, request: String, out: String) throws {
        try runReportingErrors {
            let list = try readIncrementalList(input)
            let configuration = try configuration(list.type)
            let sent = try IncrementalPSI.respond(request: try readMessage(request), requestName: request, items: list.items,
                                                  configuration: configuration, state: url(state), epoch: epoch,
                                                  messageURL: url(out))
            note("day \(sent.day), epoch \(sent.epoch), \(sent.full ? "full exchange" : "incremental"): the initiator added \(sent.peerAdded ?? 0) and removed \(sent.peerRemoved ?? 0); sent \(sent.added) added and \(sent.removed) removed items, \(sent.message.count) bytes; send \(out) to the initiator")
        }
    }
}

struct IncrementalFinish: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "finish",
                                                    abstract: "Finish a run (initiator: message 2 in, message 3 out; responder: message 3 in).")

    @OptionGroup var agreement: IncrementalAgreement

    @Option(name: .long, help: "What the values are (as at initiate/respond).")
    var kind: KindOption

    @Flag(name: .customLong("case-insensitive"), help: "Case-fold plain identifiers (as at initiate/respond).")
    var caseInsensitive = false

    @Option(name: .customLong("in"), help: "The peer's message (2 for the initiator, 3 for the responder).")
    var response: String

    @Option(name: .long, help: "Initiator: where to write message 3 for the responder.")
    var out: String?

    @Option(name: .long, help: "Write the matches (canonical values, one a line; mode 0600).")
    var matches: String?

    @Option(name: .long, help: "Write the changes since the last run, one a line: \"new VALUE\" for a new match, \"vanished VALUE\" for a lost one (mode 0600).")
    var changes: String?

    @Flag(name: .long, help: "Print a JSON summary on standard output.")
    var json = false

    func validate() throws {
        try requireDistinctPaths([("--state", agreement.state), ("--state", IncrementalPSI.pendingURL(url(agreement.state)).path),
                                  ("--in", response), ("--out", out), ("--matches", matches), ("--changes", changes)]
                                 + agreement.parties.party.paths)
    }

    func run() throws {
        try Self.step(configuration: agreement.configuration, type: IdentifierType(kind: kind.kind, caseInsensitive: caseInsensitive),
                      state: agreement.state, response: response, out: out, matches: matches, changes: changes, json: json)
    }

    /// The step itself, for `psi incremental finish` and each side's last step of `psi exchange --incremental`.
    static func step(configuration: (IdentifierType) throws -> MutualPSIConfiguration, type: IdentifierType, state: String,
                     response: String, out: String?, matches: String?, changes: String?, json: Bool) throws {
        try runReportingErrors {
            let configuration = try configuration(type)
            let stateURL = url(state)
            guard let role = try IncrementalPSI.storedRole(state: stateURL) else {
                throw IncrementalPSIError.noPendingRun(path: IncrementalPSI.pendingURL(stateURL).path)
            }
            let outcome: IncrementalPSI.Outcome
            switch role {
            case .initiator:
                guard let out else { throw ValidationError("the initiator's finish needs --out for message 3") }
                outcome = try IncrementalPSI.finishInitiator(response: try readMessage(response), responseName: response,
                                                             configuration: configuration, state: stateURL, replyURL: url(out))
            case .responder:
                outcome = try IncrementalPSI.finishResponder(reply: try readMessage(response), replyName: response,
                                                             configuration: configuration, state: stateURL)
            }
            if let matches { try IncrementalPSI.writePrivateLines(outcome.matches, to: url(matches)) }
            if let changes {
                try IncrementalPSI.writePrivateLines(outcome.newMatches.map { "new " + $0 } + outcome.vanishedMatches.map { "vanished " + $0 }, to: url(changes))
            }
            let what = outcome.alreadyFinished ? "already finished (result from the state)" : (outcome.full ? "full exchange" : "incremental")
            note("day \(outcome.day), epoch \(outcome.epoch), \(what): \(outcome.matches.count) matches (\(outcome.newMatches.count) new, \(outcome.vanishedMatches.count) vanished); the peer added \(outcome.peerAdded) and removed \(outcome.peerRemoved), holds \(outcome.peerCount) items\(out.map { role == .initiator ? "; send \($0) to the responder" : "" } ?? "")")
            if json {
                try printJSON(["step": "incremental finish", "role": role.description, "day": outcome.day, "epoch": outcome.epoch,
                               "full": outcome.full, "matches": outcome.matches.count, "new_matches": outcome.newMatches.count,
                               "vanished_matches": outcome.vanishedMatches.count, "own_items": outcome.ownCount,
                               "peer_items": outcome.peerCount, "peer_added": outcome.peerAdded, "peer_removed": outcome.peerRemoved,
                               "already_finished": outcome.alreadyFinished])
            }
        }
    }
}

/// A whole message file (its parts are checked by the step that reads it).
private func readMessage(_ path: String) throws -> [UInt8] { try IncrementalPSI.readMessage(url(path)) }
