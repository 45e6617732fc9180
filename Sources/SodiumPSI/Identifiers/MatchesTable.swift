public import Foundation

/// The matches file an analyst joins back to the case system: one row for every row of the
/// operator's list whose value matched (three cases sharing one number give three rows), with
/// the line, the column the value was read from, the value as written, its canonical form, and
/// the row's other columns (all, or those kept).
///
/// Columns, in order (Docs/file-format.md, "Matches file"): ``leadingColumns``, then the kept
/// columns of the list, named as in its header (`column_N` for a column beyond the header or a
/// list without one; a name equal to a leading column is prefixed with `input.`). Rows are in
/// file order (by line, then by the order of the identifier columns). Written as RFC 4180 CSV,
/// UTF-8, CR LF, with mode 0600: it holds the operator's raw data.
///
/// Other steps add columns of their own (labels of a hub's matches, say) with
/// ``addColumns(_:cells:)``.
public struct MatchesTable: Sendable, Equatable {
    /// The columns every matches table starts with.
    public static let leadingColumns = ["line", "column", "value", "canonical"]

    /// The column names.
    public private(set) var columns: [String]
    /// The rows, each with one cell a column.
    public private(set) var rows: [[String]]

    /// A table with these columns and rows.
    ///
    /// - Precondition: every row has one cell a column.
    public init(columns: [String], rows: [[String]] = []) {
        precondition(rows.allSatisfy { $0.count == columns.count }, "a row must have one cell a column")
        self.columns = columns
        self.rows = rows
    }

    /// One row a match, from the records an exchange kept (the first row of each matched value)
    /// and no other column: the table when the list is not read again.
    ///
    /// - Parameters:
    ///   - records: the matches, as ``MutualPSIFileExchange/Outcome/matches`` gives them.
    ///   - column: the identifier column as the operator named it (empty for one value a line).
    public init(records: [ListRecord], column: String = "") {
        self.init(columns: Self.leadingColumns,
                  rows: records.map { [String($0.lineNumber), column, $0.original, $0.identifier.canonical] })
    }

    /// Appends columns computed from each row's cells (in the order of ``columns``).
    ///
    /// - Precondition: `cells` returns one cell for each name.
    public mutating func addColumns(_ names: [String], cells: ([String]) throws -> [String]) rethrows {
        rows = try rows.map { row in
            let added = try cells(row)
            precondition(added.count == names.count, "one cell for each added column")
            return row + added
        }
        columns += names
    }

    /// The table as CSV: the column names, then the rows (RFC 4180 quoting, CR LF).
    public var csv: String {
        rows.reduce(into: CSVText.row(columns)) { $0 += CSVText.row($1) }
    }

    /// Writes ``csv`` atomically with mode 0600 (the matches are confidential).
    ///
    /// - Throws: ``OutputFileError`` when the file cannot be created or written.
    public func write(to url: URL) throws {
        try SecretFile.write(Array(csv.utf8), to: url)
    }

    /// Writes the result of a cardinality-only exchange as CSV, `column,intersection_size` and a
    /// row for each identifier column (its name as the operator gave it, empty for one value a
    /// line), atomically with mode 0600, so that an output option always says what it learned.
    ///
    /// - Throws: ``OutputFileError`` when the file cannot be created or written.
    public static func writeCounts(_ counts: [(column: String, count: Int)], to url: URL) throws {
        let csv = counts.reduce(into: CSVText.row(["column", "intersection_size"])) { $0 += CSVText.row([$1.column, String($1.count)]) }
        try SecretFile.write(Array(csv.utf8), to: url)
    }

    /// One identifier column's matches over a list: what ``init(joining:keep:)`` joins.
    public struct Part: Sendable {
        /// The list, read as it was when its values were blinded.
        public let list: IdentifierListReader
        /// The column as the operator named it (empty for one value a line).
        public let column: String
        /// The first record of each matched value, as the exchange's state kept it.
        public let matches: [ListRecord]

