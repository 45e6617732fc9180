import Foundation
import Testing
@testable import SodiumPSI

/// Runs the real `psi` executable of the build that built these tests.
struct PSICommand {
    /// `psi` in the products folder of this build: SwiftPM puts the test target's resource
    /// bundle (`Bundle.module`) in the products folder of the build that compiled the tests,
    /// beside the executables that build made (`swift build --build-tests`), whatever the
    /// configuration, sanitizer or scratch path.
    static let executable = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("psi")

    /// `psi` is not in the products folder: the tests were built without it.
    struct NotBuilt: Error, CustomStringConvertible {
        let url: URL
        var description: String {
            "\(url.path) is not an executable: build the package's products with the tests (swift build --build-tests, as scripts/test.sh does)"
        }
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `psi` (or another `program`, with extra environment variables) in `folder`.
    @discardableResult
    static func run(_ arguments: [String], in folder: URL, program: URL = executable, environment: [String: String] = [:]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: program.path) else { throw NotBuilt(url: program) }
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
/// Each has its identity (`bank.identity`) and a peers file (`peers.json`) naming the other
/// ("Bank A", "Bank B"), as they would after exchanging public keys.
struct TwoBanks {
    let root: URL, a: URL, b: URL

    init() throws {
        root = try temporaryDirectory()
        a = root.appendingPathComponent("bank-a")
        b = root.appendingPathComponent("bank-b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        try TestParties.a.save(to: a.appendingPathComponent("bank.identity"))
        try TestParties.b.save(to: b.appendingPathComponent("bank.identity"))
        try Self.peersFile([("Bank B", TestParties.b.publicKey)]).write(to: a.appendingPathComponent("peers.json"))
        try Self.peersFile([("Bank A", TestParties.a.publicKey)]).write(to: b.appendingPathComponent("peers.json"))
    }

    /// A peers file listing `peers` for any purpose.
    static func peersFile(_ peers: [(name: String, key: PartyPublicKey)], purposes: [String]? = nil) throws -> Data {
        let entries = peers.map { peer -> [String: Any] in
            var entry: [String: Any] = ["name": peer.name, "publicKey": peer.key.hex]
            if let purposes { entry["purposes"] = purposes }
            return entry
        }
        return try JSONSerialization.data(withJSONObject: ["peers": entries], options: [.sortedKeys])
    }

    /// The options naming the side's identity, peers file and peer.
    func parties(_ side: URL) -> [String] {
        ["--identity", "bank.identity", "--peers", "peers.json", "--peer", side == a ? "Bank B" : "Bank A"]
    }

    /// Gives a folder an identity (`bank.identity`) and a peers file listing `peer` (`peers.json`).
    static func equip(_ folder: URL, identity: PartyIdentity, peer: (name: String, key: PartyPublicKey)) throws {
        try identity.save(to: folder.appendingPathComponent("bank.identity"), replacing: true)
        try peersFile([peer]).write(to: folder.appendingPathComponent("peers.json"))
    }

    /// The identity and trust options of a step run in a bank's folder: the mutual steps name
    /// the other bank as peer; the hub and member steps treat the other bank as member or hub.
    func options(_ arguments: [String], in side: URL) -> [String] {
        let other = side == a ? "Bank B" : "Bank A"
        switch arguments.prefix(2).joined(separator: " ") {
        case let step where ["initiate", "respond", "finish"].contains(String(step.split(separator: " ").first ?? "")):
            return parties(side)
        case "hub setup": return ["--identity", "bank.identity"]
        case "hub respond": return ["--identity", "bank.identity", "--peers", "peers.json"]
        case "member request", "member finish": return ["--identity", "bank.identity", "--peers", "peers.json", "--hub", other]
        default: return []
        }
    }

    /// Runs `psi` in a bank's folder with the step's identity and trust options.
    @discardableResult
    func run(_ arguments: [String], in side: URL) throws -> PSICommand.Result {
        try PSICommand.run(arguments + options(arguments, in: side), in: side)
    }

    /// The step's options for a shell command line.
    func shellOptions(_ step: String, in side: URL) -> String {
        options(step.split(separator: " ").map(String.init), in: side).map { "'\($0)'" }.joined(separator: " ")
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
        try expectSuccess(run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], in: a))
        try transfer("1.spsi", from: a, to: b)
        try expectSuccess(run(["respond"] + common + ["--initiator-blinded", "1.spsi", "--state", "b.state",
                                                                  "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: b))
        try transfer("2a.spsi", from: b, to: a)
        try transfer("2b.spsi", from: b, to: a)
        let finishA = try run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                                          "--out-responder-reblinded", "3.spsi", "--out", "matches.csv", "--json"], in: a)
        try expectSuccess(finishA)
        let jsonA = try JSONSerialization.jsonObject(with: Data(finishA.stdout.utf8)) as! [String: Any]
        guard outcome != .initiatorLearns else {
            #expect(!FileManager.default.fileExists(atPath: a.appendingPathComponent("3.spsi").path))
            return (jsonA, nil)
        }
        try transfer("3.spsi", from: a, to: b)
        let finishB = try run(["finish", "--state", "b.state", "--responder-reblinded", "3.spsi", "--out", "matches.csv", "--json"], in: b)
        try expectSuccess(finishB)
        return (jsonA, try JSONSerialization.jsonObject(with: Data(finishB.stdout.utf8)) as? [String: Any])
    }

