import Foundation
import Testing
@testable import SodiumPSI

/// Runs the real `psi` executable built next to the test bundle.
struct PSICommand {
    static var executable: URL {
        // The test bundle and the executables share the build products folder.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("psi")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return products.appendingPathComponent("psi")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `psi` (or another `program`, with extra environment variables) in `folder`.
    @discardableResult
    static func run(_ arguments: [String], in folder: URL, program: URL = executable, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        process.currentDirectoryURL = folder
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// Two institutions in two folders that share only the message files copied between them.
struct TwoBanks {
    let root: URL, a: URL, b: URL

    init() throws {
        root = try temporaryDirectory()
        a = root.appendingPathComponent("bank-a")
        b = root.appendingPathComponent("bank-b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
    }

    func transfer(_ name: String, from: URL, to: URL) throws {
        try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: to.appendingPathComponent(name))
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }

    /// Runs every step of an exchange and returns each side's `finish` JSON summary (nil if the side has no finish step).
    func exchange(listA: String, listB: String, kind: String, outcome: MutualPSIOutcome, extra: [String] = [])
        throws -> (a: [String: Any], b: [String: Any]?) {
        try Data(listA.utf8).write(to: a.appendingPathComponent("list.txt"))
        try Data(listB.utf8).write(to: b.appendingPathComponent("list.txt"))
        let common = ["--kind", kind, "--input", "list.txt", "--purpose", "test exchange", "--outcome", outcome.description] + extra
        try expectSuccess(PSICommand.run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], in: a))
        try transfer("1.spsi", from: a, to: b)
        try expectSuccess(PSICommand.run(["respond"] + common + ["--request", "1.spsi", "--state", "b.state",
                                                                  "--out-blinded", "2a.spsi", "--out-reblinded", "2b.spsi"], in: b))
        try transfer("2a.spsi", from: b, to: a)
        try transfer("2b.spsi", from: b, to: a)
        let finishA = try PSICommand.run(["finish", "--state", "a.state", "--responder-set", "2a.spsi", "--reblinded", "2b.spsi",
                                          "--reply", "3.spsi", "--output", "matches.csv", "--json"], in: a)
        try expectSuccess(finishA)
        let jsonA = try JSONSerialization.jsonObject(with: Data(finishA.stdout.utf8)) as! [String: Any]
        guard outcome != .initiatorLearns else {
            #expect(!FileManager.default.fileExists(atPath: a.appendingPathComponent("3.spsi").path))
            return (jsonA, nil)
        }
        try transfer("3.spsi", from: a, to: b)
        let finishB = try PSICommand.run(["finish", "--state", "b.state", "--reblinded", "3.spsi", "--output", "matches.csv", "--json"], in: b)
        try expectSuccess(finishB)
        return (jsonA, try JSONSerialization.jsonObject(with: Data(finishB.stdout.utf8)) as? [String: Any])
    }

    /// The canonical values in a side's matches file.
    func matches(_ side: URL) throws -> Set<String> {
        let text = try String(contentsOf: side.appendingPathComponent("matches.csv"), encoding: .utf8)
        let lines = text.split(separator: "\r\n").dropFirst()
        return Set(lines.map { String($0.split(separator: ",").last!) })
    }
}

func expectSuccess(_ result: PSICommand.Result, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(result.status == 0, "psi failed: \(result.stderr)", sourceLocation: sourceLocation)
    if result.status != 0 { throw CancellationError() }
}

@Suite("psi command end to end", .serialized)
struct PSICommandTests {
    static func phoneLists(seed: UInt64, sizeA: Int, sizeB: Int, shared: Int) -> (a: String, b: String, expected: Set<String>) {
        var rng = SplitMix64(seed: seed)
        var numbers = Set<String>()
        while numbers.count < sizeA + sizeB - shared { numbers.insert("139\(String(format: "%08llu", rng.next() % 100_000_000))") }
        let all = Array(numbers)
        let common = Array(all[0..<shared])
        let listA = common + all[shared..<sizeA]
        let listB = common + all[sizeA..<(sizeA + sizeB - shared)]
        // A writes numbers plainly; B writes them in the +86 style with separators.
        let styledB = listB.map { "+86 \($0.prefix(3))-\($0.dropFirst(3).prefix(4))-\($0.suffix(4))" }
        return (listA.joined(separator: "\n") + "\n", styledB.joined(separator: "\n") + "\n", Set(common.map { "+86" + $0 }))
    }

