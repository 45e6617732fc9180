public import ArgumentParser
import Foundation
public import SodiumPSI

/// The mutual `--outcome`: a string-valued enum, so that the help shows the default by name
/// (ArgumentParser prints a case-iterable enum's raw value, and ``MutualPSIOutcome``'s raw
/// values are the header's mode bytes).
enum OutcomeOption: String, ExpressibleByArgument, CaseIterable {
    case bothLearn = "both-learn"
    case initiatorLearns = "initiator-learns"
    case cardinalityOnly = "cardinality-only"

    static var allValueDescriptions: [String: String] {
        [bothLearn.rawValue: "both sides learn the matches",
         initiatorLearns.rawValue: "only the initiator learns them (no step 3)",
         cardinalityOnly.rawValue: "both learn only how many"]
    }

    var outcome: MutualPSIOutcome {
        switch self {
        case .bothLearn: return .bothLearn
        case .initiatorLearns: return .initiatorLearns
        case .cardinalityOnly: return .cardinalityOnly
        }
    }
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

/// One `--column` value: a header name or a 1-based number, optionally followed by `:KIND`
/// (`agent_phone:phone`), which reads that column as its own identifier type.
struct ColumnSpec: ExpressibleByArgument {
    /// The column as written, without its kind.
    let text: String
    /// The kind given after the last colon, if it names one.
    let kind: KindOption?

    init?(argument: String) {
        if let colon = argument.lastIndex(of: ":"), let kind = KindOption(rawValue: String(argument[argument.index(after: colon)...])) {
            text = String(argument[..<colon])
            self.kind = kind
        } else {
            text = argument
            kind = nil
        }
        guard !text.isEmpty else { return nil }
    }

    /// The reader's column: a number when the text is one, a header name otherwise.
    var column: IdentifierListReader.Column { Int(text).map { .number($0) } ?? .name(text) }
}

/// One identifier column of a run. Each is matched as its own exchange (own session, state,
/// messages and receipt, its identifier type in every header); with several, each file of the
/// exchange is named with the column's kind (`a.state` → `a.phone.state`).
struct IdentifierColumn {
    /// The column as the operator named it (the matches file's `column`); empty for one value a line.
    let name: String
    /// The reader's column; nil for one value a line.
    let column: IdentifierListReader.Column?
    let kind: KindOption
    let identifierType: IdentifierType
    /// Set when the run has several columns: the tag inserted into each of this column's file names.
    let fileTag: String?

    /// `path` for this column's exchange: `a.state` → `a.phone.state` when the run has several
    /// columns, `path` itself otherwise.
    func path(_ path: String) -> String {
        guard let fileTag else { return path }
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let ext = (name as NSString).pathExtension
        let base = ext.isEmpty ? name : (name as NSString).deletingPathExtension
        let tagged = ext.isEmpty ? "\(base).\(fileTag)" : "\(base).\(fileTag).\(ext)"
        return folder.isEmpty ? tagged : (folder as NSString).appendingPathComponent(tagged)
    }

    func path(_ path: String?) -> String? { path.map { self.path($0) } }

    /// How the summary names this column: `agent_phone (phone numbers)`.
    var label: String { name.isEmpty ? identifierType.description : "\(name) (\(identifierType.description))" }
}

/// How the operator's list is laid out and what its values are: the same for every step that
/// reads it (and for `psi finish`, which reads it again to join the matches).
struct ListFormatOptions: ParsableArguments {
    @Option(name: .long, help: "What the values are: phone (mainland and E.164 numbers), document (SHA-256 hex digests), plain. Needed unless every --column names its kind.")
    var kind: KindOption?

    @Option(name: .long, help: ArgumentHelp(
        "Read the input as CSV and take this column: a header name or a 1-based number, optionally with its kind (agent_phone:phone).",
        discussion: "Repeat it for several identifier columns (--column agent_phone:phone --column doc_hash:document): each column is matched as its own exchange, of its own kind (one column a kind), and every file of that exchange is named with the kind (a.state becomes a.phone.state and a.document.state; the peer's columns are paired by kind). The first line is the header unless --no-header.",
        valueName: "name[:kind]"))
    var column: [ColumnSpec] = []

