/// A source of byte chunks (a decoded list file, or bytes in memory for tests).
protocol ByteChunks {
    /// The next chunk, or nil at the end.
    mutating func next() throws -> [UInt8]?
}

extension DecodedChunks: ByteChunks {}

/// One record as split by ``RecordScanner``: the bytes of its fields end to end in one buffer,
/// and where each field ends.
///
/// One flat buffer instead of an array per field keeps memory linear in the record's length
/// whatever its shape: a record of one long field and 400,000 empty ones costs its bytes plus
/// 4 bytes a field. (An array per field, each reset with `removeAll(keepingCapacity:)` after
/// being appended to the record, cost a copy of the long field's capacity per empty field:
/// 1.6 GB for such a 1 MB record.) The buffers are reused from record to record.
struct ScannedRecord {
    /// The physical line the record starts on (1-based).
    var line = 1
    /// The fields' bytes, end to end, without delimiters or quoting.
    private(set) var bytes: [UInt8] = []
    /// The end offset in ``bytes`` of each field (records are at most 1 MiB, so 32 bits suffice).
    private(set) var ends: [UInt32] = []

    /// The number of fields.
    var fieldCount: Int { ends.count }

    /// The bytes of field `index` (0-based, below ``fieldCount``).
    func field(_ index: Int) -> ArraySlice<UInt8> {
        let start = index == 0 ? 0 : Int(ends[index - 1])
        return bytes[start..<Int(ends[index])]
    }

    /// Every field, as text (invalid UTF-8 shown with U+FFFD), for reports to the operator.
    var fieldTexts: [String] { (0..<fieldCount).map { String(decoding: field($0), as: UTF8.self) } }

    /// A record whose fields are all empty or only spaces, tabs and carriage returns.
    var isBlank: Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }

    /// The bytes this record's buffers hold allocated.
    var storageBytes: Int { bytes.capacity + ends.capacity * MemoryLayout<UInt32>.stride }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }
    mutating func endField() { ends.append(UInt32(bytes.count)) }
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }
}

/// Splits UTF-8 text into records: lines, or RFC 4180 records with a chosen delimiter.
///
/// - A line ends at LF, CR or CR LF. Physical lines are numbered from 1, the header line and
///   blank lines included; a line break inside a quoted field is counted the same way.
/// - With a delimiter: a field that starts with `"` is quoted: delimiters and line breaks in it
///   are text, `""` is one `"`, and text after the closing quote is appended to the field. A
///   `"` inside an unquoted field is text.
/// - A record longer than ``maximumRecordBytes`` (delimiters and quotes counted) or a NUL byte
///   anywhere is refused: memory stays bounded, and NUL never occurs in text.
///
/// CSV splitting is written here rather than taken from a package (checked: SwiftCSV 0.10.0
/// and CSV.swift 2.5.2, the ones available). SwiftCSV reads the whole file into one `String`.
/// CSV.swift streams, but decodes only UTF-8/16/32 (not GB18030), builds each row as an array
/// of `String`s with no bound on a row's size or field count, and counts rows, not the physical
/// line each record starts on, which every error here must name. And the core library depends
/// on libsodium alone.
struct RecordScanner {
    /// The longest record accepted, so that memory stays bounded whatever the input.
    static let maximumRecordBytes = 1 << 20

    /// Calls `body` with each record, in order, then returns. The record passed is reused:
    /// `body` must copy what it keeps.
    static func scan(_ chunks: inout some ByteChunks, path: String, delimiter: UInt8?,
                     _ body: (ScannedRecord) throws -> Void) throws {
        var scanner = RecordScanner(path: path, delimiter: delimiter)
        while let chunk = try chunks.next() {
            try scanner.consume(chunk, body)
        }
        try scanner.finish(body)
    }

    private let path: String
    private let delimiter: UInt8?
    private var record = ScannedRecord()
    private var line = 1
    private var inQuotes = false, quoteJustClosed = false, fieldStarted = false, recordStarted = false
    private var pendingCR = false
    private var recordBytes = 0

    private init(path: String, delimiter: UInt8?) {
        self.path = path
        self.delimiter = delimiter
    }

    private mutating func endRecord(_ body: (ScannedRecord) throws -> Void) throws {
        record.endField()
        try body(record)
        record.reset()
        fieldStarted = false
        quoteJustClosed = false
        recordStarted = false
        recordBytes = 0
    }

    private mutating func consume(_ chunk: [UInt8], _ body: (ScannedRecord) throws -> Void) throws {
        for byte in chunk {
            if byte == 0 { throw IdentifierListError.nulByte(path: path, line: line) }
            recordBytes += 1
            if recordBytes > Self.maximumRecordBytes {
                throw IdentifierListError.recordTooLong(path: path, line: record.line, maximumBytes: Self.maximumRecordBytes)
            }
            if pendingCR {
                pendingCR = false
                if byte == 0x0A {  // the LF of a CR LF: the line was counted at the CR
                    if inQuotes { record.append(byte) }
                    continue
                }
            }
            if inQuotes {
                if byte == 0x22 { inQuotes = false; quoteJustClosed = true; continue }
                if byte == 0x0A || byte == 0x0D { line += 1; pendingCR = byte == 0x0D }
                record.append(byte)
                continue
            }
            if byte == 0x0A || byte == 0x0D {
                try endRecord(body)
                line += 1
                record.line = line
                pendingCR = byte == 0x0D
                continue
            }
            recordStarted = true
            if let delimiter {
                if byte == delimiter {
                    record.endField()
                    fieldStarted = false
                    quoteJustClosed = false
                    continue
                }
                if byte == 0x22 {
                    if quoteJustClosed { record.append(0x22); inQuotes = true; quoteJustClosed = false }  // "" escape
                    else if !fieldStarted { inQuotes = true; fieldStarted = true }
                    else { record.append(byte) }  // a quote inside an unquoted field is text
                    continue
                }
            }
            quoteJustClosed = false
            fieldStarted = true
            record.append(byte)
        }
    }

    private mutating func finish(_ body: (ScannedRecord) throws -> Void) throws {
        if inQuotes { throw IdentifierListError.unterminatedQuote(path: path, line: record.line) }
        if recordStarted { try endRecord(body) }
    }
}
