import Foundation
import Testing
import SodiumPSI

/// `psi exchange` end to end: two real `psi` processes over loopback TLS, each in its own
/// folder with its identity, peers file and list (certificates made by openssl at test time).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ExchangeCommandTests {
    static let psi = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("psi")
    static let a = try! PartyIdentity(seed: [UInt8](repeating: 0xA1, count: 32))
    static let b = try! PartyIdentity(seed: [UInt8](repeating: 0xB2, count: 32))
    static let outsider = try! PartyIdentity(seed: [UInt8](repeating: 0xE5, count: 32))
    static let purpose = "network test numbers"

    final class Banks {
        let root: URL, a: URL, b: URL
        init(aTrusts: PartyIdentity = ExchangeCommandTests.b, bTrusts: PartyIdentity = ExchangeCommandTests.a) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("psi-exchange-tests-\(UUID().uuidString)")
            a = root.appendingPathComponent("a"); b = root.appendingPathComponent("b")
            for folder in [a, b] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            try ExchangeCommandTests.a.save(to: a.appendingPathComponent("bank.identity"))
            try ExchangeCommandTests.b.save(to: b.appendingPathComponent("bank.identity"))
            try peers("Bank B", aTrusts.publicKey).write(to: a.appendingPathComponent("peers.json"))
            try peers("Bank A", bTrusts.publicKey).write(to: b.appendingPathComponent("peers.json"))
            try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                                         "-keyout", b.appendingPathComponent("tls.key").path, "-out", b.appendingPathComponent("tls.crt").path,
                                         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            try FileManager.default.copyItem(at: b.appendingPathComponent("tls.crt"), to: a.appendingPathComponent("b-ca.crt"))
        }
        deinit { try? FileManager.default.removeItem(at: root) }

        func peers(_ name: String, _ key: PartyPublicKey) throws -> Data {
            try JSONSerialization.data(withJSONObject: ["peers": [["name": name, "publicKey": key.hex]]])
        }

        func write(_ items: [String], to side: URL) throws {
            try (items.joined(separator: "\n") + "\n").write(to: side.appendingPathComponent("list.txt"), atomically: true, encoding: .utf8)
        }

        static let plainList = ["--input", "list.txt", "--kind", "plain"]

        /// The options every step of `side` names: its identity, peers file, peer and the purpose.
        func parties(_ side: URL) -> [String] {
            ["--identity", "bank.identity", "--peers", "peers.json", "--peer", side == a ? "Bank B" : "Bank A"]
        }

        func common(_ side: URL, incremental: Bool, state: String, list: [String]) -> [String] {
            list + ["--state", state, "--work", "work", "--out", "matches.txt", "--purpose", ExchangeCommandTests.purpose]
                + parties(side) + (incremental ? ["--incremental"] : [])
        }

        func responder(port: Int, incremental: Bool = false, state: String = "b.state", list: [String] = plainList,
                       extra: [String] = []) throws -> Running {
            try Running(ExchangeCommandTests.psi, ["exchange", "--listen", "127.0.0.1:\(port)", "--tls-certificate", "tls.crt", "--tls-key", "tls.key",
                                                   "--accept-timeout", "60"] + common(b, incremental: incremental, state: state, list: list) + extra, in: b)
        }

        func initiator(port: Int, incremental: Bool = false, state: String = "a.state", list: [String] = plainList,
                       extra: [String] = []) throws -> Running {
            try Running(ExchangeCommandTests.psi, ["exchange", "--connect", "127.0.0.1:\(port)", "--tls-ca", "b-ca.crt", "--retries", "5"]
                        + common(a, incremental: incremental, state: state, list: list) + extra, in: a)
        }

        /// Runs one file-flow step of `side` to its end; its exit status and standard error.
        func step(_ side: URL, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
            try Running(ExchangeCommandTests.psi, arguments + parties(side), in: side).finish()
        }

        /// Copies the message files of one step (every column's: `1.spsi`, `1.phone.spsi` …) from one side to the other.
        func send(_ prefix: String, from: URL, to: URL) throws {
            for name in try FileManager.default.contentsOfDirectory(atPath: from.path) where name.hasPrefix(prefix + ".") && name.hasSuffix(".spsi") {
                try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: to.appendingPathComponent(name))
            }
        }

        /// The canonical values of a side's matches (the file flow's CSV, or one a line).
        func matches(_ side: URL) throws -> Set<String> {
            let text = try String(contentsOf: side.appendingPathComponent("matches.txt"), encoding: .utf8)
            var lines = text.split(whereSeparator: \.isNewline).map(String.init)
            guard let header = lines.first, header.contains(",") || header == "canonical" else { return Set(lines) }
            let columns = header.split(separator: ",").map(String.init)
            lines.removeFirst()
            let index = columns.firstIndex(of: "canonical") ?? 0
            return Set(lines.map { String($0.split(separator: ",", omittingEmptySubsequences: false)[index]) })
        }
    }

    /// A process with its output in files (no pipe to fill), killed if it outlives the test.
    final class Running {
        let process = Process()
        let err: URL
        init(_ program: URL, _ arguments: [String], in folder: URL) throws {
            err = folder.appendingPathComponent("stderr-\(UUID().uuidString).txt")
            FileManager.default.createFile(atPath: err.path, contents: nil)
            process.executableURL = program
            process.arguments = arguments
            process.currentDirectoryURL = folder
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        }
        /// Waits (at most 120 s) and returns the exit status and standard error.
        func finish() -> (status: Int32, stderr: String) {
            let deadline = Date(timeIntervalSinceNow: 120)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            return (process.terminationStatus, (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
    }

    static func items(_ prefix: String, _ range: Range<Int>) -> [String] { range.map { "\(prefix)-\($0)" } }

    @Test("a full exchange over loopback TLS gives both sides the Set intersection (also verifiable)",
          arguments: [(300, 100, false), (200, 0, false), (120, 30, true)])
    func fullExchange(size: Int, shared: Int, verifiable: Bool) throws {
        let banks = try Banks()
        let listA = Self.items("shared", 0..<shared) + Self.items("a", 0..<(size - shared))
        let listB = Self.items("shared", 0..<shared) + Self.items("b", 0..<(size - shared + 7))
        try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
        let port = try freePort()
        let extra = verifiable ? ["--verifiable"] : []
        let b = try banks.responder(port: port, extra: extra), a = try banks.initiator(port: port, extra: extra)
        let (ra, rb) = (a.finish(), b.finish())
        #expect(ra.status == 0, "\(ra.stderr)"); #expect(rb.status == 0, "\(rb.stderr)")
        let expected = Set(listA).intersection(listB)
        let gotA = try banks.matches(banks.a)
        #expect(gotA == expected, "\(gotA.subtracting(expected).sorted().prefix(3)) \(expected.subtracting(gotA).sorted().prefix(3))")
        #expect(try banks.matches(banks.b) == expected)
    }

    @Test("incremental day 1 and day 2 over the network: each day the Set intersection of the current lists")
    func incrementalDays() throws {
        let banks = try Banks()
        var listA = Self.items("s", 0..<150) + Self.items("a", 0..<100)
        var listB = Self.items("s", 0..<150) + Self.items("b", 0..<120)
        for day in 1...2 {
            try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
            let port = try freePort()
            let b = try banks.responder(port: port, incremental: true, state: "b.rel")
            let a = try banks.initiator(port: port, incremental: true, state: "a.rel")
            let (ra, rb) = (a.finish(), b.finish())
            #expect(ra.status == 0, "day \(day): \(ra.stderr)"); #expect(rb.status == 0, "day \(day): \(rb.stderr)")
            let expected = Set(listA).intersection(listB)
            #expect(try banks.matches(banks.a) == expected, "day \(day)")
            #expect(try banks.matches(banks.b) == expected, "day \(day)")
            // Day 2: some matched items removed on each side, new ones added, one new match.
            listA = Array(listA.dropFirst(5)) + Self.items("new", 0..<3) + ["a-new"]
            listB = Array(listB.dropFirst(8)) + Self.items("new", 0..<3) + ["b-new"]
        }
    }

    @Test("a connection cut in the middle of message 1 resumes from it, without blinding again")
    func cutConnectionResumes() throws {
        let banks = try Banks()
        let listA = Self.items("shared", 0..<400) + Self.items("a", 0..<3000)
        let listB = Self.items("shared", 0..<400) + Self.items("b", 0..<2000)
        try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
        let port = try freePort()
        let relay = try Relay(to: port, cutFirstAfter: 40_000)
        let b = try banks.responder(port: port, extra: ["--keep-messages"])
        let a = try banks.initiator(port: relay.port, extra: ["--keep-messages"])
        let (ra, rb) = (a.finish(), b.finish())
        relay.stop()
        #expect(ra.status == 0, "\(ra.stderr)"); #expect(rb.status == 0, "\(rb.stderr)")
        #expect(relay.connections >= 2, "the relay cut the first connection and the initiator connected again")
        #expect(ra.stderr.contains("connecting again"), "\(ra.stderr)")
        // Blinded once: one initiate, and every offer of message 1 is the same file.
        #expect(ra.stderr.components(separatedBy: "blinded 3400 distinct items").count == 2, "\(ra.stderr)")
        let offers = ra.stderr.split(separator: "\n").filter { $0.contains("message 1: offered") }.map { $0.split(separator: " ").last!.prefix(64) }
        #expect(offers.count >= 2 && Set(offers).count == 1, "\(offers)")
        let received = try sha256Hex(banks.b.appendingPathComponent("work/1.spsi").path)
        #expect(try sha256Hex(banks.a.appendingPathComponent("work/1.spsi").path) == received)
        #expect(offers.first.map(String.init) == received)
        let expected = Set(listA).intersection(listB)
        #expect(try banks.matches(banks.a) == expected)
        #expect(try banks.matches(banks.b) == expected)
    }

    @Test("a peer with another identity is refused before any element is sent, and told why: exit 77 on both sides",
          arguments: [false, true])
    func wrongIdentityRefused(byInitiator: Bool) throws {
        // The refusing side trusts an outsider's key under the other's name.
        let banks = try byInitiator ? Banks(aTrusts: Self.outsider) : Banks(bTrusts: Self.outsider)
        try banks.write(Self.items("x", 0..<50), to: banks.a); try banks.write(Self.items("x", 0..<50), to: banks.b)
        let port = try freePort()
        let b = try banks.responder(port: port), a = try banks.initiator(port: port)
        let (ra, rb) = (a.finish(), b.finish())
        let (refusing, refused) = byInitiator ? (ra, rb) : (rb, ra)
        let (key, name) = byInitiator ? (Self.b.publicKey, "Bank B") : (Self.a.publicKey, "Bank A")
        #expect(refusing.status == 77, "\(refusing.stderr)")
        #expect(refusing.stderr.contains("refused the peer: it proved the identity \(key.fingerprint), expected \(name)"), "\(refusing.stderr)")
        // The refused side is told why (the refusal frame), not "connection lost", and exits 77 too. The
        // initiator may connect again before the responder listens, never after the refusal: its last word.
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").last?.hasPrefix(
            "psi: error: the peer refused this exchange (identity refused): your identity key \(key.fingerprint) is not the one it expects") == true,
                "\(refused.stderr)")
        #expect(!refused.stderr.contains("was lost"), "\(refused.stderr)")
        #expect(!ra.stderr.contains("message 1: offered"), "\(ra.stderr)")
        #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("work/1.spsi").path))
        #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("b.state").path))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("matches.txt").path))
    }

    @Test("--outcome initiator-learns over the network: the initiator gets the Set intersection, the responder no matches and no message 4")
    func initiatorLearns() throws {
        let banks = try Banks()
        let listA = Self.items("s", 0..<60) + Self.items("a", 0..<90), listB = Self.items("s", 0..<60) + Self.items("b", 0..<40)
        try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
        let port = try freePort()
        let b = try banks.responder(port: port, extra: ["--outcome", "initiator-learns", "--keep-messages"])
        let a = try banks.initiator(port: port, extra: ["--outcome", "initiator-learns", "--keep-messages"])
        let (ra, rb) = (a.finish(), b.finish())
        #expect(ra.status == 0, "\(ra.stderr)"); #expect(rb.status == 0, "\(rb.stderr)")
        #expect(try banks.matches(banks.a) == Set(listA).intersection(listB))
        #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("matches.txt").path))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("work/3.spsi").path))
        #expect(rb.stderr.contains("only the initiator learns the matches"), "\(rb.stderr)")
        // The responder's last step signed its receipt, as psi respond does for initiator-learns.
        #expect(FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("b.state.receipt.json").path), "\(rb.stderr)")
    }

    @Test("--outcome cardinality-only over the network: both sides write the count, nothing else")
    func cardinalityOnly() throws {
        let banks = try Banks()
        let listA = Self.items("s", 0..<45) + Self.items("a", 0..<70), listB = Self.items("s", 0..<45) + Self.items("b", 0..<30)
        try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
        let port = try freePort()
        let b = try banks.responder(port: port, extra: ["--outcome", "cardinality-only"])
        let a = try banks.initiator(port: port, extra: ["--outcome", "cardinality-only"])
        let (ra, rb) = (a.finish(), b.finish())
        #expect(ra.status == 0, "\(ra.stderr)"); #expect(rb.status == 0, "\(rb.stderr)")
        for side in [banks.a, banks.b] {
            let text = try String(contentsOf: side.appendingPathComponent("matches.txt"), encoding: .utf8)
            #expect(text.split(whereSeparator: \.isNewline).last.map(String.init)?.hasSuffix("45") == true, "\(text)")
            #expect(!text.contains("s-"), "\(text)")
        }
    }

    @Test("several --column, a UTF-16 list with ';' between fields, rejects and --max-invalid: the same matches files as the file flow, byte for byte")
    func sameOptionsAsTheFileFlow() throws {
        let banks = try Banks()
        // agent_phone (phone) and agent_name (plain, non-ASCII); one invalid phone number a side.
        func row(_ i: Int, _ tag: String) -> String { "\(tag)-\(i);1390000\(String(format: "%04d", i));代理人\(tag)\(i)" }
        func list(_ rows: [String]) -> Data {
            Data([0xFF, 0xFE]) + ("id;agent_phone;agent_name\n" + rows.joined(separator: "\n") + "\nbad;12;名\n").data(using: .utf16LittleEndian)!
        }
        let shared = (0..<40).map { row($0, "s") }
        let rowsA = shared + (40..<140).map { row($0, "a") } + ["a-x;13900000003;別名"]
        let rowsB = (100..<220).map { row($0, "b") } + shared.reversed() + ["b-x;13911112222;代理人s5"]
        try list(rowsA).write(to: banks.a.appendingPathComponent("list.csv"))
        try list(rowsB).write(to: banks.b.appendingPathComponent("list.csv"))
        let format = ["--input", "list.csv", "--column", "agent_phone:phone", "--column", "agent_name:plain", "--input-encoding", "utf-16",
                      "--delimiter", "semicolon"]
        let reading = format + ["--max-invalid", "2", "--rejects", "rejects.csv"]
        let flowReading = format + ["--max-invalid", "2", "--rejects", "flow-rejects.csv"]
        let purpose = ["--purpose", Self.purpose]

        let port = try freePort()
        let b = try banks.responder(port: port, list: reading, extra: ["--keep", "id,agent_name"])
        let a = try banks.initiator(port: port, list: reading, extra: ["--keep", "id,agent_name"])
        let (ra, rb) = (a.finish(), b.finish())
        #expect(ra.status == 0, "\(ra.stderr)"); #expect(rb.status == 0, "\(rb.stderr)")

        // The same lists through psi initiate / respond / finish, files carried by hand.
        var r = try banks.step(banks.a, ["initiate"] + flowReading + purpose + ["--state", "f.state", "--out", "f1.spsi"])
        #expect(r.status == 0, "\(r.stderr)")
        try banks.send("f1", from: banks.a, to: banks.b)
        r = try banks.step(banks.b, ["respond"] + flowReading + purpose + ["--initiator-blinded", "f1.spsi", "--state", "f.state",
                                                                      "--out-responder-blinded", "f2a.spsi", "--out-initiator-reblinded", "f2b.spsi"])
        #expect(r.status == 0, "\(r.stderr)")
        try banks.send("f2a", from: banks.b, to: banks.a); try banks.send("f2b", from: banks.b, to: banks.a)
        r = try banks.step(banks.a, ["finish"] + format + ["--keep", "id,agent_name", "--state", "f.state", "--responder-blinded", "f2a.spsi",
                                                          "--initiator-reblinded", "f2b.spsi", "--out-responder-reblinded", "f3.spsi", "--out", "flow.csv"])
        #expect(r.status == 0, "\(r.stderr)")
        try banks.send("f3", from: banks.a, to: banks.b)
        r = try banks.step(banks.b, ["finish"] + format + ["--keep", "id,agent_name", "--state", "f.state", "--responder-reblinded", "f3.spsi",
                                                          "--out", "flow.csv"])
        #expect(r.status == 0, "\(r.stderr)")

        for side in [banks.a, banks.b] {
            let overNetwork = try Data(contentsOf: side.appendingPathComponent("matches.txt"))
            let byFiles = try Data(contentsOf: side.appendingPathComponent("flow.csv"))
            #expect(overNetwork == byFiles, "\(String(decoding: overNetwork, as: UTF8.self))\n---\n\(String(decoding: byFiles, as: UTF8.self))")
            // Both columns matched: 40 shared rows a column, plus one name shared only by name (b-x) on B's side.
            let text = String(decoding: overNetwork, as: UTF8.self)
            #expect(text.contains(",agent_phone,") && text.contains(",agent_name,"), "\(text)")
            #expect(FileManager.default.fileExists(atPath: side.appendingPathComponent("rejects.phone.csv").path))
        }
        let names = try String(contentsOf: banks.b.appendingPathComponent("matches.txt"), encoding: .utf8)
        #expect(names.contains("代理人s5"), "\(names)")
    }

    @Test("a peer that accepts and then says nothing times out, with a clear error and no output")
    func stalledPeerTimesOut() throws {
        let banks = try Banks()
        try banks.write(Self.items("x", 0..<50), to: banks.a)
        let silent = try Relay(to: nil, cutFirstAfter: nil)
        let a = try banks.initiator(port: silent.port, extra: ["--timeout", "2", "--retries", "0"])
        let ra = a.finish()
        silent.stop()
        #expect(ra.status == 69, "\(ra.stderr)")
        #expect(ra.stderr.contains("sent nothing for 2 s while waiting for the TLS handshake"), "\(ra.stderr)")
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("matches.txt").path))
        let work = (try? FileManager.default.contentsOfDirectory(atPath: banks.a.appendingPathComponent("work").path)) ?? []
        #expect(!work.contains { $0.hasSuffix(".part") })
    }
}

/// The hex SHA-256 of a file (the library's own file digest).
func sha256Hex(_ path: String) throws -> String {
    try SodiumPSI.fileSHA256(URL(fileURLWithPath: path)).map { String(format: "%02x", $0) }.joined()
}

func run(_ program: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice; process.standardError = FileHandle.nullDevice
    try process.run(); process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
}