    @Test("Every outcome: each side's result equals the Set intersection", arguments: MutualPSIOutcome.allCases)
    func outcomes(_ outcome: MutualPSIOutcome) throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, listB, expected) = Self.phoneLists(seed: UInt64(outcome.rawValue), sizeA: 300, sizeB: 250, shared: 40)
        let (jsonA, jsonB) = try banks.exchange(listA: listA, listB: listB, kind: "phone", outcome: outcome)
        #expect(jsonA["intersection_size"] as? Int == expected.count)
        #expect(jsonA["peer_set_size"] as? Int == 250)
        switch outcome {
        case .bothLearn:
            #expect(try banks.matches(banks.a) == expected)
            #expect(try banks.matches(banks.b) == expected)
            #expect(jsonB?["intersection_size"] as? Int == expected.count)
        case .initiatorLearns:
            #expect(try banks.matches(banks.a) == expected)
            #expect(jsonB == nil)
            #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("matches.csv").path))
        case .cardinalityOnly:
            #expect(jsonB?["intersection_size"] as? Int == expected.count)
            #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("matches.csv").path))
        }
        // State and result files are private to their owner.
        #expect(try fileMode(banks.a.appendingPathComponent("a.state")) == 0o600)
    }

    @Test("--suite x25519-ell2-sha512 runs the whole exchange; inspect shows the suite")
    func x25519Suite() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, listB, expected) = Self.phoneLists(seed: 9, sizeA: 120, sizeB: 90, shared: 30)
        _ = try banks.exchange(listA: listA, listB: listB, kind: "phone", outcome: .bothLearn, extra: ["--suite", "x25519-ell2-sha512"])
        #expect(try banks.matches(banks.a) == expected)
        #expect(try banks.matches(banks.b) == expected)
        let inspect = try PSICommand.run(["inspect", "1.spsi", "--json"], in: banks.b)
        let json = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [String: Any]
        #expect(json["suite"] as? String == "x25519-ELL2-SHA512")
    }

    @Test("--suite x25519-sha256, the retired suite, is refused with the reason")
    func retiredSuite() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try "13800138000\n".write(to: banks.a.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let run = try PSICommand.run(["initiate", "--input", "a.txt", "--kind", "phone", "--purpose", "p", "--suite", "x25519-sha256",
                                      "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(run.status == 64)
        #expect(run.stderr.contains(PSIError.retiredSuite(id: 2).localizedDescription))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1.spsi").path))
    }

    @Test("Matches are reported as the operator wrote them, with line numbers")
    func originalLines() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        _ = try banks.exchange(listA: "13800138000\n13912345678\n", listB: "０１０\n+86 138-0013-8000\n", kind: "phone", outcome: .bothLearn,
                               extra: ["--on-invalid", "skip"])
        let textB = try String(contentsOf: banks.b.appendingPathComponent("matches.csv"), encoding: .utf8)
        #expect(textB == "line,value,canonical\r\n2,+86 138-0013-8000,+8613800138000\r\n")
    }

    @Test("Without --output, --json lists the matches in the summary")
    func jsonMatches() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n13912345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data("+86 139 1234 5678\n15012345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        let common = ["--kind", "phone", "--input", "list.txt", "--purpose", "p", "--outcome", "initiator-learns"]
        try expectSuccess(PSICommand.run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try expectSuccess(PSICommand.run(["respond"] + common + ["--request", "1.spsi", "--state", "b.state",
                                                                  "--out-blinded", "2a.spsi", "--out-reblinded", "2b.spsi"], in: banks.b))
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        let finish = try PSICommand.run(["finish", "--state", "a.state", "--responder-set", "2a.spsi", "--reblinded", "2b.spsi", "--json"],
                                        in: banks.a)
        try expectSuccess(finish)
        let json = try JSONSerialization.jsonObject(with: Data(finish.stdout.utf8)) as! [String: Any]
        let matches = try #require(json["matches"] as? [[String: Any]])
        #expect(matches.count == 1)
        #expect(matches.first?["line"] as? Int == 2)
        #expect(matches.first?["value"] as? String == "13912345678")
        #expect(matches.first?["canonical"] as? String == "+8613912345678")
    }

    @Test("A state file readable by others is refused with exit code 76")
    func looseStateFile() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try expectSuccess(PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: banks.a.appendingPathComponent("a.state").path)
        let result = try PSICommand.run(["finish", "--state", "a.state", "--responder-set", "1.spsi", "--reblinded", "2b.spsi"], in: banks.a)
        #expect(result.status == 76)
        #expect(result.stderr.contains("permissions 644"))
    }

    @Test("Exit codes: usage 64, bad input 65, missing file 66, protocol 76")
    func exitCodes() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        #expect(try PSICommand.run(["initiate", "--kind", "phone"], in: banks.a).status == 64)
        let noHeaderByName = try PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--column", "phone", "--no-header",
                                                 "--purpose", "p", "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(noHeaderByName.status == 64)
        #expect(noHeaderByName.stderr.contains("--no-header needs --column with a column number"))
        try Data("13800138000\nnot a number\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        let stop = try PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--on-invalid", "stop",
                                       "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(stop.status == 65)
        #expect(stop.stderr.contains("line 2"))
        #expect(!stop.stderr.contains("not a number"))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1.spsi").path))
        let missing = try PSICommand.run(["initiate", "--kind", "phone", "--input", "nope.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(missing.status == 66)
        // The responder refuses a request under another purpose label.
        try expectSuccess(PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try Data("13800138000\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        let other = try PSICommand.run(["respond", "--kind", "phone", "--input", "list.txt", "--purpose", "q", "--request", "1.spsi",
                                        "--state", "b.state", "--out-blinded", "2a.spsi", "--out-reblinded", "2b.spsi"], in: banks.b)
        #expect(other.status == 76)
        #expect(other.stderr.contains("purpose"))
        #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("2a.spsi").path))
    }

    @Test("--max-peer-items refuses a larger peer set before re-blinding and writes nothing")
    func maxPeerItems() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, listB, _) = Self.phoneLists(seed: 7, sizeA: 30, sizeB: 10, shared: 5)
        try Data(listA.utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data(listB.utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        try expectSuccess(PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        let result = try PSICommand.run(["respond", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--max-peer-items", "29",
                                         "--request", "1.spsi", "--state", "b.state", "--out-blinded", "2a.spsi",
                                         "--out-reblinded", "2b.spsi"], in: banks.b)
        #expect(result.status == 76)
        #expect(result.stderr.contains("30 items"))
        #expect(result.stderr.contains("29"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: banks.b.path).sorted() == ["1.spsi", "list.txt"])
    }

    @Test("psi inspect prints the header and checks the digest")
    func inspect() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n13912345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try expectSuccess(PSICommand.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        let good = try PSICommand.run(["inspect", "1.spsi", "--json"], in: banks.a)
        try expectSuccess(good)
        let json = try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as! [String: Any]
        #expect(json["count"] as? Int == 2)
        #expect(json["digest_valid"] as? Bool == true)
        #expect(json["suite"] as? String == "ristretto255-SHA512")
        // Flip one body byte: the digest no longer verifies.
        let url = banks.a.appendingPathComponent("1.spsi")
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[100] ^= 0x01
        try Data(bytes).write(to: url)
        let bad = try PSICommand.run(["inspect", "1.spsi"], in: banks.a)
        #expect(bad.status == 76)
        #expect(bad.stdout.contains("digest_valid: false"))
    }
}
