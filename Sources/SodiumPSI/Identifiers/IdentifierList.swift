public import Foundation

extension Identifier {
    /// Parses `text` as a value of `kind` (for document fingerprints, a hex digest).
    public static func parse(_ text: String, as kind: Kind, caseInsensitive: Bool = false) throws -> Identifier {
        switch kind {
        case .phoneNumber: return try phoneNumber(text)
        case .documentFingerprint: return try documentFingerprint(hexDigest: text)
        case .plain: return try plain(text, caseInsensitive: caseInsensitive)
        }
    }
}

/// One value of an operator's list: the identifier and how the operator wrote it.
public struct ListRecord: Sendable, Equatable, Codable {
    /// The canonical identifier.
    public let identifier: Identifier
    /// The field exactly as it appeared in the input.
    public let original: String
    /// The physical line the record starts on (1-based).
    public let lineNumber: Int

    /// Creates a record.
    ///
    /// - Parameters: see the properties.
    public init(identifier: Identifier, original: String, lineNumber: Int) {
        self.identifier = identifier
        self.original = original
        self.lineNumber = lineNumber
    }
}

/// A value that could not be parsed: where, and why (never the value itself).
public struct InvalidRecord: Sendable, Equatable {
    /// The line the record starts on.
    public let lineNumber: Int
    /// Why it is invalid.
    public let reason: IdentifierError
}

/// Counts for one pass over a list. Nothing is dropped without being counted here.
public struct ListSummary: Sendable, Equatable {
    /// The most invalid records kept in ``invalidRecords`` (the count stays exact).
    public static let invalidRecordsKept = 1_000

    /// Records read (blank ones excluded, the CSV header excluded).
    public internal(set) var read = 0
    /// Records that parsed.
    public internal(set) var valid = 0
    /// Records that did not parse.
    public internal(set) var invalid = 0
    /// Blank lines or records skipped.
    public internal(set) var blank = 0
    /// Valid records dropped because an earlier record had the same identifier (``IdentifierListReader/readAll()``).
    public internal(set) var duplicatesCollapsed = 0
    /// The first ``invalidRecordsKept`` invalid records.
    public internal(set) var invalidRecords: [InvalidRecord] = []

    /// Distinct valid records.
    public var distinct: Int { valid - duplicatesCollapsed }
}

/// Errors reading a list file.
public enum IdentifierListError: Error, Sendable, Equatable {
    /// The file cannot be opened or read.
    case unreadable(path: String, reason: String)
    /// An invalid value, when the policy is to stop at the first.
    case invalidValue(path: String, line: Int, reason: IdentifierError)
    /// No CSV header field has this name. Only the number of header fields is kept: if the
    /// file has no header line, its first line is data, which must not be echoed.
    case columnNotFound(path: String, name: String, headerFields: Int)
    /// A CSV column number below 1.
    case invalidColumnNumber(path: String, column: Int)
    /// A quoted CSV field still open at the end of the file.
    case unterminatedQuote(path: String, line: Int)
    /// A CSV file without even a header line.
    case missingHeader(path: String)
    /// A record longer than 1 MiB (usually a stray quote that
    /// would otherwise pull the rest of the file into one field).
    case recordTooLong(path: String, line: Int, maximumBytes: Int)
}

extension IdentifierListError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): \(reason)"
        case let .invalidValue(path, line, reason):
            return "\(path), line \(line): \(reason.localizedDescription)"
        case let .columnNotFound(path, name, headerFields):
            return "\(path): no column named '\(name)' among the \(headerFields) fields of the first line; expected a header line with that name (or give a column number, with --no-header if the file has no header)"
        case let .invalidColumnNumber(path, column):
            return "\(path): column number \(column); expected 1 or more"
        case let .unterminatedQuote(path, line):
            return "\(path), line \(line): a quoted field is not closed before the end of the file"
        case let .missingHeader(path):
            return "\(path): the CSV file is empty; expected a header line"
        case let .recordTooLong(path, line, maximumBytes):
            return "\(path), line \(line): the record is longer than \(maximumBytes) bytes; expected one value a line (is a quote left open?)"
        }
    }
}