    @Flag(name: .customLong("no-header"), help: "The CSV has no header line: every line is data (needs numeric --column values).")
    var noHeader = false

    @Flag(name: .customLong("case-insensitive"), help: "Case-fold plain identifiers before matching (upper- then lower-case mapping; both sides must agree).")
    var caseInsensitive = false

    // Not `--encoding`: `psi hub setup` already has one (tags or bloom) for what it writes.
    @Option(name: .customLong("input-encoding"),
            help: "The input's character encoding (GBK exports are read as gb18030; utf-16: by the byte-order mark, else little-endian).")
    var encoding: ListEncoding = .utf8

    @Option(name: .long, help: "The character between CSV fields (needs --column).")
    var delimiter: Delimiter?

    func validate() throws {
        if noHeader, column.isEmpty || column.contains(where: { Int($0.text) == nil }) {
            throw ValidationError("--no-header needs --column with a column number (there are no header names)")
        }
        if delimiter != nil, column.isEmpty {
            throw ValidationError("--delimiter needs --column: without it every line is one value")
        }
        for spec in column {
            if let number = Int(spec.text), number < 1 { throw ValidationError("--column \(number): column numbers start at 1") }
            if spec.kind == nil, kind == nil {
                throw ValidationError("--column \(spec.text): give its kind (--column \(spec.text):phone) or --kind")
            }
        }
        var seen = Set<String>()
        for type in columns.map(\.identifierType) where !seen.insert(type.description).inserted {
            throw ValidationError("two --column values are \(type): each kind once in a run (run another exchange, under its own --purpose, for a second column of the same kind)")
        }
    }

    /// The identifier columns of the run (one, without --column), each with its type.
    var columns: [IdentifierColumn] {
        func type(_ kind: KindOption) -> IdentifierType { IdentifierType(kind: kind.kind, caseInsensitive: caseInsensitive) }
        guard !column.isEmpty else {
            let kind = self.kind ?? .plain
            return [IdentifierColumn(name: "", column: nil, kind: kind, identifierType: type(kind), fileTag: nil)]
        }
        let several = column.count > 1
        return column.map { spec in
            let kind = spec.kind ?? self.kind ?? .plain
            return IdentifierColumn(name: spec.text, column: spec.column, kind: kind, identifierType: type(kind),
                                    fileTag: several ? kind.rawValue : nil)
        }
    }

    /// Refuses a list whose kind is not given, neither by --kind nor by each --column.
    func requireKind() throws {
        if column.isEmpty, kind == nil { throw ValidationError("Missing expected argument '--kind <kind>' (what the values are: phone, document, plain)") }
    }

    /// Refuses several columns in a step whose message holds one identifier type.
    func requireOneColumn(_ why: String) throws {
        if column.count > 1 { throw ValidationError("one --column at a time: \(why)") }
    }

    /// The library's streaming reader for one identifier column of `input`.
    func reader(_ input: String, _ column: IdentifierColumn, policy: IdentifierListReader.InvalidValuePolicy = .skip,
                invalidLimit: InvalidValueLimit? = nil, rejects: String? = nil) -> IdentifierListReader {
        let format: IdentifierListReader.Format
        switch column.column {
        case .number(let n)? where noHeader: format = .csvWithoutHeader(column: n)
        case let wanted?: format = .csv(column: wanted)
        case nil: format = .lines
        }
        return IdentifierListReader(url: url(input), format: format, kind: column.kind.kind, policy: policy,
                                    caseInsensitive: caseInsensitive, delimiter: delimiter ?? .comma, encoding: encoding,
                                    invalidLimit: invalidLimit, rejectsURL: rejects.map(url))
    }
}

/// Where the operator's list comes from and how to read it.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: "The list to match: one value a line, or CSV with --column.")
    var input: String

    @OptionGroup var format: ListFormatOptions

