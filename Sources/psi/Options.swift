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

extension ListEncoding: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    public var defaultValueDescription: String { rawValue }
}

extension Delimiter: ExpressibleByArgument {
    /// A name (`comma`, `tab`, `semicolon`, `pipe`) or the character itself (`\t` for tab).
    public init?(argument: String) {
        switch argument {
        case "comma", ",": self = .comma
        case "tab", "\t", "\\t": self = .tab
        case "semicolon", ";": self = .semicolon
        case "pipe", "|": self = .pipe
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["comma", "tab", "semicolon", "pipe"] }
    public static var allValueDescriptions: [String: String] {
        ["comma": "',' (CSV; also written ',')", "tab": "a tab (TSV; also written \\t)",
         "semicolon": "';' (also written ';')", "pipe": "'|' (also written '|')"]
    }
    public var defaultValueDescription: String { "comma" }
}

extension InvalidValueLimit: ExpressibleByArgument {
    /// A count (`10`) or a percentage of the values read (`5%`, `0.5%`).
    public init?(argument: String) {
        if argument.hasSuffix("%") {
            guard let percent = Double(argument.dropLast()), percent.isFinite, (0...100).contains(percent) else { return nil }
            self = .fraction(percent / 100)
        } else {
            guard let count = Int(argument), count >= 0 else { return nil }
            self = .count(count)
        }
    }
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

    @Option(name: .customLong("max-invalid"),
            help: "Refuse the list if more values than this are invalid: a count (0: none) or a percentage of the values read (5%). Default: any number, as long as one value is valid.")
    var maxInvalid: InvalidValueLimit?

    @Option(name: .long, help: "Write every invalid row (line, reason, value, whole record) to this CSV file, mode 0600: it holds your raw values.")
    var rejects: String?

    @Flag(name: .customLong("case-insensitive"), help: "Case-fold plain identifiers before matching (upper- then lower-case mapping; both sides must agree).")
    var caseInsensitive = false

    // Not `--encoding`: `psi hub setup` already has one (tags or bloom) for what it writes.
    @Option(name: .customLong("input-encoding"),
            help: "The input's character encoding (GBK exports are read as gb18030; utf-16: by the byte-order mark, else little-endian).")
    var encoding: ListEncoding = .utf8

    @Option(name: .long, help: "The character between CSV fields (needs --column; default: comma).")
    var delimiter: Delimiter?

    func validate() throws {
        if noHeader, column.flatMap({ Int($0) }) == nil {
            throw ValidationError("--no-header needs --column with a column number (there are no header names)")
        }
        if delimiter != nil, column == nil {
            throw ValidationError("--delimiter needs --column: without it every line is one value")
        }
        if let column, let number = Int(column), number < 1 {
            throw ValidationError("--column \(number): column numbers start at 1")
        }
    }

    /// The files these options name, for ``requireDistinctPaths(_:)``.
    var paths: [(option: String, path: String?)] { [("--input", input), ("--rejects", rejects)] }
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
        try validatePurpose(purpose)
        if maxPeerItems < 1 { throw ValidationError("--max-peer-items must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func configuration(parties: MutualPartyOptions, identifierType: IdentifierType) throws -> MutualPSIConfiguration {
        let purpose = try PurposeLabel(self.purpose)
        let (identity, peer) = try parties.load(for: purpose)
        return MutualPSIConfiguration(purpose: purpose, outcome: outcome, identity: identity, peer: peer,
                               identifierType: identifierType, suite: suite, maximumPeerSetSize: maxPeerItems,
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

/// Refuses a `--purpose` the library would refuse (empty, too long), before any file is read.
func validatePurpose(_ purpose: String) throws {
    do { _ = try PurposeLabel(purpose) } catch {
        throw ValidationError("--purpose: \(error.localizedDescription)")
    }
}

/// Refuses two options of one command that name the same file (after symbolic and hard
/// links), before any file is read or written: an output must never overwrite another output
/// or an input of the same step (the state under the name of the message to send, say).
func requireDistinctPaths(_ options: [(option: String, path: String?)]) throws {
    do { try FilePaths.requireDistinct(options.map { ($0.option, $0.path.map(url)) }) } catch {
        throw ValidationError(error.localizedDescription)
    }
}

/// Writes to standard output, reporting a failure (a full disk under `> file`) as an I/O error
/// (exit 74) instead of trapping as `FileHandle.write` does.
func writeStandardOutput(_ data: Data) throws {
    try data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputFileError.writeFailed(path: "standard output", reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}

/// Prints a JSON object with sorted keys on standard output.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    try writeStandardOutput(data + Data("\n".utf8))
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
                                caseInsensitive: options.caseInsensitive, delimiter: options.delimiter ?? .comma,
                                encoding: options.encoding, invalidLimit: options.maxInvalid,
                                rejectsURL: options.rejects.map(url))
}

/// Tells the operator what was read and what was skipped, and why (never the values).
func report(_ summary: ListSummary, _ options: InputOptions) {
    for invalid in summary.invalidRecords {
        note("line \(invalid.lineNumber): skipped: \(invalid.reason.localizedDescription)")
    }
    if summary.invalid > summary.invalidRecords.count {
        note("… and \(summary.invalid - summary.invalidRecords.count) more invalid values")
    }
    note("read \(summary.read) values: \(summary.valid) valid, \(summary.invalid) invalid, \(summary.duplicatesCollapsed) repeats collapsed, \(summary.blank) blank lines")
    if let rejects = options.rejects { note("wrote \(summary.invalid) invalid rows to \(rejects)") }
}

extension ListSummary {
    var json: [String: Any] {
        ["read": read, "valid": valid, "invalid": invalid, "blank": blank, "duplicates_collapsed": duplicatesCollapsed,
         "invalid_lines": invalidRecords.map { ["line": $0.lineNumber, "reason": $0.reason.localizedDescription] }]
    }
}

/// Delivers an intersection's matches: to `path` (CSV, mode 0600), into the JSON summary, or as
/// CSV on standard output.
/// With labels (a labeled hub setup), each match also carries its label's fields as columns.
func deliver(_ matches: [ListRecord], labels: [SetupLabel] = [], to path: String?, json: Bool, summary: inout [String: Any]) throws {
    let columns = labels.isEmpty ? [] : SetupLabel.csvHeader
    let fields = labels.map(\.csvFields)
    if let path {
        try MutualPSIFileExchange.writeMatches(matches, extraColumns: columns, extraFields: fields, to: url(path))
        summary["matches_file"] = path
    } else if json {
        summary["matches"] = matches.enumerated().map { index, match in
            var entry: [String: Any] = ["line": match.lineNumber, "value": match.original, "canonical": match.identifier.canonical]
            if !labels.isEmpty { for (name, value) in zip(columns, fields[index]) { entry[name] = value } }
            return entry
        }
    } else {
        try writeStandardOutput(Data(MutualPSIFileExchange.matchesCSV(matches, extraColumns: columns, extraFields: fields).utf8))
    }
}