        /// A part.
        ///
        /// - Parameters: see the properties.
        public init(list: IdentifierListReader, column: String, matches: [ListRecord]) {
            self.list = list
            self.column = column
            self.matches = matches
        }
    }

    /// Reads each part's list again (streamed: only matched rows are kept) and writes a row for
    /// every row whose value matched, with the columns `keep` names (nil: every column; ignored
    /// for lists of one value a line, whose only column is the value). The parts are identifier
    /// columns of one list file: its header names the kept columns.
    ///
    /// The re-read list must be the one the exchange was made from: the first row of each
    /// matched value must be the row the exchange kept, or the join is refused.
    ///
    /// - Throws: ``IdentifierListError/listChanged(path:expectedLine:foundLine:)``, the
    ///   reader's errors, and for a kept column that the header lacks
    ///   ``IdentifierListError/columnNotFound(path:name:found:headerFields:)`` or
    ///   ``IdentifierListError/columnOutOfRange(path:column:headerFields:)``.
    public init(joining parts: [Part], keep: [IdentifierListReader.Column]? = nil) throws {
        var header: [String]?
        var found = [(line: Int, part: Int, row: ListRow)]()
        for (index, part) in parts.enumerated() {
            let expected = Dictionary(part.matches.map { ($0.identifier, $0.lineNumber) }, uniquingKeysWith: min)
            var firstLine = [Identifier: Int]()
            _ = try part.list.forEachRow(header: { if header == nil { header = $0 } },
                                         where: { expected[$0.identifier] != nil }) { row in
                if firstLine[row.record.identifier] == nil {
                    firstLine[row.record.identifier] = row.record.lineNumber
                    let wanted = expected[row.record.identifier]!
                    guard wanted == row.record.lineNumber else {
                        throw IdentifierListError.listChanged(path: part.list.url.path, expectedLine: wanted,
                                                              foundLine: row.record.lineNumber)
                    }
                }
                found.append((row.record.lineNumber, index, row))
            }
            if let missing = expected.filter({ firstLine[$0.key] == nil }).values.min() {
                throw IdentifierListError.listChanged(path: part.list.url.path, expectedLine: missing, foundLine: nil)
            }
        }
        let columns: [(name: String, index: Int)]
        if parts.allSatisfy({ $0.list.format == .lines }) {
            columns = []
        } else if let keep {
            let resolver = parts.first!.list
            columns = try keep.map { wanted in
                let index: Int
                switch (header, wanted) {
                case (let names?, _): index = try resolver.headerColumn(names, wanted)
                case (nil, .number(let n)) where n >= 1: index = n - 1
                case (nil, .number(let n)): throw IdentifierListError.invalidColumnNumber(path: resolver.url.path, column: n)
                case (nil, .name(let name)):
                    throw IdentifierListError.columnNotFound(path: resolver.url.path, name: name, found: [], headerFields: 0)
                }
                return (Self.columnName(index, header: header), index)
            }
        } else {
            let width = max(header?.count ?? 0, found.map(\.row.fields.count).max() ?? 0)
            columns = (0..<width).map { (Self.columnName($0, header: header), $0) }
        }
        found.sort { ($0.line, $0.part) < ($1.line, $1.part) }
        self.init(columns: Self.leadingColumns + columns.map(\.name), rows: found.map { entry in
            let record = entry.row.record, fields = entry.row.fields
            return [String(record.lineNumber), parts[entry.part].column, record.original, record.identifier.canonical]
                + columns.map { $0.index < fields.count ? fields[$0.index] : "" }
        })
    }

    /// A kept column's name: its header field (prefixed `input.` when it would read as a leading
    /// column), or `column_N` (1-based) beyond the header or without one.
    private static func columnName(_ index: Int, header: [String]?) -> String {
        guard let header, index < header.count else { return "column_\(index + 1)" }
        return leadingColumns.contains(header[index]) ? "input." + header[index] : header[index]
    }
}
