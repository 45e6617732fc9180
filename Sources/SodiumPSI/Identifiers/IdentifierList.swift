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

/// A valid record with every field of its row as written, for joining a match back to the
/// operator's data (``IdentifierListReader/forEachRow(header:where:_:)``).
public struct ListRow: Sendable, Equatable {
    /// The record: identifier, value as written, line.
    public let record: ListRecord
    /// Every field of the row as written (one for a list of one value a line).
    public let fields: [String]

    /// Creates a row.
    ///
    /// - Parameters: see the properties.
    public init(record: ListRecord, fields: [String]) {
        self.record = record
        self.fields = fields
    }
}

/// A value that could not be parsed: where, and why (never the value itself).
public struct InvalidRecord: Sendable, Equatable {
    /// The line the record starts on.
    public let lineNumber: Int
    /// Why it is invalid.
    public let reason: IdentifierError
}

/// An invalid record with what the operator wrote, for the operator's own eyes only (the
/// rejects file, `psi canonicalize`): it holds raw values.
public struct RejectedRecord: Sendable, Equatable {
    /// The line the record starts on.
    public let lineNumber: Int
    /// Why it is invalid.
    public let reason: IdentifierError
    /// The field at the chosen column as written (bytes that are not valid text shown as
    /// U+FFFD), or nil when the record has no field there.
    public let value: String?
    /// Every field of the record as written (one for a plain list), decoded the same way.
    public let fields: [String]
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

/// How many invalid values a list may hold before it is refused as a whole.
public enum InvalidValueLimit: Sendable, Equatable, CustomStringConvertible {
    /// At most this many invalid values (0: none). Checked as the list is read, so reading
    /// stops at the first value over the limit.
    case count(Int)
    /// At most this fraction (0 to 1) of the values read. Checked at the end of the list.
    case fraction(Double)

    /// `12`, or a percentage such as `5%`.
    public var description: String {
        switch self {
        case .count(let n): return "\(n)"
        case .fraction(let f): return "\(Self.percent(f))%"
        }
    }

