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
        init(bTrusts: PartyIdentity = ExchangeCommandTests.a) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("psi-exchange-tests-\(UUID().uuidString)")
            a = root.appendingPathComponent("a"); b = root.appendingPathComponent("b")
            for folder in [a, b] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            try ExchangeCommandTests.a.save(to: a.appendingPathComponent("bank.identity"))
            try ExchangeCommandTests.b.save(to: b.appendingPathComponent("bank.identity"))
            try peers("Bank B", ExchangeCommandTests.b.publicKey).write(to: a.appendingPathComponent("peers.json"))
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

        func common(_ side: URL, incremental: Bool, state: String) -> [String] {
            ["--input", "list.txt", "--kind", "plain", "--state", state, "--work", "work", "--out", "matches.txt",
             "--purpose", ExchangeCommandTests.purpose, "--identity", "bank.identity", "--peers", "peers.json",
             "--peer", side == a ? "Bank B" : "Bank A"] + (incremental ? ["--incremental"] : [])
        }

        func responder(port: Int, incremental: Bool = false, state: String = "b.state", extra: [String] = []) throws -> Running {
            try Running(ExchangeCommandTests.psi, ["exchange", "--listen", "127.0.0.1:\(port)", "--tls-certificate", "tls.crt", "--tls-key", "tls.key",
                                                   "--accept-timeout", "60"] + common(b, incremental: incremental, state: state) + extra, in: b)
        }

        func initiator(port: Int, incremental: Bool = false, state: String = "a.state", extra: [String] = []) throws -> Running {
            try Running(ExchangeCommandTests.psi, ["exchange", "--connect", "127.0.0.1:\(port)", "--tls-ca", "b-ca.crt", "--retries", "5"]
                        + common(a, incremental: incremental, state: state) + extra, in: a)
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

    @Test("a full exchange over loopback TLS gives both sides the Set intersection", arguments: [(300, 100), (200, 0)])
    func fullExchange(size: Int, shared: Int) throws {
        let banks = try Banks()
        let listA = Self.items("shared", 0..<shared) + Self.items("a", 0..<(size - shared))
        let listB = Self.items("shared", 0..<shared) + Self.items("b", 0..<(size - shared + 7))
        try banks.write(listA, to: banks.a); try banks.write(listB, to: banks.b)
        let port = try freePort()
        let b = try banks.responder(port: port), a = try banks.initiator(port: port)
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

    @Test("a peer with another identity is refused before any element is sent")
    func wrongIdentityRefused() throws {
        let banks = try Banks(bTrusts: Self.outsider)
        try banks.write(Self.items("x", 0..<50), to: banks.a); try banks.write(Self.items("x", 0..<50), to: banks.b)
        let port = try freePort()
        let b = try banks.responder(port: port), a = try banks.initiator(port: port)
        let (ra, rb) = (a.finish(), b.finish())
        #expect(rb.status == 77, "\(rb.stderr)")
        #expect(rb.stderr.contains("refused the peer: it proved the identity \(Self.a.publicKey.fingerprint), expected Bank A"), "\(rb.stderr)")
        #expect(ra.status != 0, "\(ra.stderr)")
        #expect(!ra.stderr.contains("message 1: offered"), "\(ra.stderr)")
        #expect(!FileManager.default.fileExists(atPath: banks.b.appendingPathComponent("work/1.spsi").path))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("matches.txt").path))
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
