import Foundation
import Testing
@testable import SodiumPSI

/// Writes `text` (exact bytes) to a fresh temporary file.
func listFile(_ text: String, name: String = "list.csv") throws -> URL {
    let url = try temporaryDirectory().appendingPathComponent(name)
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

    @Test("A column name missing from a headerless file does not echo its first line")
    func columnNotFoundHidesData() throws {
        let url = try listFile("13800138000,x\n")
        let error = IdentifierListError.columnNotFound(path: url.path, name: "phone", headerFields: 2)
        #expect(throws: error) { try IdentifierListReader(url: url, format: .csv(column: .name("phone")), kind: .phoneNumber).readAll() }
        #expect(!error.localizedDescription.contains("13800138000"))
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
        // An empty headerless file is simply empty.
        let empty = try listFile("")
        #expect(try IdentifierListReader(url: empty, format: .csvWithoutHeader(column: 1), kind: .phoneNumber).readAll().records.isEmpty)
    }

    @Test("CSV: missing column name, bad column number, unterminated quote, empty file")
    func csvErrors() throws {
        let url = try listFile("id,phone\n1,13800138000\n")
        #expect(throws: IdentifierListError.columnNotFound(path: url.path, name: "mobile", headerFields: 2)) {
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
            InvalidRecord(lineNumber: 3, reason: .invalidUTF8),
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