    /// The canonical values in a side's matches file.
    func matches(_ side: URL) throws -> Set<String> {
        let text = try String(contentsOf: side.appendingPathComponent("matches.csv"), encoding: .utf8)
        let lines = text.split(separator: "\r\n")
        let canonical = try #require(lines.first?.split(separator: ",").firstIndex(of: "canonical"))
        return Set(lines.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[canonical]) })
    }
}

extension TwoBanks {
    /// Two bank folders made once per test run by `build` and copied for each test that starts
    /// from them: the steps before the one a test is about run once, not once per test, and each
    /// test changes only its own copy (so tests stay independent and may run in parallel).
    static func fixture(from base: Result<TwoBanks, any Error>? = nil, _ build: (TwoBanks) throws -> Void) -> Result<TwoBanks, any Error> {
        Result {
            let banks = try base.map { try TwoBanks(copying: $0) } ?? TwoBanks()
            FixtureRoots.shared.add(banks.root)
            try build(banks)
            return banks
        }
    }

    /// A copy of `fixture`'s two folders under a new root, each file with its mode.
    init(copying fixture: Result<TwoBanks, any Error>) throws {
        let original = try fixture.get()
        root = try temporaryDirectory()
        a = root.appendingPathComponent("bank-a")
        b = root.appendingPathComponent("bank-b")
        for (from, to) in [(original.a, a), (original.b, b)] {
            try FileManager.default.createDirectory(at: to, withIntermediateDirectories: false)
            for name in try FileManager.default.contentsOfDirectory(atPath: from.path) {
                let source = from.appendingPathComponent(name), target = to.appendingPathComponent(name)
                try Data(contentsOf: source).write(to: target)
                guard chmod(target.path, mode_t(try fileMode(source))) == 0 else { throw CocoaError(.fileWriteNoPermission) }
            }
        }
    }
}

/// Folders of fixtures and list files shared within a test, removed when the test process exits.
final class FixtureRoots: @unchecked Sendable {
    static let shared = FixtureRoots()
    // `@unchecked Sendable` is safe: `roots` is only touched under `lock`.
    private let lock = NSLock()
    private var roots: [URL] = []

    func add(_ root: URL) {
        lock.withLock {
            if roots.isEmpty { atexit { FixtureRoots.shared.removeAll() } }
            roots.append(root)
        }
    }

    private func removeAll() {
        for root in lock.withLock({ roots }) { try? FileManager.default.removeItem(at: root) }
    }
}