    /// A percentage without trailing zeros (`5`, `0.5`).
    static func percent(_ fraction: Double) -> String {
        let text = String(format: "%.4f", fraction * 100)
        return text.contains(".") ? String(text.reversed().drop { $0 == "0" }.drop { $0 == "." }.reversed()) : text
    }
}

/// The character between CSV fields.
public enum Delimiter: UInt8, Sendable, CaseIterable {
    /// `,` (CSV; the default).
    case comma = 0x2C
    /// Tab (TSV). Quoting works as in CSV.
    case tab = 0x09
    /// `;` (CSV from locales whose decimal separator is a comma).
    case semicolon = 0x3B
    /// `|`.
    case pipe = 0x7C
}

/// Errors reading a list file.
public enum IdentifierListError: Error, Sendable, Equatable {
    /// The file cannot be opened or read.
    case unreadable(path: String, reason: String)
    /// An invalid value, when the policy is to stop at the first.
    case invalidValue(path: String, line: Int, reason: IdentifierError)
    /// No CSV header field has this name. `found` holds the first header fields (at most
    /// ``IdentifierListReader/headerFieldsShown``, each cut to
    /// ``IdentifierListReader/headerFieldLengthShown`` characters), for the operator: they
    /// are the operator's own file, and the error is printed only to the operator.
    case columnNotFound(path: String, name: String, found: [String], headerFields: Int)
    /// A CSV column number below 1.
    case invalidColumnNumber(path: String, column: Int)
    /// A CSV column number beyond the header line's fields.
    case columnOutOfRange(path: String, column: Int, headerFields: Int)
    /// A quoted CSV field still open at the end of the file.
    case unterminatedQuote(path: String, line: Int)
    /// A CSV file without even a header line.
    case missingHeader(path: String)
    /// A record longer than 1 MiB (usually a stray quote that
    /// would otherwise pull the rest of the file into one field).
    case recordTooLong(path: String, line: Int, maximumBytes: Int)
    /// The file is not in the encoding asked for.
    case encodingMismatch(path: String, found: FoundEncoding, expected: ListEncoding)
    /// The C library cannot convert from this encoding.
    case unsupportedEncoding(name: String, reason: String)
    /// A NUL byte (U+0000), which no text list holds.
    case nulByte(path: String, line: Int)
    /// The list holds no valid value (it is empty, blank, or every value is invalid).
    case noValidValues(path: String, read: Int, firstInvalid: InvalidRecord?)
    /// More invalid values than ``IdentifierListReader/invalidLimit`` allows, among `read` values.
    case tooManyInvalidValues(path: String, invalid: Int, read: Int, limit: InvalidValueLimit)
    /// Re-read to join matches, the list is not the one the exchange was made from: the first
    /// row of a matched value is not at `expectedLine` (`foundLine` nil: no row holds it).
    case listChanged(path: String, expectedLine: Int, foundLine: Int?)
}

extension IdentifierListError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): \(reason)"
        case let .invalidValue(path, line, reason):
            return "\(path), line \(line): \(reason.localizedDescription)"
        case let .columnNotFound(path, name, found, headerFields):
            let shown = found.map { "'\($0)'" }.joined(separator: ", ")
            let more = headerFields > found.count ? " and \(headerFields - found.count) more" : ""
            return "\(path): no column named '\(name)' in the first line, whose \(headerFields) fields are \(shown)\(more); expected a header line with that name (or give a column number, with --no-header if the file has no header; --delimiter and --input-encoding if the fields look wrong)"
        case let .invalidColumnNumber(path, column):
            return "\(path): column number \(column); expected 1 or more"
        case let .columnOutOfRange(path, column, headerFields):
            return "\(path): column \(column), but the header line has \(headerFields) field\(headerFields == 1 ? "" : "s"); expected a column from 1 to \(headerFields) (is --delimiter right?)"
        case let .unterminatedQuote(path, line):
            return "\(path), line \(line): a quoted field is not closed before the end of the file"
        case let .missingHeader(path):
            return "\(path): the CSV file is empty; expected a header line"
        case let .recordTooLong(path, line, maximumBytes):
            return "\(path), line \(line): the record is longer than \(maximumBytes) bytes; expected one value a line (is a quote left open?)"
        case let .encodingMismatch(path, found, expected):
            let advice = found.form?.listEncoding.map { "read it with --input-encoding \($0.rawValue)" } ?? "convert it to UTF-8"
            return "\(path): the file is \(found); expected \(expected.name) text: \(advice)"
        case let .unsupportedEncoding(name, reason):
            return "cannot convert from \(name) to UTF-8: \(reason)"
        case let .nulByte(path, line):
            return "\(path), line \(line): a NUL byte; expected text (is the file UTF-16, UTF-32 or binary?)"
        case let .noValidValues(path, read, firstInvalid):
            guard let firstInvalid else {
                return "\(path): the list holds no value (\(read == 0 ? "no line but blank ones or a header" : "\(read) read")); expected at least one"
            }
            return "\(path): none of the \(read) values read is valid (the first invalid, line \(firstInvalid.lineNumber): \(firstInvalid.reason.localizedDescription)); expected at least one valid value"
        case let .tooManyInvalidValues(path, invalid, read, limit):
            switch limit {
            case .count(let n):
                return "\(path): \(invalid) invalid values among the first \(read) read; the limit is \(n) (--max-invalid)"
            case .fraction:
                return "\(path): \(invalid) of the \(read) values read are invalid (\(InvalidValueLimit.percent(Double(invalid) / Double(max(read, 1))))%); the limit is \(limit) (--max-invalid)"
            }
        case let .listChanged(path, expectedLine, foundLine):
            let found = foundLine.map { "is first found at line \($0)" } ?? "is found on no line"
            return "\(path): not the list the exchange was made from: the matched value of line \(expectedLine) \(found); expected the same file read with the same options (--column, --kind, --input-encoding, --delimiter, --no-header, --case-insensitive) as when it was blinded"
        }
    }
}

