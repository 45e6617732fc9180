public import ArgumentParser
import Foundation
public import SodiumPSI

/// The hub's `--outcome`, named like the mutual one after who learns what: a string-valued enum,
/// so that the help shows the default by name (``UnbalancedAnswerMode``'s raw values are the
/// header bytes).
enum HubOutcomeOption: String, ExpressibleByArgument, CaseIterable {
    case memberLearns = "member-learns"
    case cardinalityOnly = "cardinality-only"

    /// Also the spelling of `--answer` before 0.3 (`intersection`).
    init?(argument: String) {
        self.init(rawValue: argument == "intersection" ? Self.memberLearns.rawValue : argument)
    }

    static var allValueDescriptions: [String: String] {
        [memberLearns.rawValue: "a member learns which of its items are in the list (answers carry a VOPRF proof)",
         cardinalityOnly.rawValue: "a member learns only how many (semi-honest only: see below)"]
    }

    var mode: UnbalancedAnswerMode { self == .memberLearns ? .intersection : .cardinalityOnly }
}

/// Reads the operator's whole list (hub setups and member requests hold it in memory); a
/// setup and a request hold one identifier type, so one column.
func readWholeList(_ options: InputOptions) throws -> ([ListRecord], ListSummary, IdentifierColumn) {
    let column = options.columns[0]
    let (records, summary) = try options.reader(column).readAll()
    report(summary, options, column)
    return (records, summary, column)
}

/// `psi hub …`: the list holder's steps.
struct HubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Unbalanced PSI, hub side: make a key, publish a setup of your list, answer members' requests.",
        discussion: """
        Hub:    psi hub keygen --key hub.key [--outcome member-learns|cardinality-only]
                psi hub setup --key hub.key --identity hub.identity --kind phone --input list.txt --purpose P --out setup.spsi
                psi hub respond --key hub.key --identity hub.identity --peers members.json --kind phone --purpose P \\
                    --request request.spsi --out response.spsi
        Member: psi member request --identity m.identity --peers peers.json --hub "Alliance hub" --setup setup.spsi \\
                    --kind phone --input mine.txt --purpose P --state m.state --out request.spsi
                psi member finish --identity m.identity --peers peers.json --hub "Alliance hub" --state m.state \\
                    --setup setup.spsi --response response.spsi --out matches.csv
        The hub answers any member in its peers file allowed the purpose; a member accepts setups and
        responses only from the hub it names. See Docs/unbalanced.md.
        """,
        subcommands: [HubKeygen.self, HubSetup.self, HubRespond.self])
}

/// `psi member …`: a member's steps.
struct MemberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "Unbalanced PSI, member side: query a hub's setup with your list, learn your matches (or their number).",
        subcommands: [MemberRequest.self, MemberFinish.self])
}

struct HubKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Generate the hub's key file (mode 0600). With --rotate, replace the key: old setups and requests are refused from then on.")

    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The hub key file to write (mode 0600; keep it, never send it).")
    var key: String

    @Option(name: .long, help: ArgumentHelp(
        "What members learn, fixed for the key.",
        discussion: """
        member-learns: every answer carries an RFC 9497 VOPRF proof (DLEQ) that the member verifies against the setup's \
        public key before it reports anything. cardinality-only is SEMI-HONEST ONLY: a member that blinds each item with \
        its own scalar (instead of one for the whole request) learns which of its items matched, despite the shuffled \
        answer; nothing detects it, and its shuffled answers carry no proof. Use it only with members trusted to follow \
        the protocol, and bound what one can learn with --max-request-items and per-member budgets.
        """))
    var outcome: HubOutcomeOption = .memberLearns

    // The spelling before 0.3.
    @Option(name: .customLong("answer"), help: .private)
    var legacyAnswer: HubOutcomeOption?

    func validate() throws {
        if legacyAnswer != nil, outcome != .memberLearns { throw ValidationError("--answer is the old spelling of --outcome; give one") }
    }

    private var answer: HubOutcomeOption { legacyAnswer ?? outcome }

    @Flag(name: .long, help: "Replace an existing key file (key rotation): publish a new setup afterwards.")
    var rotate = false

    func run() throws {
        try runReportingErrors {
            let key = try UnbalancedPSIFileExchange.generateKey(at: url(self.key), answerMode: answer.mode, rotate: rotate)
            note("\(rotate ? "rotated" : "generated") hub key \(key.keyID) (\(answer.mode)); publish a new setup with psi hub setup")
            try StepSummary(json: output.json, inputs: []).print(
                ["step": "hub-keygen", "key_id": key.keyID.description, "outcome": answer.rawValue, "answer": answer.mode.description],
                outputs: [("--key", self.key)])
        }
    }
}