/// The shared starting points of the command tests (phone numbers, purpose "p").
enum BankFixtures {
    /// Bank A initiated from three numbers (`a.state`, `1.spsi`); bank B holds two numbers, one
    /// shared, and A's `1.spsi`.
    static let started = TwoBanks.fixture { banks in
        try Data("13800138000\n13912345678\n15012345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data("13912345678\n15112345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        try expectSuccess(banks.run(FileRulesCommandTests.initiate + ["--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
    }

    /// ``started``, and bank B has responded: `b.state`, `2a.spsi` and `2b.spsi` in B's folder
    /// (not yet sent to A).
    static let responded = TwoBanks.fixture(from: started) { banks in
        try expectSuccess(banks.run(FileRulesCommandTests.respond + ["--state", "b.state", "--out-responder-blinded", "2a.spsi",
                                                                    "--out-initiator-reblinded", "2b.spsi"], in: banks.b))
    }

    /// A whole both-learn exchange of two phone lists (30 and 20 numbers, 6 shared; A writes them
    /// plainly, B in the +86 style after an invalid first line, skipped): each side's state,
    /// messages, matches and receipt.
    static let exchanged = TwoBanks.fixture { banks in
        let (listA, listB, _) = exchangedLists
        _ = try banks.exchange(listA: listA, listB: "０１０\n" + listB, kind: "phone", outcome: .bothLearn, extra: ["--on-invalid", "skip"])
    }
    static let exchangedLists = PSICommandTests.phoneLists(seed: 21, sizeA: 30, sizeB: 20, shared: 6)
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
        let (listA, listB, expected) = Self.phoneLists(seed: UInt64(outcome.rawValue), sizeA: 40, sizeB: 30, shared: 8)
        let (jsonA, jsonB) = try banks.exchange(listA: listA, listB: listB, kind: "phone", outcome: outcome)
        #expect(jsonA["intersection_size"] as? Int == expected.count)
        #expect(jsonA["peer_set_size"] as? Int == 30)
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
            // --out says what was learned: the count.
            for side in [banks.a, banks.b] {
                #expect(try String(contentsOf: side.appendingPathComponent("matches.csv"), encoding: .utf8)
                        == "column,intersection_size\r\n,\(expected.count)\r\n")
            }
        }
        // State and result files are private to their owner.
        #expect(try fileMode(banks.a.appendingPathComponent("a.state")) == 0o600)
    }

    @Test("--suite x25519-ell2-sha512 runs the whole exchange; inspect shows the suite")
    func x25519Suite() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (listA, listB, expected) = Self.phoneLists(seed: 9, sizeA: 20, sizeB: 15, shared: 5)
        _ = try banks.exchange(listA: listA, listB: listB, kind: "phone", outcome: .bothLearn, extra: ["--suite", "x25519-ell2-sha512"])
        #expect(try banks.matches(banks.a) == expected)
        #expect(try banks.matches(banks.b) == expected)
        let inspect = try banks.run(["inspect", "1.spsi", "--json"], in: banks.b)
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
        let banks = try BankFixtures.exchanged.get()
        let (_, listB, expected) = BankFixtures.exchangedLists
        // B's list file: the invalid line 1, then listB; each match on its own line number, as written.
        var rows = ["line,column,value,canonical"]
        for (index, value) in listB.split(separator: "\n").enumerated() {
            let canonical = "+86" + value.filter(\.isNumber).dropFirst(2)
            if expected.contains(canonical) { rows.append("\(index + 2),,\(value),\(canonical)") }
        }
        #expect(rows.count == expected.count + 1)
        #expect(try String(contentsOf: banks.b.appendingPathComponent("matches.csv"), encoding: .utf8) == rows.joined(separator: "\r\n") + "\r\n")
    }