    @Option(name: .customLong("on-invalid"), help: "skip: report invalid values and go on; stop: fail at the first.")
    var onInvalid: InvalidPolicyOption = .skip

    @Option(name: .customLong("max-invalid"),
            help: "Refuse the list if more values than this are invalid: a count (0: none) or a percentage of the values read (5%). Default: any number, as long as one value is valid.")
    var maxInvalid: InvalidValueLimit?

    @Option(name: .long, help: "Write every invalid row (line, reason, value, whole record) to this CSV file, mode 0600: it holds your raw values (one file a column: rejects.phone.csv).")
    var rejects: String?

    var columns: [IdentifierColumn] { format.columns }

    /// The files these options name (a rejects file a column), for ``requireDistinctPaths(_:)``.
    var paths: [(option: String, path: String?)] { [("--input", input)] + columns.map { ("--rejects", $0.path(rejects)) } }

    /// The streaming reader for one identifier column.
    func reader(_ column: IdentifierColumn) -> IdentifierListReader {
        format.reader(input, column, policy: onInvalid == .stop ? .stop : .skip, invalidLimit: maxInvalid,
                      rejects: column.path(rejects))
    }
}

/// Worker threads, declared and checked once for every step that uses them.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    var parallelism: Parallelism { threads.map { Parallelism(threads: $0) } ?? .allCores }
}

/// Where the mutual steps put temporary files of large sets.
struct WorkDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("work-dir"), help: "Folder for temporary files of large sets (default: the state file's folder).")
    var workDir: String?

    var streaming: StreamingOptions { StreamingOptions(workDirectory: workDir.map(url)) }
}

extension PurposeLabel {
    /// `--purpose`, checked and put in NFC by the library, as ArgumentParser parses it: a label
    /// the library refuses is a usage error (64) before any file is read.
    static func argument(_ text: String) throws -> PurposeLabel {
        do { return try PurposeLabel(text) } catch { throw ValidationError(error.localizedDescription) }
    }
}

/// The purpose label, which every step of an exchange names.
struct PurposeOptions: ParsableArguments {
    @Option(name: .long, help: "The purpose label both sides agreed on, e.g. \"2026 agent phone numbers\" (compared after Unicode NFC; full-width and ASCII punctuation differ).",
            transform: PurposeLabel.argument)
    var purpose: PurposeLabel
}

/// Settings both institutions must agree on.
struct AgreementOptions: ParsableArguments {
    @OptionGroup var purposeOption: PurposeOptions

    @Option(name: .long, help: "What each side learns.")
    var outcome: OutcomeOption = .bothLearn

    @Option(name: .long, help: "The suite both sides agreed on (x25519-ell2-sha512: see Docs/threat-model.md for its speed and checks).",
            transform: PSISuite.parse)
    var suite: PSISuite = .ristretto255SHA512

    @Option(name: .customLong("max-peer-items"),
            help: "Refuse a peer set larger than this: a peer listing every possible number would learn your whole list.")
    var maxPeerItems: Int = MutualPSIConfiguration.defaultMaximumPeerSetSize

    @OptionGroup var threads: ThreadOptions
    @OptionGroup var workDirectory: WorkDirectoryOptions

    var purpose: PurposeLabel { purposeOption.purpose }

    func validate() throws {
        if maxPeerItems < 1 { throw ValidationError("--max-peer-items must be at least 1") }
    }

    func configuration(parties: MutualPartyOptions, identifierType: IdentifierType) throws -> MutualPSIConfiguration {
        let (identity, peer) = try parties.load(for: purpose)
        return MutualPSIConfiguration(purpose: purpose, outcome: outcome.outcome, identity: identity, peer: peer,
                                      identifierType: identifierType, suite: suite, maximumPeerSetSize: maxPeerItems,
                                      parallelism: threads.parallelism, progress: ProgressBar.handlerIfTerminal(),
                                      streaming: workDirectory.streaming)
    }
}

func url(_ path: String) -> URL { URL(fileURLWithPath: path) }

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
    ProgressBar.clearLine()
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