/// The setup encoding options.
enum EncodingOption: String, ExpressibleByArgument, CaseIterable {
    case tags, bloom
}

struct HubSetup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Evaluate the PRF on every item of your list and write the setup members query (or, with --delta-of, a delta of new entries).")

    @OptionGroup var input: InputOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The hub key file.")
    var key: String

    @Option(name: .long, help: "The hub's identity file: it signs the setup.")
    var identity: String

    @OptionGroup var purposeOption: PurposeOptions

    @Option(name: .long, help: "tags: truncated PRF values (--tag-bytes an item); bloom: a Bloom filter (about 1.44·log2(1/ε) bits an item).")
    var encoding: EncodingOption = .tags

    @Option(name: .customLong("tag-bytes"), help: "Bytes kept of each PRF value, 8–32 (tags; default \(SetupEncoding.defaultTagByteCount)).")
    var tagBytes = SetupEncoding.defaultTagByteCount

    @Option(name: .customLong("fp-rate"), help: "The Bloom filter's false-positive rate ε, e.g. 2^-20 (default) or 1e-6.")
    var fpRate = "2^-20"

    @Option(name: .customLong("delta-of"), help: "Write a delta with the entries of --input appended to this published setup (same encoding; in a labeled setup an item listed again gets its new label).")
    var deltaOf: String?

    @Option(name: .customLong("delta-number"), help: "The delta's number: 1 (when not given) for the first delta of the setup, 2 for the next, … (members apply them in order and refuse a gap).")
    var deltaNumberOption: Int?

    var deltaNumber: Int { deltaNumberOption ?? 1 }

    @Option(name: .customLong("contributor"), help: "The name of the contributor of --input (default \"hub\"), when contributions are aggregated.")
    var contributor = "hub"

    @Option(name: .customLong("contribution"), help: "Another contributor's list, as NAME=FILE, read like --input (repeat for several); rows of one identifier from every list are aggregated into one label.")
    var contributions: [String] = []

    @Flag(name: .long, help: "Give every item an encrypted label (reporter count, and the fields of the label columns); implied by any label column.")
    var labels = false

    @Option(name: .customLong("label-bytes"), help: "The fixed size of every label in bytes, \(SetupLabel.byteCountRange.lowerBound)–\(SetupLabel.byteCountRange.upperBound) (default \(SetupLabel.defaultByteCount)); a label that does not fit is refused, naming its row.")
    var labelBytes = SetupLabel.defaultByteCount

    @Option(name: .customLong("category-column"), help: "Label column: categories (several separated by ';').")
    var categoryColumn: String?

    @Option(name: .customLong("first-seen-column"), help: "Label column: the date first seen, YYYY-MM-DD.")
    var firstSeenColumn: String?

    @Option(name: .customLong("last-seen-column"), help: "Label column: the date last seen, YYYY-MM-DD.")
    var lastSeenColumn: String?

    @Option(name: .customLong("reporter-count-column"), help: "Label column: how many reporters a row stands for (default: each contributor counts once).")
    var reporterCountColumn: String?

    @Option(name: .customLong("note-column"), help: "Label column: a free note (distinct notes of an identifier are joined by ' | ').")
    var noteColumn: String?

    @Flag(name: .customLong("label-contributors"), help: "Put the contributors' names in the labels (members then learn who reported each match).")
    var labelContributors = false

    @Option(name: .customLong("work-dir"), help: "Folder for temporary files of large lists (default: the setup's folder).")
    var workDir: String?


    @Option(name: .long, help: "The setup (or delta) file to publish.")
    var out: String

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        try input.format.requireKind()
        try input.format.requireOneColumn("a setup holds one identifier type")
        if !SetupEncoding.tagByteCountRange.contains(tagBytes) { throw ValidationError("--tag-bytes must be 8 to 32") }
        guard let rate = Self.parseRate(fpRate) else {
            throw ValidationError("--fp-rate must be a number such as 1e-6 or a power of two such as 2^-20")
        }
        do { try SetupEncoding.bloomFilter(falsePositiveRate: rate).validate() } catch {
            throw ValidationError("--fp-rate \(fpRate): \(error.localizedDescription)")
        }
        if deltaNumber < 1 { throw ValidationError("--delta-number must be at least 1") }
        if labeled {
            if encoding == .bloom { throw ValidationError("labels need --encoding tags: a Bloom filter has no entry to carry a label") }
            if !SetupLabel.byteCountRange.contains(labelBytes) {
                throw ValidationError("--label-bytes must be \(SetupLabel.byteCountRange.lowerBound) to \(SetupLabel.byteCountRange.upperBound)")
            }
            if [categoryColumn, firstSeenColumn, lastSeenColumn, reporterCountColumn, noteColumn].contains(where: { $0 != nil }),
               input.columns[0].column == nil {
                throw ValidationError("label columns need a CSV list (--column)")
            }
        }
        if !contributions.isEmpty {
            if input.rejects != nil { throw ValidationError("--rejects reads one list; it cannot be used with --contribution") }
        }
        _ = try parsedContributions()
        try requireDistinctPaths([("--key", key), ("--identity", identity)] + input.paths
                                 + contributions.map { ("--contribution", Self.split($0)?.file) }
                                 + [("--delta-of", deltaOf), ("--out", out)])
    }

    /// Whether the setup carries labels.
    var labeled: Bool {
        labels || labelContributors || [categoryColumn, firstSeenColumn, lastSeenColumn, reporterCountColumn, noteColumn].contains { $0 != nil }
    }

    /// `NAME=FILE`.
    static func split(_ text: String) -> (name: String, file: String)? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let name = String(text[..<equals]), file = String(text[text.index(after: equals)...])
        return name.isEmpty || file.isEmpty ? nil : (name, file)
    }

    /// The contributor names and files, `--input` first.
    func parsedContributions() throws -> [(name: String, file: String)] {
        var all = [(contributor, input.input)]
        for text in contributions {
            guard let pair = Self.split(text) else { throw ValidationError("--contribution \"\(text)\": expected NAME=FILE") }
            all.append(pair)
        }
        var names = Set<String>()
        for (name, _) in all where !names.insert(name).inserted {
            throw ValidationError("contributor \"\(name)\" is named twice; each contribution needs its own name")
        }
        return all
    }

    /// A CSV column option: a number or a header name.
    static func column(_ text: String?) -> IdentifierListReader.Column? {
        text.map { Int($0).map { .number($0) } ?? .name($0) }
    }

    /// `2^-20`, `1e-6` or `0.000001`.
    static func parseRate(_ text: String) -> Double? {
        if text.hasPrefix("2^"), let exponent = Int(text.dropFirst(2)) { return pow(2, Double(exponent)) }
        return Double(text)
    }

    func run() throws {
        let summary = StepSummary(json: output.json, inputs: [("--key", key), ("--identity", identity), ("--input", input.input),
                                                              ("--delta-of", deltaOf)])
        try runReportingErrors {
            let column = input.columns[0]
            let hub = UnbalancedPSIHub(key: try HubKey.load(from: url(key)), identity: try PartyIdentity(contentsOf: url(identity)),
                                       purpose: purposeOption.purpose, identifierType: column.identifierType,
                                       parallelism: threads.parallelism)
            // A delta takes its base's encoding: the base's header (mode byte) says whether it is a filter.
            let baseIsFilter = try deltaOf.map { try MessageFileReader(url: url($0), expecting: MessageExpectation()).header.mode >> 4 == 2 } ?? false
            if baseIsFilter {
                try publishFilterDelta(hub, summary: summary)
                return
            }
            // Tags, labeled or not, or a Bloom filter: streamed from the lists, memory bounded
            // whatever their size (a filter holds only its bits).
            let base = input.reader(column)
            let readers = try parsedContributions().map { name, file in
                HubContribution(name: name, reader: file == input.input ? base
                                    : input.format.reader(file, column, policy: base.policy, invalidLimit: base.invalidLimit))
            }
            let columns = LabelColumns(category: Self.column(categoryColumn), firstSeen: Self.column(firstSeenColumn),
                                       lastSeen: Self.column(lastSeenColumn), reporterCount: Self.column(reporterCountColumn),
                                       note: Self.column(noteColumn), includeContributors: labelContributors)
            let encoding: SetupEncoding = self.encoding == .bloom ? .bloomFilter(falsePositiveRate: Self.parseRate(fpRate)!)
                : labeled ? .labeledTags(tagByteCount: tagBytes, labelByteCount: labelBytes) : .truncatedTags(byteCount: tagBytes)
            let published = try UnbalancedPSIFileExchange.publishSetup(
                contributions: readers, hub: hub, encoding: encoding, labelColumns: columns, setupURL: url(out),
                delta: deltaOf.map { (url($0), deltaNumber) }, options: StreamingOptions(workDirectory: workDir.map(url)),
                progress: ProgressBar.handlerIfTerminal())
            for contribution in published.contributions {
                if readers.count == 1 { report(contribution.list, input, column) } else {
                    for invalid in contribution.list.invalidRecords.prefix(20) {
                        note("\(contribution.name): line \(invalid.lineNumber): skipped: \(invalid.reason.localizedDescription)")
                    }
                    note("\(contribution.name): \(contribution.valid) valid rows, \(contribution.invalid) invalid, \(contribution.repeated) repeated")
                }
            }
            let perItem = published.itemCount > 0 ? Double(published.fileByteCount) / Double(published.itemCount) : 0
            let what = published.deltaNumber > 0 ? "delta \(published.deltaNumber) of setup" : "setup"
            note("\(what) \(published.setupID): \(published.itemCount) items as \(published.encoding), "
                 + "\(published.fileByteCount) bytes (\(String(format: "%.2f", perItem)) an item), key \(published.keyID), \(published.answerMode); publish \(out) to members")
            try summary.print(["step": published.deltaNumber > 0 ? "hub-delta" : "hub-setup", "setup_id": published.setupID.description,
                               "delta_number": published.deltaNumber, "key_id": published.keyID.description,
                               "answer": published.answerMode.description, "items": published.itemCount,
                               "encoding": published.encoding.description, "file_bytes": published.fileByteCount, "bytes_per_item": perItem,
                               "false_positive_rate": published.encoding.falsePositiveRate(itemCount: published.itemCount),
                               "contributions": published.contributions.map {
                                   ["name": $0.name, "valid": $0.valid, "invalid": $0.invalid, "repeated": $0.repeated, "input": $0.list.json] as [String: Any]
                               }, "setup": out],
                              outputs: [("--out", out), ("--rejects", input.rejects)])
        }
    }

    /// A delta of a Bloom filter setup, made in memory from `--input`.
    private func publishFilterDelta(_ hub: UnbalancedPSIHub, summary: StepSummary) throws {
        let (records, listSummary, _) = try readWholeList(input)
        let setup = try UnbalancedPSIFileExchange.publishDelta(records: records, hub: hub, baseURL: url(deltaOf!), deltaURL: url(out),
                                                               number: deltaNumber, progress: ProgressBar.handlerIfTerminal())
        let perItem = setup.itemCount > 0 ? Double(setup.fileByteCount) / Double(setup.itemCount) : 0
        note("\(setup.isDelta ? "delta \(setup.deltaNumber) of setup" : "setup") \(setup.setupID): \(setup.itemCount) items as \(setup.encoding), "
             + "\(setup.fileByteCount) bytes (\(String(format: "%.2f", perItem)) an item), key \(setup.keyID), \(setup.answerMode); publish \(out) to members")
        try summary.print(["step": setup.isDelta ? "hub-delta" : "hub-setup", "setup_id": setup.setupID.description,
                           "delta_number": setup.deltaNumber, "key_id": setup.keyID.description, "answer": setup.answerMode.description,
                           "items": setup.itemCount, "encoding": setup.encoding.description, "file_bytes": setup.fileByteCount,
                           "bytes_per_item": perItem, "false_positive_rate": setup.falsePositiveRate,
                           "input": listSummary.json, "setup": out],
                          outputs: [("--out", out), ("--rejects", input.rejects)])
    }
}