/// Reads an operator's list as a stream (one value a line, or one CSV column), parsing each
/// value as an identifier of one kind.
///
/// The file is read in 64 KiB chunks, so a list of tens of millions of lines is never held in
/// memory by ``forEach(_:)``. CSV follows RFC 4180: quoted fields with `""` escapes, commas and
/// line breaks inside quotes, CRLF or LF line ends, and an optional UTF-8 byte-order mark.
///
/// CSV parsing is hand-written rather than taken from a package: the CSV packages available
/// (SwiftCSV, CSV.swift) either load the whole file into a string or do not report the
/// physical line where a record starts, which every error here must name.
public struct IdentifierListReader: Sendable {
    /// How the file is laid out.
    public enum Format: Sendable, Equatable {
        /// One value a line.
        case lines
        /// CSV with a header line (never read as a value); the value is in `column`.
        case csv(column: Column)
        /// CSV without a header line: every record is data; the value is in the column at this
        /// position, counting from 1.
        case csvWithoutHeader(column: Int)
    }

    /// A CSV column, by header name or by 1-based number.
    public enum Column: Sendable, Equatable {
        /// The column whose header field equals this name (after trimming).
        case name(String)
        /// The column at this position, counting from 1 as `cut -f` does.
        case number(Int)
    }

    /// What to do with a value that does not parse.
    public enum InvalidValuePolicy: Sendable {
        /// Count and report it in the summary, and go on.
        case skip
        /// Throw ``IdentifierListError/invalidValue(path:line:reason:)``.
        case stop
    }

    /// The list file.
    public let url: URL
    /// How the file is laid out.
    public let format: Format
    /// The kind of every value.
    public let kind: Identifier.Kind
    /// What to do with a value that does not parse.
    public let policy: InvalidValuePolicy
    /// Whether plain identifiers are lower-cased.
    public let caseInsensitive: Bool

    /// Creates a reader; nothing is read until ``forEach(_:)`` or ``readAll()``.
    ///
    /// - Parameters: see the properties.
    public init(url: URL, format: Format = .lines, kind: Identifier.Kind, policy: InvalidValuePolicy = .skip,
                caseInsensitive: Bool = false) {
        self.url = url
        self.format = format
        self.kind = kind
        self.policy = policy
        self.caseInsensitive = caseInsensitive
    }

    /// Calls `body` with each valid record, in file order (repeats included), and returns the counts.
    public func forEach(_ body: (ListRecord) throws -> Void) throws -> ListSummary {
        var summary = ListSummary()
        var column: Int?
        let path = url.path
        switch format {
        case .csv(.number(let n)), .csvWithoutHeader(let n):
            guard n >= 1 else { throw IdentifierListError.invalidColumnNumber(path: path, column: n) }
            column = n - 1
        case .lines, .csv(.name):
            break
        }
        var sawHeader = false
        try RecordScanner.scan(url: url, csv: format != .lines) { line, fields in
            if case .csv(let wanted) = format, !sawHeader {
                sawHeader = true
                if case .name(let name) = wanted {
                    let header = fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
                    guard let index = header.firstIndex(of: name) else {
                        throw IdentifierListError.columnNotFound(path: path, name: name, headerFields: header.count)
                    }
                    column = index
                }
                return
            }
            if fields.allSatisfy({ $0.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }) {
                summary.blank += 1
                return
            }
            summary.read += 1
            let index = column ?? 0
            do {
                guard index < fields.count else { throw IdentifierError.missingColumn(column: index + 1, fields: fields.count) }
                guard let text = String(validating: fields[index], as: UTF8.self) else { throw IdentifierError.invalidUTF8 }
                let identifier = try Identifier.parse(text, as: kind, caseInsensitive: caseInsensitive)
                summary.valid += 1
                try body(ListRecord(identifier: identifier, original: text, lineNumber: line))
            } catch let reason as IdentifierError {
                summary.invalid += 1
                if summary.invalidRecords.count < ListSummary.invalidRecordsKept {
                    summary.invalidRecords.append(InvalidRecord(lineNumber: line, reason: reason))
                }
                if policy == .stop { throw IdentifierListError.invalidValue(path: path, line: line, reason: reason) }
            }
        }
        if case .csv = format, !sawHeader { throw IdentifierListError.missingHeader(path: path) }
        return summary
    }