    @Test("Without --output, --json lists the matches in the summary")
    func jsonMatches() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n13912345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data("+86 139 1234 5678\n15012345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        let common = ["--kind", "phone", "--input", "list.txt", "--purpose", "p", "--outcome", "initiator-learns"]
        try expectSuccess(banks.run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try expectSuccess(banks.run(["respond"] + common + ["--initiator-blinded", "1.spsi", "--state", "b.state",
                                                                  "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: banks.b))
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        let finish = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi", "--json"],
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
        let banks = try TwoBanks(copying: BankFixtures.started)
        defer { banks.cleanUp() }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: banks.a.appendingPathComponent("a.state").path)
        let result = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "1.spsi", "--initiator-reblinded", "2b.spsi"], in: banks.a)
        #expect(result.status == 76)
        #expect(result.stderr.contains("permissions 644"))
    }

    @Test("Exit codes: usage 64, bad input 65, missing file 66, protocol 76")
    func exitCodes() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        #expect(try banks.run(["initiate", "--kind", "phone"], in: banks.a).status == 64)
        let noHeaderByName = try banks.run(["initiate", "--kind", "phone", "--input", "list.txt", "--column", "phone", "--no-header",
                                                 "--purpose", "p", "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(noHeaderByName.status == 64)
        #expect(noHeaderByName.stderr.contains("--no-header needs --column with a column number"))
        try Data("13800138000\nnot a number\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        let stop = try banks.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--on-invalid", "stop",
                                       "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(stop.status == 65)
        #expect(stop.stderr.contains("line 2"))
        #expect(!stop.stderr.contains("not a number"))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1.spsi").path))
        let missing = try banks.run(["initiate", "--kind", "phone", "--input", "nope.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(missing.status == 66)
        // The responder refuses a request under another purpose label.
        try expectSuccess(banks.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        try Data("13800138000\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        let other = try banks.run(["respond", "--kind", "phone", "--input", "list.txt", "--purpose", "q", "--initiator-blinded", "1.spsi",
                                        "--state", "b.state", "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: banks.b)
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
        try expectSuccess(banks.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                                          "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        let result = try banks.run(["respond", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--max-peer-items", "29",
                                         "--initiator-blinded", "1.spsi", "--state", "b.state", "--out-responder-blinded", "2a.spsi",
                                         "--out-initiator-reblinded", "2b.spsi"], in: banks.b)
        #expect(result.status == 76)
        #expect(result.stderr.contains("30 items"))
        #expect(result.stderr.contains("29"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: banks.b.path).sorted() == ["1.spsi", "bank.identity", "list.txt", "peers.json"])
    }

    @Test("psi inspect prints the header and checks the digest")
    func inspect() throws {
        let banks = try TwoBanks(copying: BankFixtures.started)
        defer { banks.cleanUp() }
        let good = try banks.run(["inspect", "1.spsi", "--json"], in: banks.a)
        try expectSuccess(good)
        let json = try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as! [String: Any]
        #expect(json["count"] as? Int == 3)
        #expect(json["digest_valid"] as? Bool == true)
        #expect(json["suite"] as? String == "ristretto255-SHA512")
        // Flip one body byte: the digest no longer verifies.
        let url = banks.a.appendingPathComponent("1.spsi")
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[100] ^= 0x01
        try Data(bytes).write(to: url)
        let bad = try banks.run(["inspect", "1.spsi"], in: banks.a)
        #expect(bad.status == 76)
        #expect(bad.stdout.contains("digest_valid: false"))
    }
}

@Suite("psi identities and peers", .serialized)
struct TrustCommandTests {
    @Test("identity create (mode 0600, refuses to replace without --force) and identity show print the same key")
    func identityCommands() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let created = try PSICommand.run(["identity", "create", "--identity", "me.identity", "--json"], in: dir)
        try expectSuccess(created)
        let json = try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as! [String: Any]
        let key = try PartyPublicKey(hex: try #require(json["public_key"] as? String))
        #expect(json["fingerprint"] as? String == key.fingerprint)
        #expect(try fileMode(dir.appendingPathComponent("me.identity")) == 0o600)
        let shown = try PSICommand.run(["identity", "show", "--identity", "me.identity"], in: dir)
        #expect(shown.stdout == "public key:  \(key.hex)\nfingerprint: \(key.fingerprint)\n")
        let again = try PSICommand.run(["identity", "create", "--identity", "me.identity"], in: dir)
        #expect(again.status == 73)
        #expect(again.stderr.contains("an identity file already exists"))
        #expect(try PartyIdentity(contentsOf: dir.appendingPathComponent("me.identity")).publicKey == key)
        try expectSuccess(PSICommand.run(["identity", "create", "--identity", "me.identity", "--force"], in: dir))
        #expect(try PartyIdentity(contentsOf: dir.appendingPathComponent("me.identity")).publicKey != key)
    }

    @Test("A relay through the command: bank C re-signs A's step 1 for B, refused naming C's fingerprint; B's step 2 sent to C is not for C")
    func relay() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let c = banks.root.appendingPathComponent("bank-c")
        try FileManager.default.createDirectory(at: c, withIntermediateDirectories: true)
        try TestParties.outsider.save(to: c.appendingPathComponent("bank.identity"))
        try TwoBanks.peersFile([("Bank A", TestParties.a.publicKey), ("Bank B", TestParties.b.publicKey)])
            .write(to: c.appendingPathComponent("peers.json"))
        try Data("13800138000\n13912345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data("13912345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        try Data("13912345678\n".utf8).write(to: c.appendingPathComponent("list.txt"))
        let common = ["--kind", "phone", "--input", "list.txt", "--purpose", "p"]
        try expectSuccess(banks.run(["initiate"] + common + ["--state", "a.state", "--out", "1.spsi"], in: banks.a))
        // C puts its own key in A's step 1 and signs it, then sends it to B.
        var bytes = try [UInt8](Data(contentsOf: banks.a.appendingPathComponent("1.spsi")))
        put(TestParties.outsider.publicKey.bytes, at: 84, in: &bytes)
        let digest = sha256(Array(bytes.dropLast(96)))
        bytes.replaceSubrange((bytes.count - 96)..., with: digest + TestParties.outsider.signature(of: MessageHeader.signedBytes(digest: digest)))
        try Data(bytes).write(to: banks.b.appendingPathComponent("1.spsi"))
        let refused = try banks.run(["respond"] + common + ["--initiator-blinded", "1.spsi", "--state", "b.state",
                                                            "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: banks.b)
        #expect(refused.status == 76)
        #expect(refused.stderr.contains("signed by \(TestParties.outsider.publicKey.fingerprint), which is not trusted here"))
        #expect(refused.stderr.contains("\(TestParties.a.publicKey.fingerprint) (peer \"Bank A\")"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: banks.b.path).sorted() == ["1.spsi", "bank.identity", "list.txt", "peers.json"])
        // A's genuine step 1, handed by C to itself: C trusts A, but the message is for B.
        try FileManager.default.copyItem(at: banks.a.appendingPathComponent("1.spsi"), to: c.appendingPathComponent("1.spsi"))
        let notForC = try PSICommand.run(["respond"] + common + ["--initiator-blinded", "1.spsi", "--state", "c.state", "--out-responder-blinded", "2a.spsi",
                                                                 "--out-initiator-reblinded", "2b.spsi", "--identity", "bank.identity",
                                                                 "--peers", "peers.json", "--peer", "Bank A"], in: c)
        #expect(notForC.status == 76)
        #expect(notForC.stderr.contains("addressed to \(TestParties.b.publicKey.fingerprint) (peer \"Bank B\"); expected a message for \(TestParties.outsider.publicKey.fingerprint) (your identity)"))
        // psi inspect names both parties and shows that C's signature verifies (it is merely untrusted).
        let inspect = try PSICommand.run(["inspect", "1.spsi", "--peers", "peers.json", "--json"], in: banks.b)
        try expectSuccess(inspect)
        let json = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [String: Any]
        #expect(json["sender"] as? String == TestParties.outsider.publicKey.fingerprint)
        #expect(json["recipient"] as? String == TestParties.b.publicKey.fingerprint)  // B's peers file lists only A
        let named = try PSICommand.run(["inspect", "1.spsi", "--peers", "peers.json"], in: c)
        #expect(named.stdout.contains("recipient: \(TestParties.b.publicKey.fingerprint) (\"Bank B\")"))
        #expect(json["signature_valid"] as? Bool == true && json["identifier_type"] as? String == "phone numbers")
    }

    @Test("Each finish writes a signed receipt next to its state; psi receipt verify checks one, and a pair, and refuses an altered one (76)")
    func receipts() throws {
        let banks = try TwoBanks(copying: BankFixtures.exchanged)
        defer { banks.cleanUp() }
        let expected = BankFixtures.exchangedLists.expected
        try FileManager.default.copyItem(at: banks.b.appendingPathComponent("b.state.receipt.json"),
                                         to: banks.a.appendingPathComponent("b.receipt.json"))
        let pair = try PSICommand.run(["receipt", "verify", "a.state.receipt.json", "--peer-receipt", "b.receipt.json",
                                       "--peers", "peers.json", "--json"], in: banks.a)
        try expectSuccess(pair)
        let json = try JSONSerialization.jsonObject(with: Data(pair.stdout.utf8)) as! [String: Any]
        #expect(json["same_run"] as? Bool == true && json["result_count"] as? Int == expected.count)
        #expect(json["peer"] as? String == "\(TestParties.b.publicKey.fingerprint) (\"Bank B\")")
        #expect(pair.stderr.contains("both receipts describe the same run"))
        // One field changed: the signature no longer verifies.
        let url = banks.a.appendingPathComponent("b.receipt.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        object["resultCount"] = expected.count + 1
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        let altered = try PSICommand.run(["receipt", "verify", "b.receipt.json"], in: banks.a)
        #expect(altered.status == 76)
        #expect(altered.stderr.contains("b.receipt.json: the signature does not verify with the signer's key \(TestParties.b.publicKey.fingerprint); the receipt was altered"))
        let text = try String(contentsOf: banks.a.appendingPathComponent("a.state.receipt.json"), encoding: .utf8)
        for number in expected { #expect(!text.contains(number.dropFirst(3))) }
    }

    @Test("A peer used for a purpose it is not listed for is refused; a kind mismatch is refused naming both; a forged header fails inspect")
    func purposesAndKinds() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try TwoBanks.peersFile([("Bank A", TestParties.a.publicKey)], purposes: ["2026 agent numbers"])
            .write(to: banks.b.appendingPathComponent("peers.json"))
        try Data("13912345678\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        try Data("13912345678\n".utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        try expectSuccess(banks.run(["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "forged documents",
                                     "--state", "a.state", "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        let respond = ["respond", "--input", "list.txt", "--initiator-blinded", "1.spsi", "--state", "b.state", "--out-responder-blinded", "2a.spsi",
                       "--out-initiator-reblinded", "2b.spsi"]
        let wrongPurpose = try banks.run(respond + ["--kind", "phone", "--purpose", "forged documents"], in: banks.b)
        #expect(wrongPurpose.status == 76)
        #expect(wrongPurpose.stderr.contains("peer \"Bank A\" (\(TestParties.a.publicKey.fingerprint)) is not allowed the purpose \"forged documents\"; it is listed for \"2026 agent numbers\""))
        try TwoBanks.peersFile([("Bank A", TestParties.a.publicKey)]).write(to: banks.b.appendingPathComponent("peers.json"))
        let wrongKind = try banks.run(respond + ["--kind", "plain", "--case-insensitive", "--purpose", "forged documents"], in: banks.b)
        #expect(wrongKind.status == 76)
        #expect(wrongKind.stderr.contains("message was made from phone numbers; expected plain identifiers, case-insensitive"))
        let unknownPeer = try PSICommand.run(respond + ["--kind", "phone", "--purpose", "forged documents", "--identity", "bank.identity",
                                                        "--peers", "peers.json", "--peer", "Bank Z"], in: banks.b)
        #expect(unknownPeer.status == 76)
        #expect(unknownPeer.stderr.contains("no peer named \"Bank Z\"; it lists \"Bank A\""))
        let noIdentity = try PSICommand.run(respond + ["--kind", "phone", "--purpose", "forged documents"], in: banks.b)
        #expect(noIdentity.status == 64)
        // The header altered and its digest recomputed: no valid signature.
        var bytes = try [UInt8](Data(contentsOf: banks.b.appendingPathComponent("1.spsi")))
        bytes[60] ^= 1
        bytes.replaceSubrange((bytes.count - 96)..<(bytes.count - 64), with: sha256(Array(bytes.dropLast(96))))
        try Data(bytes).write(to: banks.b.appendingPathComponent("1.spsi"))
        let inspect = try PSICommand.run(["inspect", "1.spsi"], in: banks.b)
        #expect(inspect.status == 76)
        #expect(inspect.stdout.contains("signature_valid: false") && inspect.stdout.contains("digest_valid: true"))
        let forged = try banks.run(respond + ["--kind", "phone", "--purpose", "forged documents"], in: banks.b)
        #expect(forged.status == 76)
        #expect(forged.stderr.contains("the signature does not verify with the sender's key \(TestParties.a.publicKey.fingerprint)"))
    }
}
