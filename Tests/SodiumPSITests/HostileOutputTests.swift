import Foundation
import Testing
@testable import SodiumPSI

@Suite("Crashes and leaks", .serialized)
struct HostileOutputTests {
    @Test("No output, error or message contains a secret scalar or the peer's un-blinded values")
    func noSecretsInOutputs() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, listB, expected) = PSICommandTests.phoneLists(seed: 12, sizeA: 60, sizeB: 50, shared: 10)
        try Data(listA.utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data(listB.utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        var outputsA = "", outputsB = ""
        func run(_ args: [String], _ side: URL) throws {
            let result = try banks.run(args + ["--json"], in: side)
            try expectSuccess(result)
            if side == banks.a { outputsA += result.stdout + result.stderr } else { outputsB += result.stdout + result.stderr }
        }
        let common = ["--kind", "phone", "--input", "list.txt", "--purpose", "leak test"]
        try run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], banks.a)
        let secretA = Array(try [UInt8](Data(contentsOf: banks.a.appendingPathComponent("a.state")))[19..<51])
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try run(["respond"] + common + ["--initiator-blinded", "1.spsi", "--state", "b.state", "--out-responder-blinded", "2a.spsi",
                                        "--out-initiator-reblinded", "2b.spsi"], banks.b)
        let secretB = Array(try [UInt8](Data(contentsOf: banks.b.appendingPathComponent("b.state")))[19..<51])
        // They are the secrets the states hold (the container's secret section).
        #expect(try PartyStateFile.Reader(url: banks.a.appendingPathComponent("a.state"), role: .initiator).secret.withUnsafeBytes { Array($0) } == secretA)
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        try run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi", "--out-responder-reblinded", "3.spsi",
                 "--out", "matches.csv"], banks.a)
        try banks.transfer("3.spsi", from: banks.a, to: banks.b)
        try run(["finish", "--state", "b.state", "--responder-reblinded", "3.spsi", "--out", "matches.csv"], banks.b)
        // A refused step prints an error; errors must not leak either.
        let refused = try banks.run(["finish", "--state", "b.state", "--responder-reblinded", "1.spsi"], in: banks.b)
        #expect(refused.status == 76)
        outputsB += refused.stderr

        let messages = try ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi"].map { try [UInt8](Data(contentsOf: banks.a.appendingPathComponent($0))) }
        for secret in [secretA, secretB] {
            for text in [outputsA, outputsB] {
                #expect(!text.contains(secret.hexString))
                #expect(!text.lowercased().contains(Data(secret).base64EncodedString().lowercased()))
            }
            for message in messages { #expect(!contains(message, secret)) }
        }
        // What A prints and saves names none of B's numbers outside the intersection, and vice versa.
        let numbersA = Set(listA.split(separator: "\n").map { "+86" + $0 })
        let numbersB = Set(try listB.split(separator: "\n").map { try Identifier.phoneNumber(String($0)).canonical })
        let matchesA = try String(contentsOf: banks.a.appendingPathComponent("matches.csv"), encoding: .utf8)
        let matchesB = try String(contentsOf: banks.b.appendingPathComponent("matches.csv"), encoding: .utf8)
        for number in numbersB.subtracting(expected) {
            #expect(!(outputsA + matchesA).contains(number) && !(outputsA + matchesA).contains(number.dropFirst(3)))
        }
        for number in numbersA.subtracting(expected) {
            #expect(!(outputsB + matchesB).contains(number) && !(outputsB + matchesB).contains(number.dropFirst(3)))
        }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