struct HubRespond: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "respond",
        abstract: "Answer a member's request: evaluate its blinded items with the hub key (with a VOPRF proof in intersection mode) and write the response.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var party: PartyOptions
    @OptionGroup var receipt: ReceiptOptions

    @Option(name: .long, help: "The hub key file.")
    var key: String

    @OptionGroup var purposeOption: PurposeOptions

    @Option(name: .long, help: "What the list's values are: phone, document, plain (as for psi hub setup).")
    var kind: KindOption

    @Flag(name: .customLong("case-insensitive"), help: "The list's plain identifiers were lower-cased (as for psi hub setup).")
    var caseInsensitive = false

    @Option(name: .long, help: "The member's request.")
    var request: String

    @Option(name: .long, help: "The response file to send back to the member.")
    var out: String

    @Option(name: .customLong("max-request-items"),
            help: "Refuse a request larger than this (default \(UnbalancedPSIHub.defaultMaximumRequestSize)): a member querying every possible value would learn the whole list.")
    var maxRequestItems = UnbalancedPSIHub.defaultMaximumRequestSize

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if maxRequestItems < 1 { throw ValidationError("--max-request-items must be at least 1") }
        try requireDistinctPaths([("--key", key), ("--request", request), ("--out", out), ("--receipt", receipt.path(nextTo: out))]
                                 + party.paths)
    }

    func run() throws {
        let summary = StepSummary(json: output.json, inputs: [("--key", key), ("--request", request)] + party.paths)
        try runReportingErrors {
            let purpose = purposeOption.purpose
            ErrorNames.shared.register(purpose: purpose)
            let (identity, list) = try party.load()
            let hub = UnbalancedPSIHub(key: try HubKey.load(from: url(key)), identity: identity, purpose: purpose,
                                       identifierType: IdentifierType(kind: kind.kind, caseInsensitive: caseInsensitive),
                                       members: Set(list.peers(for: purpose).map(\.publicKey)), maximumRequestSize: maxRequestItems,
                                       parallelism: threads.parallelism)
            let answer = try UnbalancedPSIFileExchange.respond(hub: hub, requestURL: url(request), responseURL: url(out)) { size in
                note("the request holds \(size) items (limit --max-request-items \(maxRequestItems))")
            }
            try receipt.write(answer.receipt, nextTo: out)
            let response = answer.response
            let member = list.name(of: response.context.member).map { "\"\($0)\"" } ?? response.context.member.fingerprint
            note("answered \(response.evaluatedElements.count) items of \(member) (session \(response.context.sessionID)); send \(out) to the member")
            try summary.print(["step": "hub-respond", "session": response.context.sessionID.description,
                               "request_size": response.evaluatedElements.count, "response": out],
                              outputs: [("--out", out), ("--receipt", receipt.path(nextTo: out))])
        }
    }
}

