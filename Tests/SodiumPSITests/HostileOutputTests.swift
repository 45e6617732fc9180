import Foundation
import Testing
@testable import SodiumPSI

@Suite("Crashes and leaks", .serialized)
struct HostileOutputTests {
    @Test("Killing psi while it writes its output leaves nothing under the final name and the input untouched")
    func killDuringWrite() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, _, _) = PSICommandTests.phoneLists(seed: 11, sizeA: 2_000, sizeB: 1, shared: 1)
        let input = banks.a.appendingPathComponent("list.txt")
        try Data(listA.utf8).write(to: input)
        let inputBefore = try Data(contentsOf: input)
        let marker = banks.root.appendingPathComponent("paused")

        let process = Process()
        process.executableURL = PSICommand.executable
        process.arguments = ["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                             "--state", "a.state", "--out", "1.spsi"] + banks.parties(banks.a)
        process.currentDirectoryURL = banks.a
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SODIUM_PSI_TEST_PAUSE_BEFORE_RENAME": marker.path]) { $1 }
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the message is fully written under its temporary name.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker.path) && Date() < deadline && process.isRunning {
            usleep(5_000)
        }
        #expect(FileManager.default.fileExists(atPath: marker.path), "psi never reached the write")
        let temporary = try String(contentsOf: marker, encoding: .utf8)
        #expect(temporary.hasSuffix(".partial") && FileManager.default.fileExists(atPath: temporary))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1.spsi").path))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("a.state").path))
        #expect(try Data(contentsOf: input) == inputBefore)
        // Without the pause the same command completes and its output verifies.
        try expectSuccess(PSICommand.run(process.arguments!, in: banks.a))
        #expect(try MessageFileReader.inspect(url: banks.a.appendingPathComponent("1.spsi")).digestValid)
    }

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
        let secretA = Array(try [UInt8](Data(contentsOf: banks.a.appendingPathComponent("a.state")))[10..<42])
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try run(["respond"] + common + ["--request", "1.spsi", "--state", "b.state", "--out-blinded", "2a.spsi",
                                        "--out-reblinded", "2b.spsi"], banks.b)
        let secretB = Array(try [UInt8](Data(contentsOf: banks.b.appendingPathComponent("b.state")))[10..<42])
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        try run(["finish", "--state", "a.state", "--responder-set", "2a.spsi", "--reblinded", "2b.spsi", "--reply", "3.spsi",
                 "--output", "matches.csv"], banks.a)
        try banks.transfer("3.spsi", from: banks.a, to: banks.b)
        try run(["finish", "--state", "b.state", "--reblinded", "3.spsi", "--output", "matches.csv"], banks.b)
        // A refused step prints an error; errors must not leak either.
        let refused = try banks.run(["finish", "--state", "b.state", "--reblinded", "1.spsi"], in: banks.b)
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