    /// Reads the whole list, keeping the first record of each identifier.
    public func readAll() throws -> (records: [ListRecord], summary: ListSummary) {
        var records = [ListRecord]()
        var seen = Set<Identifier>()
        var summary = try forEach { record in
            if seen.insert(record.identifier).inserted { records.append(record) }
        }
        summary.duplicatesCollapsed = summary.valid - records.count
        return (records, summary)
    }
}

/// Splits a file into records (lines, or RFC 4180 CSV records) as a stream of 64 KiB chunks.
enum RecordScanner {
    static let chunkSize = 1 << 16
    /// The longest record accepted, so that memory stays bounded whatever the input.
    static let maximumRecordBytes = 1 << 20

    /// Calls `body(line, fields)` for each record; `line` is the physical line the record starts on.
    static func scan(url: URL, csv: Bool, _ body: (Int, [[UInt8]]) throws -> Void) throws {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw IdentifierListError.unreadable(path: url.path, reason: describe(error))
        }
        defer { try? handle.close() }
        var fields: [[UInt8]] = []
        var field: [UInt8] = []
        var line = 1, recordLine = 1
        var inQuotes = false, quoteJustClosed = false, fieldStarted = false
        var first = true
        var pendingCR = false
        var recordBytes = 0

        func endRecord() throws {
            fields.append(field)
            try body(recordLine, fields)
            fields.removeAll(keepingCapacity: true)
            field.removeAll(keepingCapacity: true)
            fieldStarted = false
            quoteJustClosed = false
            recordBytes = 0
        }

        while true {
            let data: Data
            do { data = try handle.read(upToCount: chunkSize) ?? Data() } catch {
                throw IdentifierListError.unreadable(path: url.path, reason: describe(error))
            }
            if data.isEmpty { break }
            var bytes = [UInt8](data)
            if first {
                first = false
                if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
            }
            for byte in bytes {
                recordBytes += 1
                if recordBytes > maximumRecordBytes {
                    throw IdentifierListError.recordTooLong(path: url.path, line: recordLine, maximumBytes: maximumRecordBytes)
                }
                if pendingCR {
                    pendingCR = false
                    if byte == 0x0A { continue }  // CRLF already ended the record
                }
                if inQuotes {
                    if byte == 0x22 { inQuotes = false; quoteJustClosed = true; continue }
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                    continue
                }
                switch byte {
                case 0x0A, 0x0D:
                    try endRecord()
                    line += 1
                    recordLine = line
                    pendingCR = byte == 0x0D
                case 0x2C where csv:
                    fields.append(field)
                    field.removeAll(keepingCapacity: true)
                    fieldStarted = false
                    quoteJustClosed = false
                case 0x22 where csv:
                    if quoteJustClosed { field.append(0x22); inQuotes = true; quoteJustClosed = false }  // "" escape
                    else if !fieldStarted { inQuotes = true; fieldStarted = true }
                    else { field.append(byte) }  // a stray quote inside an unquoted field is kept as text
                default:
                    quoteJustClosed = false
                    fieldStarted = true
                    field.append(byte)
                }
            }
        }
        if inQuotes { throw IdentifierListError.unterminatedQuote(path: url.path, line: recordLine) }
        if !field.isEmpty || !fields.isEmpty || fieldStarted { try endRecord() }
    }
}