struct MemberRequest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Blind your list for a query against the hub's setup; write the request for the hub and your private state.")

    @OptionGroup var input: InputOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var party: PartyOptions

    @Option(name: .long, help: "The hub: its name in your peers file. Only setups and responses it signed are accepted.")
    var hub: String

    @OptionGroup var purposeOption: PurposeOptions

    @Option(name: .long, help: "The hub's published setup (its key and answer mode are used).")
    var setup: String

    @Option(name: .long, help: "Your private state file (created with mode 0600; keep it, never send it; an existing one is refused unless --force).")
    var state: String

    @Option(name: .long, help: "The request file to send to the hub.")
    var out: String

    @OptionGroup var threads: ThreadOptions

    @Flag(name: .long, help: "Replace an existing state file (its query is lost). Without it an existing state file is refused.")
    var force = false

    func validate() throws {
        try input.format.requireKind()
        try input.format.requireOneColumn("a request is made against a setup of one identifier type")
        try requireDistinctPaths(input.paths + [("--setup", setup), ("--state", state), ("--out", out)] + party.paths)
    }

    func run() throws {
        let summary = StepSummary(json: output.json, inputs: [("--input", input.input), ("--setup", setup)] + party.paths)
        try runReportingErrors {
            try FilePaths.refuseExisting(url(state), replacing: force)
            let (records, listSummary, column) = try readWholeList(input)
            let purpose = purposeOption.purpose
            ErrorNames.shared.register(purpose: purpose)
            let (identity, list) = try party.load()
            let member = try UnbalancedPSIFileExchange.request(
                records: records, purpose: purpose, identifierType: column.identifierType, identity: identity,
                hub: try list.peer(named: hub, for: purpose).publicKey, setupURL: url(setup), stateURL: url(state),
                requestURL: url(out), parallelism: threads.parallelism, replacingState: force)
            note("blinded \(member.items.count) distinct items for key \(member.context.keyID) (\(member.context.answerMode)); session \(member.context.sessionID); send \(out) to the hub")
            try summary.print(["step": "member-request", "session": member.context.sessionID.description, "key_id": member.context.keyID.description,
                               "answer": member.context.answerMode.description, "items_blinded": member.items.count,
                               "input": listSummary.json, "request": out],
                              outputs: [("--state", state), ("--out", out), ("--rejects", input.rejects)])
        }
    }
}

