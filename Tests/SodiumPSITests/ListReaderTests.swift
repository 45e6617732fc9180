import Foundation
import Testing
@testable import SodiumPSI

/// Writes `text` (exact bytes) to a fresh temporary file.
/// A list file in a folder of its own, removed when the test process exits.
func listFile(_ text: String, name: String = "list.csv") throws -> URL {
    let folder = try temporaryDirectory()
    FixtureRoots.shared.add(folder)
    let url = folder.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url
}

@Suite("List and CSV reader")
struct ListReaderTests {
    @Test("Plain lists: one value a line, blank lines counted, CRLF and LF, a BOM")
    func plainLines() throws {
        let url = try listFile("\u{FEFF}13800138000\r\n\r\n+86 139-1234-5678\n  \n13800138000\n")
        let (records, summary) = try IdentifierListReader(url: url, kind: .phoneNumber).readAll()
        #expect(records.map(\.identifier.canonical) == ["+8613800138000", "+8613912345678"])
        #expect(records.map(\.lineNumber) == [1, 3])
        #expect(records.map(\.original) == ["13800138000", "+86 139-1234-5678"])
        #expect(summary.read == 3 && summary.valid == 3 && summary.invalid == 0)
        #expect(summary.blank == 2 && summary.duplicatesCollapsed == 1 && summary.distinct == 2)
    }

    @Test("The estimated record count (a progress bar's total): lines, a last line without a line feed, less a CSV header")
    func estimatedRecordCount() throws {
        #expect(IdentifierListReader(url: try listFile("1\n2\n\n3"), kind: .plain).estimatedRecordCount() == 4)
        #expect(IdentifierListReader(url: try listFile("1\r\n2\r\n"), kind: .plain).estimatedRecordCount() == 2)
        #expect(IdentifierListReader(url: try listFile(""), kind: .plain).estimatedRecordCount() == 0)
        let csv = try listFile("id,phone\n1,13800138000\n2,13900139000\n")
        #expect(IdentifierListReader(url: csv, format: .csv(column: .name("phone")), kind: .phoneNumber).estimatedRecordCount() == 2)
        let missing = csv.deletingLastPathComponent().appendingPathComponent("missing.csv")
        #expect(IdentifierListReader(url: missing, kind: .plain).estimatedRecordCount() == nil)
    }

