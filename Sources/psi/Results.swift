import ArgumentParser
import Foundation
import SodiumPSI

/// The tool's version, printed by `psi --version` and in every `--json` summary.
enum ToolVersion {
    static let current = "0.3.0"
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print a machine-readable JSON summary on standard output (with the tool version, start and end times, and the SHA-256 of every file read and written).")
    var json = false
}

/// A step's `--json` summary: the step's own fields, plus the tool version, when the step
/// started and ended, and the SHA-256 and size of every file it read (hashed before the step
/// ran) and wrote (hashed after).
struct StepSummary {
    let json: Bool
    let startedAt = Date()
    private var files: [[String: Any]] = []

    /// Starts a step, hashing its input files now (missing ones are left to the step to report).
    init(json: Bool, inputs: [(option: String, path: String?)]) {
        self.json = json
        if json { files = inputs.compactMap { Self.entry($0.option, $0.path, role: "input") } }
    }

    /// Prints `fields` with the common ones, hashing `outputs` (those that exist) now.
    func print(_ fields: [String: Any], outputs: [(option: String, path: String?)]) throws {
        guard json else { return }
        var all = fields
        all["psi_version"] = ToolVersion.current
        all["started_at"] = RunReceipt.timestamp(startedAt)
        all["finished_at"] = RunReceipt.timestamp(Date())
        all["files"] = files + outputs.compactMap { Self.entry($0.option, $0.path, role: "output") }
        try printJSON(all)
    }

    private static func entry(_ option: String, _ path: String?, role: String) -> [String: Any]? {
        guard let path, let digest = try? fileSHA256(url(path)),
              let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else { return nil }
        return ["option": option, "path": path, "role": role, "sha256": digest.map { String(format: "%02x", $0) }.joined(),
                "bytes": size]
    }
}

/// Prints a JSON object with sorted keys on standard output.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    try writeStandardOutput(data + Data("\n".utf8))
}

/// Tells the operator what was read and what was skipped, and why (never the values).
func report(_ summary: ListSummary, _ options: InputOptions, _ column: IdentifierColumn) {
    let prefix = column.fileTag == nil ? "" : "\(column.label): "
    for invalid in summary.invalidRecords {
        note("\(prefix)line \(invalid.lineNumber): skipped: \(invalid.reason.localizedDescription)")
    }
    if summary.invalid > summary.invalidRecords.count {
        note("\(prefix)… and \(summary.invalid - summary.invalidRecords.count) more invalid values")
    }
    note("\(prefix)read \(summary.read) values: \(summary.valid) valid, \(summary.invalid) invalid, \(summary.duplicatesCollapsed) repeats collapsed, \(summary.blank) blank lines")
    if let rejects = column.path(options.rejects) { note("\(prefix)wrote \(summary.invalid) invalid rows to \(rejects)") }
}

extension ListSummary {
    var json: [String: Any] {
        ["read": read, "valid": valid, "invalid": invalid, "blank": blank, "duplicates_collapsed": duplicatesCollapsed,
         "invalid_lines": invalidRecords.map { ["line": $0.lineNumber, "reason": $0.reason.localizedDescription] }]
    }
}

/// One summary for a run of one column (its fields at the top level), or several (each
/// column's under `columns`, with its name and kind).
func combined(_ step: String, _ parts: [(column: IdentifierColumn, fields: [String: Any])]) -> [String: Any] {
    if parts.count == 1, parts[0].column.fileTag == nil { return parts[0].fields.merging(["step": step]) { $1 } }
    return ["step": step, "columns": parts.map { part in
        part.fields.merging(["column": part.column.name, "kind": part.column.kind.rawValue]) { $1 }
    }]
}

/// Where a finishing step writes what it learned: the result file and the list's columns kept
/// beside each match (`psi finish`, `psi member finish`, and `psi exchange`, which joins the
/// matches with its own `--input`).
struct MatchesFileOptions: ParsableArguments {
    @Option(name: .long, help: "Where to write the result (CSV, mode 0600): the matches, or for cardinality-only the count. Without it, it goes to standard output.")
    var out: String?

    // The spelling before 0.3.
    @Option(name: .customLong("output"), help: .private)
    var legacyOutput: String?