struct MemberFinish: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finish",
        abstract: "Verify and finalise the hub's response and look your items up in the setup (and its deltas).",
        discussion: "With --input (and the list's options as for psi member request), the matches file has a row for every row of each matched value: line, column, value, canonical, then the row's columns (or --keep's). Without it, one row a matched value (its first line). Cardinality-only: the count. See Docs/file-format.md.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var party: PartyOptions
    @OptionGroup var receipt: ReceiptOptions

    @Option(name: .long, help: "The hub: its name in your peers file (the hub of your request).")
    var hub: String

    @Option(name: .long, help: "Your state file from psi member request.")
    var state: String

    @Option(name: .long, help: "The setup the request was made from (the request names its digest; any other is refused).")
    var setup: String

    @Option(name: .long, help: "A delta of that setup (repeat for several).")
    var delta: [String] = []

    @Option(name: .long, help: "The hub's response.")
    var response: String

    @OptionGroup var result: ResultOptions
    @OptionGroup var format: ListFormatOptions
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        try format.requireOneColumn("a request is made against a setup of one identifier type")
        if result.input != nil { try format.requireKind() }
        try requireDistinctPaths([("--state", state), ("--setup", setup)] + delta.map { ("--delta", $0) }
                                 + [("--response", response), ("--input", result.input), ("--out", result.path),
                                    ("--receipt", receipt.path(nextTo: state))] + party.paths)
    }

    func run() throws {
        let summary = StepSummary(json: output.json, inputs: [("--state", state), ("--setup", setup)] + delta.map { ("--delta", $0) }
                                  + [("--response", response), ("--input", result.input)] + party.paths)
        try runReportingErrors {
            let (identity, list) = try party.load()
            let named = try list.peer(named: hub)
            let outcome = try UnbalancedPSIFileExchange.finish(
                stateURL: url(state), identity: identity, hub: named.publicKey, responseURL: url(response), setupURL: url(setup),
                deltaURLs: delta.map(url), parallelism: threads.parallelism,
                reviewPurpose: { purpose in
                    ErrorNames.shared.register(purpose: purpose)
                    _ = try list.peer(named: hub, for: purpose)
                })
            try receipt.write(outcome.receipt, nextTo: state)
            var fields: [String: Any] = ["step": "member-finish", "intersection_size": outcome.result.count,
                                         "own_set_size": outcome.requestSize, "setup_size": outcome.setupItemCount,
                                         "false_positive_rate": outcome.falsePositiveRate]
            let column = format.columns[0]
            switch outcome.result {
            case .intersection:
                note("\(outcome.result.count) of your \(outcome.requestSize) items are in the hub's list of \(outcome.setupItemCount) "
                     + "(a non-member matches with probability at most about \(outcome.falsePositiveRate)); "
                     + "the hub's proof that it answered with the setup's key was verified")
                try deliver([(column, outcome.matches)], result.file, joining: result.input, format: format, json: output.json, summary: &fields,
                            labels: Dictionary(zip(outcome.matches.map(\.identifier.canonical), outcome.labels)) { first, _ in first })
            case .cardinality(let count):
                note("\(count) of your \(outcome.requestSize) items are in the hub's list of \(outcome.setupItemCount); which ones is not revealed")
                try deliverCounts([(column, count)], result.file, json: output.json, summary: &fields)
            }
            try summary.print(fields, outputs: [("--state", state), ("--receipt", receipt.path(nextTo: state)), ("--out", result.path)])
        }
    }
}