    @Test("CSV: quoted fields with commas, escaped quotes and line breaks; column by name")
    func csvQuoting() throws {
        let csv = "id,note,phone\r\n" +
            "1,\"plain, with comma\",13800138000\r\n" +
            "2,\"said \"\"hello\"\"\",\"+86 139 1234 5678\"\r\n" +
            "3,\"two\nlines\",15012345678\r\n" +
            "4,last,18612345678"  // no final line break
        let url = try listFile(csv)
        let reader = IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber)
        let (records, summary) = try reader.readAll()
        #expect(records.map(\.identifier.canonical) == ["+8613800138000", "+8613912345678", "+8615012345678", "+8618612345678"])
        // Record 3 starts on line 4 and spans two physical lines, so record 4 starts on line 6.
        #expect(records.map(\.lineNumber) == [2, 3, 4, 6])
        #expect(records[1].original == "+86 139 1234 5678")
        #expect(summary.read == 4 && summary.valid == 4)
    }

    @Test("CSV: column by 1-based number equals column by name")
    func csvColumnNumber() throws {
        let url = try listFile("a,b\nx,13800138000\ny,13912345678\n")
        let byNumber = try IdentifierListReader(url: url, format: .csv(column: .number(2)), kind: .phoneNumber).readAll().records
        let byName = try IdentifierListReader(url: url, format: .csv(column: .name("b")), kind: .phoneNumber).readAll().records
        #expect(byNumber == byName)
        #expect(byNumber.count == 2)
    }

    @Test("A column name that is missing: the error lists the header's fields (the operator's own), at most 12, each cut at 40 characters")
    func columnNotFoundListsTheHeader() throws {
        let url = try listFile("手机号,姓名, id \n13800138000,x,1\n")
        #expect(throws: IdentifierListError.columnNotFound(path: url.path, name: "phone", found: ["手机号", "姓名", " id "], headerFields: 3)) {
            try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll()
        }
        let long = String(repeating: "a", count: 50)
        let wide = try listFile((1...15).map { $0 == 2 ? long : "c\($0)" }.joined(separator: ",") + "\n1\n")
        let expected = ["c1", String(repeating: "a", count: 40) + "…"] + (3...12).map { "c\($0)" }
        let error = IdentifierListError.columnNotFound(path: wide.path, name: "phone", found: expected, headerFields: 15)
        #expect(throws: error) { try IdentifierListReader(url: wide, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll() }
        #expect(error.localizedDescription.contains("'c12' and 3 more"))
        // Names match after trimming and NFC on both sides.
        let nfd = try listFile(" Te\u{301}le\u{301}phone ,x\n13800138000,y\n")
        #expect(try IdentifierListReader(url: nfd, format: .csv(column: .name("T\u{E9}l\u{E9}phone")), kind: .phoneNumber).readAll().records.count == 1)
    }

    @Test("A quote left open is stopped at the record size limit, not read to the end of memory")
    func recordTooLong() throws {
        var text = "id,phone\n1,\"13800138000\n"
        text += String(repeating: "2,13912345678\n", count: RecordScanner.maximumRecordBytes / 14 + 10)
        let url = try listFile(text)
        #expect(throws: IdentifierListError.recordTooLong(path: url.path, line: 2, maximumBytes: RecordScanner.maximumRecordBytes)) {
            try IdentifierListReader(url: url, format: .csv(column: .number(2)), kind: .phoneNumber).readAll()
        }
    }

    @Test("CSV without a header: the first line is data, not skipped")
    func csvWithoutHeader() throws {
        let url = try listFile("x,13800138000\ny,13912345678\n")
        let (records, summary) = try IdentifierListReader(url: url, format: .csvWithoutHeader(column: 2), kind: .phoneNumber).readAll()
        #expect(records.map(\.lineNumber) == [1, 2])
        #expect(summary.read == 2 && summary.valid == 2)
        // With a header expected, the first line is the header: one record.
        #expect(try IdentifierListReader(url: url, format: .csv(column: .number(2)), kind: .phoneNumber).readAll().records.count == 1)
        #expect(throws: IdentifierListError.invalidColumnNumber(path: url.path, column: 0)) {
            try IdentifierListReader(url: url, format: .csvWithoutHeader(column: 0), kind: .phoneNumber).readAll()
        }
        // An empty headerless file holds no value: refused.
        let empty = try listFile("")
        #expect(throws: IdentifierListError.noValidValues(path: empty.path, read: 0, firstInvalid: nil)) {
            try IdentifierListReader(url: empty, format: .csvWithoutHeader(column: 1), kind: .phoneNumber).readAll()
        }
    }

    @Test("CSV: missing column name, bad column number, unterminated quote, empty file")
    func csvErrors() throws {
        let url = try listFile("id,phone\n1,13800138000\n")
        #expect(throws: IdentifierListError.columnNotFound(path: url.path, name: "mobile", found: ["id", "phone"], headerFields: 2)) {
            try IdentifierListReader(url: url, format: .csv(column: .name("mobile")), kind: .phoneNumber).readAll()
        }
        #expect(throws: IdentifierListError.invalidColumnNumber(path: url.path, column: 0)) {
            try IdentifierListReader(url: url, format: .csv(column: .number(0)), kind: .phoneNumber).readAll()
        }
        let open = try listFile("id,phone\n1,13800138000\n2,\"13912345678\n3,15012345678\n")
        #expect(throws: IdentifierListError.unterminatedQuote(path: open.path, line: 3)) {
            try IdentifierListReader(url: open, format: .csv(column: .number(2)), kind: .phoneNumber).readAll()
        }
        let empty = try listFile("")
        #expect(throws: IdentifierListError.missingHeader(path: empty.path)) {
            try IdentifierListReader(url: empty, format: .csv(column: .number(1)), kind: .phoneNumber).readAll()
        }
        let missing = url.deletingLastPathComponent().appendingPathComponent("nope.csv")
        #expect(throws: IdentifierListError.unreadable(path: missing.path, reason: "No such file or directory")) {
            try IdentifierListReader(url: missing, kind: .phoneNumber).readAll()
        }
    }

    @Test("Invalid values: skip reports every one with its line; stop throws at the first")
    func policies() throws {
        let url = try listFile("13800138000\nhello\n12800138000\n\n13912345678\nx,y\n")
        let (records, summary) = try IdentifierListReader(url: url, kind: .phoneNumber, policy: .skip).readAll()
        #expect(records.count == 2)
        #expect(summary.read == 5 && summary.valid == 2 && summary.invalid == 3 && summary.blank == 1)
        #expect(summary.invalidRecords == [
            InvalidRecord(lineNumber: 2, reason: .containsLetters),
            InvalidRecord(lineNumber: 3, reason: .invalidMobilePrefix),
            InvalidRecord(lineNumber: 6, reason: .containsLetters),
        ])
        #expect(throws: IdentifierListError.invalidValue(path: url.path, line: 2, reason: .containsLetters)) {
            try IdentifierListReader(url: url, kind: .phoneNumber, policy: .stop).readAll()
        }
        let message = IdentifierListError.invalidValue(path: url.path, line: 2, reason: .containsLetters).localizedDescription
        #expect(message.contains("line 2") && !message.contains("hello"))
    }

    @Test("CSV: a record without the chosen column, and invalid UTF-8, are invalid values with their lines")
    func shortRecordAndBadUTF8() throws {
        let bytes = Array("id,phone\n1\n2,".utf8) + [0xff, 0xfe] + Array("\n3,13800138000\n".utf8)
        let url = try temporaryDirectory().appendingPathComponent("bad.csv")
        try Data(bytes).write(to: url)
        let (records, summary) = try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll()
        #expect(records.map(\.lineNumber) == [4])
        #expect(summary.invalidRecords == [
            InvalidRecord(lineNumber: 2, reason: .missingColumn(column: 2, fields: 1)),
            InvalidRecord(lineNumber: 3, reason: .invalidText(encoding: .utf8)),
        ])
    }

    @Test("Streaming: a list far larger than one read chunk gives exact counts and line numbers")
    func streaming() throws {
        let count = 60_000  // about 12 read chunks
        var text = ""
        text.reserveCapacity(count * 13)
        for i in 0..<count { text += "+8613\(String(format: "%09d", i))\n" }
        let url = try listFile(text, name: "big.txt")
        var seen = 0
        var lastLine = 0
        let summary = try IdentifierListReader(url: url, kind: .phoneNumber).forEach { record in
            seen += 1
            #expect(record.lineNumber == lastLine + 1)
            lastLine = record.lineNumber
        }
        #expect(seen == count && summary.valid == count && lastLine == count)
    }

    @Test("Two parties whose lists write the same numbers in different styles find all of them")
    func differentStyles() throws {
        let numbers = (0..<200).map { "13\(7 + $0 % 3)\(String(format: "%08d", $0 * 7919))" }
        let styleA = numbers.map { "+86 \($0.prefix(3))-\($0.dropFirst(3).prefix(4))-\($0.suffix(4))" }
        let styleB = numbers.enumerated().map { i, n in
            i % 2 == 0 ? "0086 " + n : String(n.unicodeScalars.map { Character(Unicode.Scalar($0.value - 0x30 + 0xFF10)!) })
        }
        let a = try IdentifierListReader(url: try listFile(styleA.joined(separator: "\n")), kind: .phoneNumber).readAll().records
        let b = try IdentifierListReader(url: try listFile(styleB.joined(separator: "\r\n")), kind: .phoneNumber).readAll().records
        #expect(a.count == 200 && b.count == 200)
        let (ra, rb, _) = try runMutualPSI(a.map(\.identifier), b.map(\.identifier), outcome: .bothLearn)
        #expect(ra.count == 200)
        #expect(rb?.count == 200)
    }
}