    @Option(name: .long, help: "With --input: the list's columns to write beside each match (names or numbers, comma-separated or repeated; default: every column).")
    var keep: [String] = []

    /// The result file, by its name or its old spelling.
    var path: String? { out ?? legacyOutput }

    func validate() throws {
        if out != nil, legacyOutput != nil { throw ValidationError("--out and --output name the same option; give one") }
    }

    /// The kept columns, or nil for every column.
    var keptColumns: [IdentifierListReader.Column]? {
        let names = keep.flatMap { $0.split(separator: ",", omittingEmptySubsequences: true).map(String.init) }
        return names.isEmpty ? nil : names.map { Int($0).map { .number($0) } ?? .name($0) }
    }
}

/// Where a finishing step writes what it learned, and the list its matches are joined back to.
struct ResultOptions: ParsableArguments {
    @OptionGroup var file: MatchesFileOptions

    @Option(name: .long, help: "The list the exchange was made from, read again (with the same --column, --kind and reading options) to write every row of each matched value with its columns.")
    var input: String?

    var path: String? { file.path }

    func validate() throws {
        if !file.keep.isEmpty, input == nil { throw ValidationError("--keep needs --input: the columns are read from the list") }
    }
}

/// Writes an intersection's matches (every column's, one table): joined with the list's rows
/// when `--input` is given, else one row a matched value from the state; to `--out` (CSV, mode
/// 0600), into the JSON summary, or as CSV on standard output.
///
/// With `labels` (an unbalanced query of a labeled setup, by canonical form), every row also
/// carries its match's label fields (``SetupLabel/csvHeader``).
func deliver(_ parts: [(column: IdentifierColumn, matches: [ListRecord])], _ options: MatchesFileOptions, joining input: String?,
             format: ListFormatOptions, json: Bool, summary: inout [String: Any], labels: [String: SetupLabel] = [:]) throws {
    var table: MatchesTable
    if let input {
        table = try MatchesTable(joining: parts.map { MatchesTable.Part(list: format.reader(input, $0.column), column: $0.column.name,
                                                                         matches: $0.matches) },
                                 keep: options.keptColumns)
    } else {
        let rows = parts.flatMap { MatchesTable(records: $0.matches, column: $0.column.name).rows }
        table = MatchesTable(columns: MatchesTable.leadingColumns, rows: rows.sorted { Int($0[0])! < Int($1[0])! })
        if !rows.isEmpty { note("one row a matched value (its first line); give --input and the list's options to write every row with its columns") }
    }
    if !labels.isEmpty {
        let canonical = table.columns.firstIndex(of: "canonical")!
        table.addColumns(SetupLabel.csvHeader) { row in labels[row[canonical]]?.csvFields ?? SetupLabel.csvHeader.map { _ in "" } }
    }
    summary["matched_rows"] = table.rows.count
    if let path = options.path {
        try table.write(to: url(path))
        note("wrote \(table.rows.count) rows of matches to \(path)")
        summary["matches_file"] = path
    } else if json {
        summary["matches"] = table.rows.map { row in
            Dictionary(uniqueKeysWithValues: zip(table.columns, row).map { name, cell -> (String, Any) in
                name == "line" ? (name, Int(cell)!) : (name, cell)
            })
        }
    } else {
        try writeStandardOutput(Data(table.csv.utf8))
    }
}

/// Writes a cardinality-only result (every column's count): to `--out`, or on standard output
/// (not with `--json`, whose summary carries it).
func deliverCounts(_ counts: [(column: IdentifierColumn, count: Int)], _ options: MatchesFileOptions, json: Bool,
                   summary: inout [String: Any]) throws {
    if let path = options.path {
        try MatchesTable.writeCounts(counts.map { ($0.column.name, $0.count) }, to: url(path))
        note("wrote the count\(counts.count == 1 ? "" : "s") (\(counts.map { String($0.count) }.joined(separator: ", "))) to \(path); which items match is not revealed")
        summary["count_file"] = path
    } else if !json {
        let lines = counts.map { counts.count == 1 ? "\($0.count)\n" : "\($0.column.name): \($0.count)\n" }
        try writeStandardOutput(Data(lines.joined().utf8))
    }
}
