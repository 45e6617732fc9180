import Foundation

/// Writing RFC 4180 fields and rows, for the CSV files made from an operator's list.
enum CSVText {
    /// `text` as one field: quoted, with each `"` doubled, when it holds the delimiter, a quote
    /// or a line break; as it is otherwise.
    static func field(_ text: String, delimiter: UInt8 = 0x2C) -> String {
        guard text.utf8.contains(where: { $0 == delimiter || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One comma-separated row ending in CR LF.
    static func row(_ fields: [String]) -> String {
        fields.map { field($0) }.joined(separator: ",") + "\r\n"
    }
}

/// The rejects file: every invalid record of a list, as the CSV rows
/// `line,reason,value,record` (the value at the chosen column, empty when the record has none;
/// the whole record re-joined with the list's delimiter), in UTF-8 whatever the list's encoding.
/// It holds the operator's raw values, so it is created with mode 0600, and written under a
/// temporary name until ``commit()``.
final class RejectsFile {
    private let file: AtomicFile

    /// Creates the file, refusing the path of the list being read (`inputURL`), which it would replace.
    ///
    /// - Throws: ``OutputFileError/samePath(path:first:second:)``, or what creating the file throws.
    init(url: URL, inputURL: URL) throws {
        try FilePaths.requireDistinct([("the list", inputURL), ("the rejects file", url)])
        file = try AtomicFile(path: url.path, mode: 0o600)
        try file.write(Array(CSVText.row(["line", "reason", "value", "record"]).utf8))
    }

    /// Appends one rejected record; `delimiter` is the list's (nil for one value a line).
    func write(_ record: RejectedRecord, delimiter: UInt8?) throws {
        let whole: String
        if let delimiter {
            whole = record.fields.map { CSVText.field($0, delimiter: delimiter) }
                .joined(separator: String(UnicodeScalar(delimiter)))
        } else {
            whole = record.fields.first ?? ""
        }
        let row = CSVText.row([String(record.lineNumber), record.reason.localizedDescription, record.value ?? "", whole])
        try file.write(Array(row.utf8))
    }

    /// Syncs the file and renames it over the final name.
    func commit() throws { try file.commit() }
}

extension IdentifierListReader {
    /// Reads the list as ``forEach(_:rejected:)`` does and passes `write` CSV text, in pieces of
    /// about 64 KiB: a header `line,value,canonical,error` (once a value is read), then one row for each value in file
    /// order, with its canonical form or the reason it is invalid. The rows hold raw values, for
    /// the operator's eyes (`psi canonicalize`).
    ///
    /// - Throws: as ``forEach(_:)``, after writing the rows read before the error.
    @discardableResult
    public func writeCanonicalForms(_ write: (String) throws -> Void) throws -> ListSummary {
        var buffer = ""
        var rows = 0
        func append(_ fields: [String]) throws {
            if rows == 0 { buffer = CSVText.row(["line", "value", "canonical", "error"]) }
            rows += 1
            buffer += CSVText.row(fields)
            if buffer.utf8.count >= 1 << 16 { try write(buffer); buffer = "" }
        }
        let summary: ListSummary
        do {
            summary = try forEach({ record in
                try append([String(record.lineNumber), record.original, record.identifier.canonical, ""])
            }, rejected: { rejected in
                try append([String(rejected.lineNumber), rejected.value ?? "", "", rejected.reason.localizedDescription])
            })
        } catch {
            if !buffer.isEmpty { try write(buffer) }
            throw error
        }
        if !buffer.isEmpty { try write(buffer) }
        return summary
    }
}