/// Bytes in memory as the scanner's chunk source.
struct MemoryChunks: ByteChunks {
    var chunks: [[UInt8]]
    mutating func next() -> [UInt8]? { chunks.isEmpty ? nil : chunks.removeFirst() }
}

/// Writes exact bytes to a fresh temporary file.
func listFile(bytes: [UInt8], name: String = "list.csv") throws -> URL {
    let folder = try temporaryDirectory()
    FixtureRoots.shared.add(folder)
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

@Suite("CSV splitting: memory and record shapes")
struct RecordShapeTests {
    /// The attack of issue 14: one 600 KB field followed by 400,000 commas (under the 1 MiB cap).
    static let attack = [UInt8](repeating: 0x78, count: 600_000) + [UInt8](repeating: 0x2C, count: 400_000)

    @Test("One long field and 400,000 empty ones: the record's storage is linear in its length")
    func attackRecordStorage() throws {
        // Two records of the attack's shape, in 64 KiB chunks as a file is read.
        let text = Self.attack + [0x0A] + Self.attack + [0x0A]
        var chunks = MemoryChunks(chunks: stride(from: 0, to: text.count, by: 1 << 16).map { Array(text[$0..<min($0 + (1 << 16), text.count)]) })
        var storage = [Int]()
        try RecordScanner.scan(&chunks, path: "attack", delimiter: 0x2C) { record in
            #expect(record.fieldCount == 400_001)
            #expect(record.field(0).count == 600_000)
            #expect(record.bytes.count == 600_000)
            #expect((1...400_000).allSatisfy { record.field($0).isEmpty })
            storage.append(record.storageBytes)
        }
        #expect(storage.count == 2)
        // The field bytes plus 4 bytes a field, at most doubled by array growth: about 4.4 MB
        // for a 1 MB record (an array per field cost about 1.6 GB here).
        let linearBound = 2 * (600_000 + 4 * 400_001)
        #expect(storage.allSatisfy { $0 <= linearBound })
        // The buffers are reused: the second record costs nothing more.
        #expect(storage[1] == storage[0])
    }

    @Test("The attack file through the reader completes with exact counts")
    func attackFile() throws {
        let url = try listFile(bytes: Array("a,phone\n".utf8) + Self.attack + Array("\n13800138000,13800138000\n".utf8))
        let (records, summary) = try IdentifierListReader(url: url, format: .csv(column: .number(2)), kind: .phoneNumber).readAll()
        #expect(records.map(\.lineNumber) == [3])
        #expect(summary.invalidRecords == [InvalidRecord(lineNumber: 2, reason: .empty)])
        // Commas alone past the 1 MiB cap are refused, not read.
        let over = try listFile(bytes: Array("a\n".utf8) + [UInt8](repeating: 0x2C, count: RecordScanner.maximumRecordBytes + 1))
        #expect(throws: IdentifierListError.recordTooLong(path: over.path, line: 2, maximumBytes: RecordScanner.maximumRecordBytes)) {
            try IdentifierListReader(url: over, format: .csv(column: .number(1)), kind: .phoneNumber).readAll()
        }
    }

    @Test("Physical lines: LF, CR and CR LF each end one line, inside quotes too; the header is line 1; blank lines count")
    func lineNumbers() throws {
        let url = try listFile("phone,note\r\n13800138000,\"a\rb\"\r\r\n13912345678,x\r15012345678,\"c\r\nd\ne\"\n\n18612345678,y")
        let (records, summary) = try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll()
        // Line 1 header; 2–3 the first record (CR in quotes); 4 blank; 5; 6–8 (CR LF and LF in quotes); 9 blank; 10.
        #expect(records.map(\.lineNumber) == [2, 5, 6, 10])
        #expect(summary.blank == 2 && summary.read == 4)
    }

    @Test("Delimiters: tab (TSV), semicolon and pipe, with RFC 4180 quoting", arguments: [Delimiter.tab, .semicolon, .pipe])
    func delimiters(_ delimiter: Delimiter) throws {
        let d = String(UnicodeScalar(delimiter.rawValue))
        let url = try listFile("id\(d)phone\(d)note\n1\(d)\"138 0013 8000\"\(d)\"x\(d)\"\"y\"\"\"\n2\(d)139 1234 5678\(d)\n3,4\(d)15012345678\(d)z\n")
        let reader = IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber, delimiter: delimiter)
        let (records, _) = try reader.readAll()
        #expect(records.map(\.identifier.canonical) == ["+8613800138000", "+8613912345678", "+8615012345678"])
        #expect(records[0].original == "138 0013 8000")
        let notes = try IdentifierListReader(url: url, format: .csv(column: .number(3)), kind: .plain, delimiter: delimiter).readAll()
        if delimiter == .tab {  // a tab inside a plain identifier is a control character
            #expect(notes.records.map(\.original) == ["z"])
            #expect(notes.summary.invalidRecords == [InvalidRecord(lineNumber: 2, reason: .controlCharacter), InvalidRecord(lineNumber: 3, reason: .empty)])
        } else {
            #expect(notes.records.map(\.original) == ["x\(d)\"y\"", "z"])
            #expect(notes.summary.invalidRecords == [InvalidRecord(lineNumber: 3, reason: .empty)])
        }
        // With the default comma, the header is one field.
        #expect(throws: IdentifierListError.columnNotFound(path: url.path, name: "phone", found: ["id\(d)phone\(d)note"], headerFields: 1)) {
            try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll()
        }
    }
}

