// libFuzzer target: the list and CSV reader must read or refuse any file in any encoding and
// with any delimiter, never crash, and its counts must add up.
// The first input byte chooses the encoding (low 3 bits), the delimiter (next 2) and an
// invalid-value limit (top 3); the rest is the file.
// Built only by scripts/fuzz.sh (SODIUM_PSI_FUZZ=1); see Package.swift.
import Foundation
import FuzzDriver
import SodiumPSI

let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-list-\(getpid()).csv")

func check(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count >= 1 else { return 0 }
    let settings = bytes[0]
    guard (try? Data(bytes: bytes + 1, count: count - 1).write(to: path)) != nil else { return 0 }
    let encodings = ListEncoding.allCases
    let encoding = encodings[Int(settings & 7) % encodings.count]
    let delimiter = Delimiter.allCases[Int(settings >> 3) & 3]
    let limits: [InvalidValueLimit?] = [nil, nil, nil, nil, .count(0), .count(2), .fraction(0), .fraction(0.5)]
    let limit = limits[Int(settings >> 5)]
    let formats: [IdentifierListReader.Format] = [.lines, .csv(column: .number(1)), .csv(column: .number(2)), .csv(column: .name("phone")),
                                                   .csvWithoutHeader(column: 2)]
    for format in formats {
        for kind in Identifier.Kind.allCases {
            var seen = 0, rejected = 0
            var lastLine = 0
            let reader = IdentifierListReader(url: path, format: format, kind: kind, policy: .skip, delimiter: delimiter,
                                              encoding: encoding, invalidLimit: limit)
            guard let summary = try? reader.forEach({ record in
                seen += 1
                precondition(record.lineNumber > lastLine, "line numbers must increase")
                lastLine = record.lineNumber
            }, rejected: { record in
                rejected += 1
                precondition(record.lineNumber > lastLine, "line numbers must increase")
                lastLine = record.lineNumber
            }) else { continue }
            precondition(summary.valid == seen && summary.invalid == rejected, "callbacks do not match the counts")
            precondition(summary.read == summary.valid + summary.invalid, "counts do not add up")
            precondition(summary.valid >= 1, "a list without a valid value was accepted")
            precondition(summary.invalidRecords.count == min(summary.invalid, ListSummary.invalidRecordsKept))
            switch limit {
            case .count(let n)?: precondition(summary.invalid <= n, "the invalid-value limit was not kept")
            case .fraction(let f)?: precondition(Double(summary.invalid) <= f * Double(summary.read), "the invalid-value limit was not kept")
            case nil: break
            }
        }
    }
    return 0
}

runFuzzer { check($0, $1) }
