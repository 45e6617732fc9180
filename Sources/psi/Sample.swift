import ArgumentParser
import Foundation
import SodiumPSI

/// Synthetic lists for the demo: two banks' suspected agent numbers and forged-document
/// fingerprints, written in mixed styles, with a known overlap.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write two banks' synthetic lists with a known overlap (for the demo and for trying the tool).")

    @Option(name: .long, help: "Folder for bank A's lists.") var bankA: String
    @Option(name: .long, help: "Folder for bank B's lists.") var bankB: String
    @Option(name: .long, help: "Folder for the answer key (the true overlaps), shared with neither bank.") var answer: String
    @Option(name: .long, help: "Phone numbers per bank.") var phones = 3_000
    @Option(name: .long, help: "Phone numbers both banks hold.") var phoneOverlap = 250
    @Option(name: .long, help: "Document fingerprints per bank.") var documents = 1_000
    @Option(name: .long, help: "Document fingerprints both banks hold.") var documentOverlap = 60
    @Option(name: .long, help: "Random seed (the same seed writes the same lists).") var seed: UInt64 = 2026

    func validate() throws {
        guard phoneOverlap <= phones, documentOverlap <= documents, phones >= 0, documents >= 0,
              phoneOverlap >= 0, documentOverlap >= 0 else {
            throw ValidationError("overlaps must be between 0 and the list sizes")
        }
    }

    func run() throws {
        var rng = SplitMix64(seed: seed)
        // Distinct canonical numbers: overlap first, then each bank's own.
        var numbers = Set<String>()
        while numbers.count < 2 * phones - phoneOverlap {
            let prefix = ["13", "15", "17", "18", "19", "14", "16"][Int(rng.next() % 7)]
            numbers.insert(prefix + String(format: "%09llu", rng.next() % 1_000_000_000))
        }
        let allNumbers = numbers.sorted().shuffled(using: &rng)
        let sharedNumbers = Array(allNumbers[0..<phoneOverlap])
        let numbersA = sharedNumbers + allNumbers[phoneOverlap..<phones]
        let numbersB = sharedNumbers + allNumbers[phones..<(2 * phones - phoneOverlap)]

        var digests = Set<String>()
        while digests.count < 2 * documents - documentOverlap {
            digests.insert((0..<4).map { _ in String(format: "%016llx", rng.next()) }.joined())
        }
        let allDigests = digests.sorted().shuffled(using: &rng)
        let sharedDigests = Array(allDigests[0..<documentOverlap])
        let digestsA = sharedDigests + allDigests[documentOverlap..<documents]
        let digestsB = sharedDigests + allDigests[documents..<(2 * documents - documentOverlap)]

        for folder in [bankA, bankB, answer] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        try write(phoneCSV(numbersA.shuffled(using: &rng), header: "case_id,agent_phone,risk_tag,note", rng: &rng),
                  to: "\(bankA)/agent-phones.csv")
        // Bank B's case system exports Chinese column names (the demo converts the file to GB18030).
        try write(phoneCSV(numbersB.shuffled(using: &rng), header: "案件编号,代理电话,风险等级,备注", rng: &rng),
                  to: "\(bankB)/agent-phones.csv")
        try write(digestList(digestsA.shuffled(using: &rng), rng: &rng), to: "\(bankA)/forged-documents.txt")
        try write(digestList(digestsB.shuffled(using: &rng), rng: &rng), to: "\(bankB)/forged-documents.txt")
        try write(sharedNumbers.map { "+86" + $0 }.sorted().joined(separator: "\n") + "\n", to: "\(answer)/phones.txt")
        try write(sharedDigests.map { "sha256:" + $0 }.sorted().joined(separator: "\n") + "\n", to: "\(answer)/documents.txt")
        print("wrote \(phones) phone numbers and \(documents) document fingerprints per bank; \(phoneOverlap) and \(documentOverlap) shared")
    }

    /// A case-system export: a case number, the agent's number written in one of the styles
    /// seen in real exports, a risk tag and a note. One number in ten appears in a second case,
    /// written another way, as agents serve several debtors.
    private func phoneCSV(_ numbers: [String], header: String, rng: inout SplitMix64) -> String {
        let notes = ["call forwarding reported", "complaint filed, \"agent\" on the line", "hardship papers, hospital",
                     "SIM mailed to third party", "mass complaint, CBIRC hotline"]
        let tags = ["high", "medium", "low"]
        var rows = numbers
        for number in numbers where rng.next() % 10 == 0 { rows.insert(number, at: Int(rng.next() % UInt64(rows.count + 1))) }
        var csv = header + "\r\n"
        for (index, number) in rows.enumerated() {
            let note = notes[Int(rng.next() % UInt64(notes.count))]
            let quoted = "\"" + note.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            csv += "C\(100_000 + index),\(style(number, rng.next() % 6)),\(tags[Int(rng.next() % 3)]),\(quoted)\r\n"
        }
        return csv
    }

    private func style(_ n: String, _ which: UInt64) -> String {
        let a = n.prefix(3), b = n.dropFirst(3).prefix(4), c = n.suffix(4)
        switch which {
        case 0: return n
        case 1: return "+86 \(a)-\(b)-\(c)"
        case 2: return "0086 \(a) \(b) \(c)"
        case 3: return "86" + n
        case 4: return String(n.unicodeScalars.map { Character(Unicode.Scalar($0.value - 0x30 + 0xFF10)!) })
        default: return "(+86) \(a).\(b).\(c)"
        }
    }

    private func digestList(_ digests: [String], rng: inout SplitMix64) -> String {
        digests.map { digest in
            switch rng.next() % 3 {
            case 0: return digest
            case 1: return "sha256:" + digest
            default: return "SHA256:" + digest.uppercased()
            }
        }.joined(separator: "\n") + "\n"
    }

    private func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