@Suite("List encodings")
struct ListEncodingTests {
    /// "手机号,备注\n" in GB18030 (from Python: '手机号,备注\n'.encode('gb18030')).
    static let gbHeader: [UInt8] = [0xCA, 0xD6, 0xBB, 0xFA, 0xBA, 0xC5, 0x2C, 0xB1, 0xB8, 0xD7, 0xA2, 0x0A]
    /// "张三" and "😀" (a four-byte GB18030 sequence).
    static let gbZhangSan: [UInt8] = [0xD5, 0xC5, 0xC8, 0xFD]
    static let gbEmoji: [UInt8] = [0x94, 0x39, 0xFC, 0x36]

    @Test("GB18030: a Chinese header found by name, Chinese values decoded, four-byte sequences included")
    func gb18030() throws {
        let bytes = Self.gbHeader + Array("13800138000,".utf8) + Self.gbZhangSan + Self.gbEmoji + [0x0A]
            + Array("139 1234 5678,x\n".utf8)
        let url = try listFile(bytes: bytes)
        let phones = try IdentifierListReader(url: url, format: .csv(column: .name("手机号")), kind: .phoneNumber, encoding: .gb18030).readAll()
        #expect(phones.records.map(\.identifier.canonical) == ["+8613800138000", "+8613912345678"])
        let notes = try IdentifierListReader(url: url, format: .csv(column: .name("备注")), kind: .plain, encoding: .gb18030).readAll()
        #expect(notes.records.map(\.original) == ["张三😀", "x"])
        // Read as UTF-8 (the default), the header names the encoding instead of a missing column.
        #expect(throws: IdentifierListError.encodingMismatch(path: url.path, found: .validText(.gb18030), expected: .utf8)) {
            try IdentifierListReader(url: url, format: .csv(column: .name("手机号")), kind: .phoneNumber).readAll()
        }
        // Its byte-order mark (84 31 95 33) is removed.
        let marked = try listFile(bytes: [0x84, 0x31, 0x95, 0x33] + bytes)
        #expect(try IdentifierListReader(url: marked, format: .csv(column: .name("手机号")), kind: .phoneNumber, encoding: .gb18030)
            .readAll().records.count == 2)
    }

    @Test("GB18030 across read chunks: characters cut by a chunk boundary are decoded whole")
    func gb18030Chunks() throws {
        // 5-byte lines: 65,536 = 13,107 × 5 + 1, so the first chunk ends inside a character.
        let count = 40_000
        let line = Self.gbZhangSan + [0x0A]
        let url = try listFile(bytes: Array([[UInt8]](repeating: line, count: count).joined()), name: "big.txt")
        var seen = 0
        let summary = try IdentifierListReader(url: url, kind: .plain, encoding: .gb18030).forEach { record in
            #expect(record.original == "张三")
            seen += 1
        }
        #expect(seen == count && summary.invalid == 0)
    }

    @Test("An invalid GB18030 sequence makes its value invalid, with its line; the rest is read")
    func gb18030Invalid() throws {
        let url = try listFile(bytes: Array("13800138000\n".utf8) + [0x81, 0x20] + Array("13912345678\n15012345678\n".utf8))
        let (records, summary) = try IdentifierListReader(url: url, kind: .phoneNumber, encoding: .gb18030).readAll()
        #expect(records.map(\.lineNumber) == [1, 3])
        #expect(summary.invalidRecords == [InvalidRecord(lineNumber: 2, reason: .invalidText(encoding: .gb18030))])
    }

    @Test("UTF-16: the byte-order mark decides; explicit byte orders; surrogate pairs across chunks")
    func utf16() throws {
        let text = "手机号,备注\n13800138000,张三😀\n"
        let le = Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let be = Array(text.utf16).flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        func read(_ bytes: [UInt8], _ encoding: ListEncoding) throws -> [String] {
            let url = try listFile(bytes: bytes)
            return try IdentifierListReader(url: url, format: .csv(column: .name("备注")), kind: .plain, encoding: encoding).readAll().records.map(\.original)
        }
        #expect(try read([0xFF, 0xFE] + le, .utf16) == ["张三😀"])
        #expect(try read([0xFE, 0xFF] + be, .utf16) == ["张三😀"])
        #expect(try read(le, .utf16) == ["张三😀"])  // no mark: little-endian
        #expect(try read(be, .utf16BigEndian) == ["张三😀"])
        #expect(try read([0xFF, 0xFE] + le, .utf16LittleEndian) == ["张三😀"])
        let wrongOrder = try listFile(bytes: [0xFE, 0xFF] + be)
        #expect(throws: IdentifierListError.encodingMismatch(path: wrongOrder.path, found: .byteOrderMark(.utf16BigEndian), expected: .utf16LittleEndian)) {
            try IdentifierListReader(url: wrongOrder, kind: .plain, encoding: .utf16LittleEndian).readAll()
        }
        // 9 code units a line (18 bytes), with a surrogate pair: chunk boundaries fall inside pairs.
        let line = Array("138001380😀\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let big = try listFile(bytes: [0xFF, 0xFE] + Array([[UInt8]](repeating: line, count: 20_000).joined()), name: "big16.txt")
        var seen = 0
        _ = try IdentifierListReader(url: big, kind: .plain, encoding: .utf16).forEach { record in
            #expect(record.original == "138001380😀")
            seen += 1
        }
        #expect(seen == 20_000)
    }

    @Test("Read as UTF-8, UTF-16 and UTF-32 are refused with the encoding found, by byte-order mark or by NUL pattern")
    func wideTextRefused() throws {
        let text = "phone\n13800138000\n"
        let units = Array(text.utf16)
        let cases: [([UInt8], FoundEncoding)] = [
            ([0xFF, 0xFE] + units.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, .byteOrderMark(.utf16LittleEndian)),
            ([0xFE, 0xFF] + units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, .byteOrderMark(.utf16BigEndian)),
            (units.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, .nulPattern(.utf16LittleEndian)),
            (units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, .nulPattern(.utf16BigEndian)),
            ([0xFF, 0xFE, 0, 0] + units.flatMap { [UInt8($0), 0, 0, 0] }, .byteOrderMark(.utf32LittleEndian)),
            ([0, 0, 0xFE, 0xFF] + units.flatMap { [0, 0, 0, UInt8($0)] }, .byteOrderMark(.utf32BigEndian)),
            (units.flatMap { [UInt8($0), 0, 0, 0] }, .nulPattern(.utf32LittleEndian)),
            (units.flatMap { [0, 0, 0, UInt8($0)] }, .nulPattern(.utf32BigEndian)),
        ]
        for (bytes, found) in cases {
            let url = try listFile(bytes: bytes)
            for format in [IdentifierListReader.Format.lines, .csv(column: .name("phone"))] {
                #expect(throws: IdentifierListError.encodingMismatch(path: url.path, found: found, expected: .utf8)) {
                    try IdentifierListReader(url: url, format: format, kind: .phoneNumber).readAll()
                }
            }
        }
        let message = IdentifierListError.encodingMismatch(path: "l.csv", found: .byteOrderMark(.utf16LittleEndian), expected: .utf8).localizedDescription
        #expect(message == "l.csv: the file is UTF-16LE (it starts with the byte-order mark FF FE); expected UTF-8 text: read it with --input-encoding utf-16")
    }

    @Test("UTF-8 read as UTF-16 or GB18030 is refused as UTF-8; a UTF-8 mark read as GB18030 too")
    func utf8Misread() throws {
        let url = try listFile("手机号\n13800138000\n")
        for encoding in [ListEncoding.utf16, .utf16BigEndian, .gb18030] {
            #expect(throws: IdentifierListError.encodingMismatch(path: url.path, found: .validText(.utf8), expected: encoding)) {
                try IdentifierListReader(url: url, kind: .plain, encoding: encoding).readAll()
            }
        }
        let marked = try listFile("\u{FEFF}13800138000\n")
        #expect(throws: IdentifierListError.encodingMismatch(path: marked.path, found: .byteOrderMark(.utf8), expected: .gb18030)) {
            try IdentifierListReader(url: marked, kind: .phoneNumber, encoding: .gb18030).readAll()
        }
    }

    @Test("A NUL byte anywhere is refused with its line, in every encoding")
    func nulByte() throws {
        let url = try listFile(bytes: Array("13800138000\n139".utf8) + [0] + Array("12345678\n".utf8))
        #expect(throws: IdentifierListError.nulByte(path: url.path, line: 2)) {
            try IdentifierListReader(url: url, kind: .plain).readAll()
        }
        let wide = try listFile(bytes: [0xFF, 0xFE] + Array("a\nb\u{0}\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        #expect(throws: IdentifierListError.nulByte(path: wide.path, line: 2)) {
            try IdentifierListReader(url: wide, kind: .plain, encoding: .utf16).readAll()
        }
    }
}

