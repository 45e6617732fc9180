// libFuzzer target: the list and CSV reader must read or refuse any file, never crash, and
// its counts must add up.
// Built only by scripts/fuzz.sh (SODIUM_PSI_FUZZ=1); see Package.swift.
import Foundation
import FuzzDriver
import SodiumPSI

let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-list-\(getpid()).csv")

func check(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard (try? Data(bytes: bytes, count: count).write(to: path)) != nil else { return 0 }
    let formats: [IdentifierListReader.Format] = [.lines, .csv(column: .number(1)), .csv(column: .number(2)), .csv(column: .name("phone")),
                                                   .csvWithoutHeader(column: 2)]
    for format in formats {
        for kind in Identifier.Kind.allCases {
            var seen = 0
            var lastLine = 0
            let reader = IdentifierListReader(url: path, format: format, kind: kind, policy: .skip)
            guard let summary = try? reader.forEach({ record in
                seen += 1
                precondition(record.lineNumber > lastLine, "line numbers must increase")
                lastLine = record.lineNumber
            }) else { continue }
            precondition(summary.valid == seen && summary.read == summary.valid + summary.invalid, "counts do not add up")
            precondition(summary.invalidRecords.count == min(summary.invalid, ListSummary.invalidRecordsKept))
        }
    }
    return 0
}

runFuzzer { check($0, $1) }
