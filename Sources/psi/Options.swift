public import ArgumentParser
import Foundation
public import SodiumPSI

extension MutualPSIOutcome: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = Self.allCases.first(where: { $0.description == argument }) else { return nil }
        self = value
    }
    public static var allValueStrings: [String] { allCases.map(\.description) }
}

extension PSISuite: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map { $0.description.lowercased() } }
    public var defaultValueDescription: String { description.lowercased() }

    /// The `--suite` value; a retired suite's name is refused with the reason.
    static func parse(_ name: String) throws -> PSISuite {
        do { return try PSISuite(validatingName: name) } catch { throw ValidationError(error.localizedDescription) }
    }
}

/// The kinds of identifier a list can hold.
enum KindOption: String, ExpressibleByArgument, CaseIterable {
    case phone, document, plain

    var kind: Identifier.Kind {
        switch self {
        case .phone: return .phoneNumber
        case .document: return .documentFingerprint
        case .plain: return .plain
        }
    }
}

enum InvalidPolicyOption: String, ExpressibleByArgument, CaseIterable {
    case skip, stop
}

/// Where the operator's list comes from and how to read it.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: "The list to match: one value a line, or CSV with --column.")
    var input: String

    @Option(name: .long, help: "What the values are: phone (mainland and E.164 numbers), document (SHA-256 hex digests), plain.")
    var kind: KindOption

    @Option(name: .long, help: "Read the input as CSV and take this column: a header name, or a 1-based column number. The first line is the header unless --no-header.")
    var column: String?

    @Flag(name: .customLong("no-header"), help: "The CSV has no header line: every line is data (needs a numeric --column).")
    var noHeader = false

    @Option(name: .customLong("on-invalid"), help: "skip: report invalid values and go on; stop: fail at the first.")
    var onInvalid: InvalidPolicyOption = .skip

    @Flag(name: .customLong("case-insensitive"), help: "Lower-case plain identifiers before matching.")
    var caseInsensitive = false

    func validate() throws {
        if noHeader, column.flatMap({ Int($0) }) == nil {
            throw ValidationError("--no-header needs --column with a column number (there are no header names)")
        }
    }
}

/// Settings both institutions must agree on.
struct AgreementOptions: ParsableArguments {
    @Option(name: .long, help: "The purpose label both sides agreed on, e.g. \"2026 agent phone numbers\".")
    var purpose: String

    @Option(name: .long, help: "What each side learns: \(MutualPSIOutcome.allValueStrings.joined(separator: ", ")).")
    var outcome: MutualPSIOutcome = .bothLearn

    @Option(name: .long, help: "The suite both sides agreed on: ristretto255-sha512 (default) or x25519-ell2-sha512 (see Docs/threat-model.md for its speed and checks).",
            transform: PSISuite.parse)
    var suite: PSISuite = .ristretto255SHA512

    @Option(name: .customLong("max-peer-items"),
            help: "Refuse a peer set larger than this (default \(MutualPSIConfiguration.defaultMaximumPeerSetSize)): a peer listing every possible number would learn your whole list.")
    var maxPeerItems: Int = MutualPSIConfiguration.defaultMaximumPeerSetSize

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("work-dir"), help: "Folder for temporary files of large lists (default: the state file's folder).")
    var workDir: String?

    func validate() throws {
        if maxPeerItems < 1 { throw ValidationError("--max-peer-items must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func configuration() throws -> MutualPSIConfiguration {
        MutualPSIConfiguration(purpose: try PurposeLabel(purpose), outcome: outcome, suite: suite, maximumPeerSetSize: maxPeerItems,
                               parallelism: threads.map { Parallelism(threads: $0) } ?? .allCores,
                               progress: ProgressBar.handlerIfTerminal(),
                               streaming: StreamingOptions(workDirectory: workDir.map(url)))
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print a machine-readable JSON summary on standard output.")
    var json = false
}

func url(_ path: String) -> URL { URL(fileURLWithPath: path) }

/// Prints a JSON object with sorted keys on standard output.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// The library's streaming reader for the operator's list.
func listReader(_ options: InputOptions) -> IdentifierListReader {
    let format: IdentifierListReader.Format
    if let column = options.column, options.noHeader, let number = Int(column) {
        format = .csvWithoutHeader(column: number)
    } else if let column = options.column {
        format = .csv(column: Int(column).map { .number($0) } ?? .name(column))
    } else {
        format = .lines
    }
    return IdentifierListReader(url: url(options.input), format: format, kind: options.kind.kind,
                                policy: options.onInvalid == .stop ? .stop : .skip,
                                caseInsensitive: options.caseInsensitive)
}

/// Tells the operator what was read and what was skipped, and why (never the values).
func report(_ summary: ListSummary) {
    for invalid in summary.invalidRecords {
        note("line \(invalid.lineNumber): skipped: \(invalid.reason.localizedDescription)")
    }
    if summary.invalid > summary.invalidRecords.count {
        note("… and \(summary.invalid - summary.invalidRecords.count) more invalid values")
    }
    note("read \(summary.read) values: \(summary.valid) valid, \(summary.invalid) invalid, \(summary.duplicatesCollapsed) repeats collapsed, \(summary.blank) blank lines")
}

extension ListSummary {
    var json: [String: Any] {
        ["read": read, "valid": valid, "invalid": invalid, "blank": blank, "duplicates_collapsed": duplicatesCollapsed,
         "invalid_lines": invalidRecords.map { ["line": $0.lineNumber, "reason": $0.reason.localizedDescription] }]
    }
}

/// Delivers an intersection's matches: to `path` (CSV, mode 0600), into the JSON summary, or as
/// CSV on standard output.
func deliver(_ matches: [ListRecord], to path: String?, json: Bool, summary: inout [String: Any]) throws {
    if let path {
        try MutualPSIFileExchange.writeMatches(matches, to: url(path))
        summary["matches_file"] = path
    } else if json {
        summary["matches"] = matches.map {
            ["line": $0.lineNumber, "value": $0.original, "canonical": $0.identifier.canonical] as [String: Any]
        }
    } else {
        FileHandle.standardOutput.write(Data(MutualPSIFileExchange.matchesCSV(matches).utf8))
    }
}