@Suite("Whole-list refusals, rejects and canonical forms")
struct ListPolicyTests {
    @Test("A list without a valid value is refused: empty, blank, all invalid, or a column no record has")
    func noValidValues() throws {
        for text in ["", "\n \n\t\n"] {
            let url = try listFile(text)
            #expect(throws: IdentifierListError.noValidValues(path: url.path, read: 0, firstInvalid: nil)) {
                try IdentifierListReader(url: url, kind: .phoneNumber).readAll()
            }
        }
        let invalid = try listFile("hello\n\n12800138000\n")
        #expect(throws: IdentifierListError.noValidValues(path: invalid.path, read: 2, firstInvalid: InvalidRecord(lineNumber: 1, reason: .containsLetters))) {
            try IdentifierListReader(url: invalid, kind: .phoneNumber).readAll()
        }
        let twoColumns = try listFile("x,13800138000\ny,13912345678\n")
        #expect(throws: IdentifierListError.noValidValues(path: twoColumns.path, read: 2,
                                                          firstInvalid: InvalidRecord(lineNumber: 1, reason: .missingColumn(column: 5, fields: 2)))) {
            try IdentifierListReader(url: twoColumns, format: .csvWithoutHeader(column: 5), kind: .phoneNumber).readAll()
        }
        let headed = try listFile("a,phone\nx,13800138000\n")
        #expect(throws: IdentifierListError.columnOutOfRange(path: headed.path, column: 5, headerFields: 2)) {
            try IdentifierListReader(url: headed, format: .csv(column: .number(5)), kind: .phoneNumber).readAll()
        }
    }

    @Test("An invalid-value limit: a count stops at the first value over it, a fraction is checked at the end")
    func invalidLimit() throws {
        let url = try listFile("13800138000\nx\n13912345678\ny\nz\n15012345678\n")
        func read(_ limit: InvalidValueLimit) throws -> ListSummary {
            try IdentifierListReader(url: url, kind: .phoneNumber, invalidLimit: limit).readAll().summary
        }
        #expect(try read(.count(3)).invalid == 3)
        #expect(throws: IdentifierListError.tooManyInvalidValues(path: url.path, invalid: 3, read: 5, limit: .count(2))) { try read(.count(2)) }
        #expect(throws: IdentifierListError.tooManyInvalidValues(path: url.path, invalid: 1, read: 2, limit: .count(0))) { try read(.count(0)) }
        #expect(try read(.fraction(0.5)).invalid == 3)
        #expect(throws: IdentifierListError.tooManyInvalidValues(path: url.path, invalid: 3, read: 6, limit: .fraction(0.4))) { try read(.fraction(0.4)) }
        #expect(IdentifierListError.tooManyInvalidValues(path: "l", invalid: 3, read: 6, limit: .fraction(0.4)).localizedDescription
            == "l: 3 of the 6 values read are invalid (50%); the limit is 40% (--max-invalid)")
    }

    @Test("The rejects file: every invalid row with line, reason, value and record; mode 0600; written also when the list is refused")
    func rejectsFile() throws {
        let url = try listFile("id;phone;note\n1;13800138000;ok\n2;hello;\"a;b\"\n3\n4;12800138000;x\n")
        let rejects = url.deletingLastPathComponent().appendingPathComponent("rejects.csv")
        let reader = IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber, delimiter: .semicolon,
                                          rejectsURL: rejects)
        let (records, summary) = try reader.readAll()
        #expect(records.count == 1 && summary.invalid == 3)
        let expected = "line,reason,value,record\r\n"
            + "3,\"phone number contains letters; expected digits, an optional leading +, and separators\",hello,\"2;hello;\"\"a;b\"\"\"\r\n"
            + "4,record has 1 fields; expected a value in column 2,,3\r\n"
            + "5,mainland mobile number must match 1[3-9] followed by 9 digits,12800138000,4;12800138000;x\r\n"
        #expect(try String(contentsOf: rejects, encoding: .utf8) == expected)
        let mode = try FileManager.default.attributesOfItem(atPath: rejects.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Refused for too many invalid values: the rows up to the refusal are written.
        let limited = IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber, delimiter: .semicolon,
                                           invalidLimit: .count(1), rejectsURL: rejects)
        #expect(throws: IdentifierListError.tooManyInvalidValues(path: url.path, invalid: 2, read: 3, limit: .count(1))) { try limited.readAll() }
        #expect(try String(contentsOf: rejects, encoding: .utf8) == expected.split(separator: "\r\n").prefix(3).map { $0 + "\r\n" }.joined())
        // The list itself, or a link to it, is never replaced by its rejects.
        let link = url.deletingLastPathComponent().appendingPathComponent("link.csv")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url)
        for target in [url, link] {
            #expect(throws: OutputFileError.samePath(path: target.path, first: "the list", second: "the rejects file")) {
                try IdentifierListReader(url: url, kind: .phoneNumber, rejectsURL: target).readAll()
            }
        }
        #expect(try String(contentsOf: url, encoding: .utf8).hasPrefix("id;phone"))
    }

    @Test("Canonical forms: every value with its canonical form or its error, in file order")
    func canonicalForms() throws {
        let url = try listFile("phone\n+86 138-0013-8000\nhello\n\n\"400-820-8820\"\n")
        var text = ""
        let summary = try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber)
            .writeCanonicalForms { text += $0 }
        #expect(text == "line,value,canonical,error\r\n2,+86 138-0013-8000,+8613800138000,\r\n"
            + "3,hello,,\"phone number contains letters; expected digits, an optional leading +, and separators\"\r\n"
            + "5,400-820-8820,+864008208820,\r\n")
        #expect(summary.valid == 2 && summary.invalid == 1 && summary.blank == 1)
    }
}