/// Reads an operator's list as a stream (one value a line, or one CSV column), parsing each
/// value as an identifier of one kind.
///
/// The file is read in 64 KiB chunks, so a list of tens of millions of lines is never held in
/// memory by ``forEach(_:)``. It is converted to UTF-8 from ``encoding`` first (a byte-order
/// mark must agree with it and is removed); then split into records (Docs/protocol.md, "Reading a list file"): lines
/// end at LF, CR or CR LF, CSV follows RFC 4180 (quoted fields with `""` escapes, delimiters and
/// line breaks inside quotes) with the chosen ``delimiter``.
///
/// Besides invalid values (skipped and counted, or fatal), a list is refused as a whole when it
/// is not in the encoding asked for, holds a NUL byte, has no valid value at all, or more
/// invalid values than ``invalidLimit``; a record over 1 MiB is refused, so memory stays
/// bounded.
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
        /// The column whose header field equals this name, both with white space trimmed and in NFC.
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

    /// Header fields named in ``IdentifierListError/columnNotFound(path:name:found:headerFields:)``.
    public static let headerFieldsShown = 12
    /// Characters kept of each header field named there.
    public static let headerFieldLengthShown = 40

    /// The list file.
    public let url: URL
    /// How the file is laid out.
    public let format: Format
    /// The kind of every value.
    public let kind: Identifier.Kind
    /// What to do with a value that does not parse.
    public let policy: InvalidValuePolicy
    /// Whether plain identifiers are case-mapped (see ``Identifier/plain(_:caseInsensitive:)``).
    public let caseInsensitive: Bool
    /// The character between CSV fields (not used for ``Format/lines``).
    public let delimiter: Delimiter
    /// The file's character encoding.
    public let encoding: ListEncoding
    /// How many invalid values the list may hold before it is refused; nil: any number, as
    /// long as one value is valid.
    public let invalidLimit: InvalidValueLimit?
    /// Where to write every invalid record with its line and reason (CSV, mode 0600, replaced
    /// atomically when reading ends, also when it ends in an error); nil: nowhere.
    public let rejectsURL: URL?

    /// Creates a reader; nothing is read until ``forEach(_:)`` or ``readAll()``.
    ///
    /// - Parameters: see the properties.
    public init(url: URL, format: Format = .lines, kind: Identifier.Kind, policy: InvalidValuePolicy = .skip,
                caseInsensitive: Bool = false, delimiter: Delimiter = .comma, encoding: ListEncoding = .utf8,
                invalidLimit: InvalidValueLimit? = nil, rejectsURL: URL? = nil) {
        self.url = url
        self.format = format
        self.kind = kind
        self.policy = policy
        self.caseInsensitive = caseInsensitive
        self.delimiter = delimiter
        self.encoding = encoding
        self.invalidLimit = invalidLimit
        self.rejectsURL = rejectsURL
    }

    /// About how many records the file holds, for a progress bar's total before the list is
    /// read: its lines (line feeds, and a last line without one), less the header of a CSV file
    /// with one. Blank and invalid lines make it a little high; in UTF-16 a code unit holding a
    /// 0x0A byte may count as a line too. One fast pass over the file's bytes, with no decoding.
    ///
    /// - Returns: nil when the file cannot be read (the read itself then reports why).
    public func estimatedRecordCount() -> Int? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        var lines = 0
        var last: UInt8 = 0x0A
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { bytes in
                for byte in bytes where byte == 0x0A { lines += 1 }
            }
            last = chunk.last!
        }
        if last != 0x0A { lines += 1 }
        if case .csv = format { lines -= 1 }
        return max(lines, 0)
    }

    /// Calls `body` with each valid record, in file order (repeats included), and returns the counts.
    ///
    /// - Throws: ``IdentifierListError`` when the list is refused (see the type's description),
    ///   or what `body` throws.
    public func forEach(_ body: (ListRecord) throws -> Void) throws -> ListSummary {
        try forEach(body, rejected: { _ in })
    }

    /// Calls `body` with each valid record and `rejected` with each invalid one, in file order,
    /// and returns the counts.
    ///
    /// - Throws: as ``forEach(_:)``.
    public func forEach(_ body: (ListRecord) throws -> Void, rejected: (RejectedRecord) throws -> Void) throws -> ListSummary {
        try scan(header: { _ in }, valid: { record, _ in try body(record) }, rejected: rejected)
    }

    /// Calls `header` with the CSV header's fields (not for ``Format/lines`` or
    /// ``Format/csvWithoutHeader(column:)``), then `body` with each valid record for which
    /// `wanted` is true together with every field of its row, in file order, and returns the
    /// counts. The fields are what joins a match back to the operator's data (a case number
    /// beside the phone number); only the rows `wanted` are copied, so memory stays bounded.
    ///
    /// - Throws: as ``forEach(_:)``.
    public func forEachRow(header: ([String]) throws -> Void = { _ in }, where wanted: (ListRecord) -> Bool,
                           _ body: (ListRow) throws -> Void) throws -> ListSummary {
        try scan(header: header, valid: { record, fields in
            if wanted(record) { try body(ListRow(record: record, fields: fields())) }
        }, rejected: { _ in })
    }

    private func scan(header: ([String]) throws -> Void, valid: (ListRecord, () -> [String]) throws -> Void,
                      rejected: (RejectedRecord) throws -> Void) throws -> ListSummary {
        let path = url.path
        var column: Int?
        switch format {
        case .csv(.number(let n)), .csvWithoutHeader(let n):
            guard n >= 1 else { throw IdentifierListError.invalidColumnNumber(path: path, column: n) }
            column = n - 1
        case .lines, .csv(.name):
            break
        }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw IdentifierListError.unreadable(path: path, reason: describe(error))
        }
        defer { try? handle.close() }
        let rejects = try rejectsURL.map { try RejectsFile(url: $0, inputURL: url) }
        let summary: ListSummary
        do {
            summary = try read(handle, column: column, header: header, body: valid) { record in
                try rejects?.write(record, delimiter: format == .lines ? nil : delimiter.rawValue)
                try rejected(record)
            }
        } catch {
            // The rows rejected before the error are what the operator needs to see.
            try? rejects?.commit()
            throw error
        }
        try rejects?.commit()
        return summary
    }

    private func read(_ handle: FileHandle, column: Int?, header: ([String]) throws -> Void,
                      body: (ListRecord, () -> [String]) throws -> Void,
                      rejected: (RejectedRecord) throws -> Void) throws -> ListSummary {
        let path = url.path
        var column = column
        var summary = ListSummary()
        var chunks = try DecodedChunks(handle: handle, path: path, encoding: encoding)
        var sawHeader = false
        try RecordScanner.scan(&chunks, path: path, delimiter: format == .lines ? nil : delimiter.rawValue) { record in
            if case .csv(let wanted) = format, !sawHeader {
                sawHeader = true
                let names = try headerNames(record)
                column = try headerColumn(names, wanted)
                try header(names)
                return
            }
            if record.isBlank {
                summary.blank += 1
                return
            }
            summary.read += 1
            let index = column ?? 0
            let parsed: Result<ListRecord, IdentifierError>
            do {
                guard index < record.fieldCount else { throw IdentifierError.missingColumn(column: index + 1, fields: record.fieldCount) }
                guard let text = String(validating: record.field(index), as: UTF8.self) else { throw IdentifierError.invalidText(encoding: encoding) }
                let identifier = try Identifier.parse(text, as: kind, caseInsensitive: caseInsensitive)
                parsed = .success(ListRecord(identifier: identifier, original: text, lineNumber: record.line))
            } catch let reason as IdentifierError {
                parsed = .failure(reason)
            }
            switch parsed {
            case .success(let valid):
                summary.valid += 1
                try body(valid, { record.fieldTexts })
            case .failure(let reason):
                summary.invalid += 1
                if summary.invalidRecords.count < ListSummary.invalidRecordsKept {
                    summary.invalidRecords.append(InvalidRecord(lineNumber: record.line, reason: reason))
                }
                try rejected(RejectedRecord(lineNumber: record.line, reason: reason,
                                            value: index < record.fieldCount ? String(decoding: record.field(index), as: UTF8.self) : nil,
                                            fields: record.fieldTexts))
                if policy == .stop { throw IdentifierListError.invalidValue(path: path, line: record.line, reason: reason) }
                if case .count(let limit) = invalidLimit, summary.invalid > limit {
                    throw IdentifierListError.tooManyInvalidValues(path: path, invalid: summary.invalid, read: summary.read, limit: .count(limit))
                }
            }
        }
        if case .csv = format, !sawHeader { throw IdentifierListError.missingHeader(path: path) }
        if summary.valid == 0 {
            throw IdentifierListError.noValidValues(path: path, read: summary.read, firstInvalid: summary.invalidRecords.first)
        }
        if case .fraction(let fraction) = invalidLimit, Double(summary.invalid) > fraction * Double(summary.read) {
            throw IdentifierListError.tooManyInvalidValues(path: path, invalid: summary.invalid, read: summary.read, limit: .fraction(fraction))
        }
        return summary
    }

    /// The header line's fields, after checking that they are text in the list's encoding.
    private func headerNames(_ header: ScannedRecord) throws -> [String] {
        var names = [String]()
        for index in 0..<header.fieldCount {
            guard let text = String(validating: header.field(index), as: UTF8.self) else {
                // The operator's column names are not text in this encoding: the file is in another.
                let found = encoding == .utf8 ? EncodingDetector.eightBitForm(Array(header.bytes)).map(FoundEncoding.validText) ?? .unknown : .unknown
                throw IdentifierListError.encodingMismatch(path: url.path, found: found, expected: encoding)
            }
            names.append(text)
        }
        return names
    }

    /// The 0-based column of `names` (the header line's fields) that `wanted` names.
    func headerColumn(_ names: [String], _ wanted: Column) throws -> Int {
        let path = url.path
        switch wanted {
        case .number(let n):
            guard n <= names.count else { throw IdentifierListError.columnOutOfRange(path: path, column: n, headerFields: names.count) }
            return n - 1
        case .name(let name):
            let key = String(trimmingWhiteSpace(name.precomposedStringWithCanonicalMapping))
            if let index = names.firstIndex(where: { String(trimmingWhiteSpace($0.precomposedStringWithCanonicalMapping)) == key }) {
                return index
            }
            let shown = names.prefix(Self.headerFieldsShown).map { name in
                name.count > Self.headerFieldLengthShown ? name.prefix(Self.headerFieldLengthShown) + "…" : name
            }
            throw IdentifierListError.columnNotFound(path: path, name: name, found: Array(shown), headerFields: names.count)
        }
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