@Suite("List options through the psi binary", .serialized)
struct ListCommandTests {
    static func folder() throws -> URL { try temporaryDirectory() }

    static func initiate(_ list: String, in folder: URL, _ extra: [String]) throws -> PSICommand.Result {
        try TwoBanks.equip(folder, identity: TestParties.a, peer: ("Bank B", TestParties.b.publicKey))
        return try PSICommand.run(["initiate", "--kind", "phone", "--input", list, "--purpose", "list options", "--state", "a.state",
                                   "--out", "1.spsi", "--identity", "bank.identity", "--peers", "peers.json", "--peer", "Bank B"] + extra,
                                  in: folder)
    }

    @Test("Wholly invalid lists exit 65 and leave neither message nor state: all invalid, UTF-16, --column 5, NUL bytes")
    func whollyInvalid() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("hello\nworld\n".utf8).write(to: dir.appendingPathComponent("invalid.txt"))
        try Data([0xFF, 0xFE] + Array("13800138000\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
            .write(to: dir.appendingPathComponent("utf16.txt"))
        try Data("a,b\nx,13800138000\n".utf8).write(to: dir.appendingPathComponent("two.csv"))
        try Data([0x31, 0x33, 0x38, 0, 0x0A]).write(to: dir.appendingPathComponent("nul.txt"))
        let cases: [(String, [String], String)] = [
            ("invalid.txt", [], "none of the 2 values read is valid (the first invalid, line 1: phone number contains letters"),
            ("utf16.txt", [], "the file is UTF-16LE (it starts with the byte-order mark FF FE); expected UTF-8 text: read it with --input-encoding utf-16"),
            ("two.csv", ["--column", "5"], "column 5, but the header line has 2 fields"),
            ("two.csv", ["--column", "5", "--no-header"], "record has 2 fields; expected a value in column 5"),
            ("nul.txt", [], "line 1: a NUL byte"),
        ]
        for (list, extra, message) in cases {
            let result = try Self.initiate(list, in: dir, extra)
            #expect(result.status == 65, "\(list) \(extra): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("1.spsi").path))
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("a.state").path))
        }
        // The same UTF-16 list read with --input-encoding utf-16 works.
        try expectSuccess(Self.initiate("utf16.txt", in: dir, ["--input-encoding", "utf-16"]))
    }

    @Test("--max-invalid (count or percentage) and --rejects (mode 0600, counted in the summary)")
    func maxInvalidAndRejects() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("phone\n13800138000\nbad\n13912345678\n12800138000\n".utf8).write(to: dir.appendingPathComponent("list.csv"))
        let column = ["--column", "phone"]
        let refused = try Self.initiate("list.csv", in: dir, column + ["--max-invalid", "1", "--rejects", "rejects.csv"])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("2 invalid values among the first 4 read; the limit is 1 (--max-invalid)"))
        #expect(try String(contentsOf: dir.appendingPathComponent("rejects.csv"), encoding: .utf8).split(separator: "\r\n").count == 3)
        #expect(try Self.initiate("list.csv", in: dir, column + ["--max-invalid", "25%"]).status == 65)
        let accepted = try Self.initiate("list.csv", in: dir, column + ["--max-invalid", "50%", "--rejects", "rejects.csv"])
        try expectSuccess(accepted)
        #expect(accepted.stderr.contains("2 invalid, ") && accepted.stderr.contains("wrote 2 invalid rows to rejects.csv"))
        #expect(try fileMode(dir.appendingPathComponent("rejects.csv")) == 0o600)
        #expect(try String(contentsOf: dir.appendingPathComponent("rejects.csv"), encoding: .utf8)
            == "line,reason,value,record\r\n"
            + "3,\"phone number contains letters; expected digits, an optional leading +, and separators\",bad,bad\r\n"
            + "5,mainland mobile number must match 1[3-9] followed by 9 digits,12800138000,12800138000\r\n")
        // Usage errors (64) before any reading.
        for bad in [["--max-invalid", "-1"], ["--max-invalid", "101%"], ["--delimiter", "x"], ["--input-encoding", "latin1"],
                    ["--rejects", "list.csv"]] {
            #expect(try Self.initiate("list.csv", in: dir, column + bad).status == 64, "\(bad)")
        }
        #expect(try Self.initiate("list.csv", in: dir, ["--delimiter", "tab"]).status == 64)
        #expect(try Self.initiate("list.csv", in: dir, column + ["--rejects", "1.spsi"]).status == 64)  // the message's path
        // A rejects file that cannot be created is an output failure (73), and nothing is sent.
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("1.spsi"))
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("a.state"))
        let noFolder = try Self.initiate("list.csv", in: dir, column + ["--rejects", "missing/rejects.csv"])
        #expect(noFolder.status == 73, "\(noFolder.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("1.spsi").path))
    }

    @Test("psi canonicalize: a GB18030 tab-separated export, each value's canonical form or error")
    func canonicalize() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // "编号\t手机号\n" in GB18030, then rows.
        let header: [UInt8] = [0xB1, 0xE0, 0xBA, 0xC5, 0x09, 0xCA, 0xD6, 0xBB, 0xFA, 0xBA, 0xC5, 0x0A]
        try Data(header + Array("C1\t+886 (0)912 345 678\nC2\t400-820-8820\nC3\t138 0013 800\n".utf8))
            .write(to: dir.appendingPathComponent("export.tsv"))
        let result = try PSICommand.run(["canonicalize", "--kind", "phone", "--input", "export.tsv", "--column", "手机号",
                                         "--delimiter", "tab", "--input-encoding", "gb18030"], in: dir)
        try expectSuccess(result)
        #expect(result.stdout == "line,value,canonical,error\r\n2,+886 (0)912 345 678,+886912345678,\r\n3,400-820-8820,+864008208820,\r\n"
            + "4,138 0013 800,,number has 10 digits; expected at least 11\r\n")
        #expect(result.stderr.contains("read 3 values: 2 valid, 1 invalid"))
        // Read as UTF-8, the encoding is named.
        let wrong = try PSICommand.run(["canonicalize", "--kind", "phone", "--input", "export.tsv", "--column", "手机号", "--delimiter", "tab"], in: dir)
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("the file is GB18030 (its bytes are valid GB18030 text); expected UTF-8 text: read it with --input-encoding gb18030"))
        #expect(wrong.stdout.isEmpty)
    }

    @Test("A GB18030 export and a UTF-8 list find their common numbers")
    func gb18030Exchange() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        // "手机号,备注\n" in GB18030, then numbers and a Chinese note ("张三").
        let header: [UInt8] = [0xCA, 0xD6, 0xBB, 0xFA, 0xBA, 0xC5, 0x2C, 0xB1, 0xB8, 0xD7, 0xA2, 0x0A]
        let zhangSan: [UInt8] = [0xD5, 0xC5, 0xC8, 0xFD]
        try Data(header + Array("+44 (0)20 7946 0958,".utf8) + zhangSan + Array("\n400-820-8820,x\n13912345678,y\n".utf8))
            .write(to: banks.a.appendingPathComponent("export.csv"))
        try Data("+442079460958\n+86 400 820 8820\n15012345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        let common = ["--kind", "phone", "--purpose", "gb18030 exchange"]
        try expectSuccess(banks.run(["initiate", "--input", "export.csv", "--column", "手机号", "--input-encoding", "gb18030",
                                          "--state", "a.state", "--out", "1.spsi"] + common, in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try expectSuccess(banks.run(["respond", "--input", "list.txt", "--initiator-blinded", "1.spsi", "--state", "b.state",
                                          "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"] + common, in: banks.b))
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        try expectSuccess(banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                                          "--out-responder-reblinded", "3.spsi", "--out", "matches.csv"], in: banks.a))
        #expect(try banks.matches(banks.a) == ["+442079460958", "+864008208820"])
    }
}
