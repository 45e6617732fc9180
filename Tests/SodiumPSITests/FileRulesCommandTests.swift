import Foundation
import Testing
@testable import SodiumPSI

/// Runs `script` with `sh -c` in `folder`, `$PSI` naming the built `psi` (for umask and ulimit).
func runShell(_ script: String, in folder: URL) throws -> PSICommand.Result {
    try PSICommand.run(["-c", script], in: folder, program: URL(fileURLWithPath: "/bin/sh"), environment: ["PSI": PSICommand.executable.path])
}

/// Paths, overwrites, commit order, permissions and exit codes, through the built `psi`.
@Suite("psi file rules and exit codes", .serialized)
struct FileRulesCommandTests {
    static let initiate = ["initiate", "--kind", "phone", "--input", "list.txt", "--purpose", "p"]
    static let respond = ["respond", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--initiator-blinded", "1.spsi"]

    /// Bank A has initiated, bank B has the request and its list (a copy of the shared fixture).
    static func started() throws -> TwoBanks { try TwoBanks(copying: BankFixtures.started) }

    /// ``started()``, and bank B has responded (`b.state`, `2a.spsi`, `2b.spsi`, not yet sent to A).
    static func responded() throws -> TwoBanks { try TwoBanks(copying: BankFixtures.responded) }

    /// A bank folder's files, less its identity and peers files (present from the start).
    static func names(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !["bank.identity", "peers.json"].contains($0) }.sorted()
    }

    @Test("Two options naming the same file are a usage error (64) and nothing is written, for every command")
    func samePaths() throws {
        let banks = try Self.started()
        defer { banks.cleanUp() }
        try FileManager.default.createSymbolicLink(atPath: banks.b.appendingPathComponent("link.spsi").path, withDestinationPath: "1.spsi")
        try FileManager.default.createDirectory(at: banks.a.appendingPathComponent("sub"), withIntermediateDirectories: false)
        let cases: [(URL, [String], String, String)] = [
            (banks.a, Self.initiate + ["--state", "x", "--out", "x"], "--state", "--out"),
            (banks.a, Self.initiate + ["--state", "z.state", "--out", "list.txt"], "--input", "--out"),
            // An output named like the identity would destroy it.
            (banks.a, Self.initiate + ["--state", "z.state", "--out", "bank.identity"], "--out", "--identity"),
            (banks.b, Self.respond + ["--state", "peers.json", "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], "--state", "--peers"),
            (banks.b, Self.respond + ["--state", "s", "--out-responder-blinded", "s", "--out-initiator-reblinded", "2b.spsi"], "--state", "--out-responder-blinded"),
            (banks.b, Self.respond + ["--state", "b.state", "--out-responder-blinded", "2.spsi", "--out-initiator-reblinded", "2.spsi"], "--out-responder-blinded", "--out-initiator-reblinded"),
            (banks.b, Self.respond + ["--state", "b.state", "--out-responder-blinded", "link.spsi", "--out-initiator-reblinded", "2b.spsi"], "--initiator-blinded", "--out-responder-blinded"),
            (banks.a, ["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi", "--out-responder-reblinded", "3.spsi", "--out", "a.state"], "--state", "--out"),
            (banks.a, ["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi", "--out-responder-reblinded", "2a.spsi"], "--responder-blinded", "--out-responder-reblinded"),
            (banks.a, ["hub", "setup", "--key", "k", "--kind", "phone", "--input", "list.txt", "--purpose", "p", "--out", "list.txt"], "--input", "--out"),
            (banks.a, ["hub", "respond", "--key", "k", "--kind", "phone", "--purpose", "p", "--request", "r.spsi", "--out", "r.spsi"], "--request", "--out"),
            (banks.a, ["member", "request", "--setup", "s.spsi", "--kind", "phone", "--input", "list.txt", "--purpose", "p",
                       "--state", "m.state", "--out", "m.state"], "--state", "--out"),
            (banks.a, ["member", "finish", "--state", "m.state", "--setup", "s.spsi", "--delta", "d.spsi", "--delta", "d.spsi",
                       "--response", "r.spsi"], "--delta", "--delta"),
            (banks.a, ["member", "finish", "--state", "m.state", "--setup", "s.spsi", "--response", "r.spsi", "--out", "m.state"], "--state", "--out"),
        ]
        let before = (try Self.names(banks.a), try Self.names(banks.b))
        for (folder, arguments, first, second) in cases {
            let result = try banks.run(arguments, in: folder)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.stderr.contains("\(first) and \(second) name the same file"), "\(arguments): \(result.stderr)")
        }
        #expect((try Self.names(banks.a), try Self.names(banks.b)) == before)
        #expect(try String(contentsOf: banks.a.appendingPathComponent("list.txt"), encoding: .utf8).hasPrefix("13800138000"))
    }

    @Test("Paths that differ as text but name one file are the same file: . and .., a symbolic link, a hard link, a file not made yet")
    func samePathResolution() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = { (name: String) in folder.appendingPathComponent(name) }
        try Data("x".utf8).write(to: url("1.spsi"))
        try FileManager.default.createDirectory(at: url("sub"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: url("link.spsi").path, withDestinationPath: "1.spsi")
        try FileManager.default.linkItem(at: url("1.spsi"), to: url("hard.spsi"))
        for (first, second) in [("y.state", "sub/../y.state"), ("2.spsi", "./2.spsi"), ("1.spsi", "link.spsi"), ("1.spsi", "hard.spsi"),
                                ("sub/new", "sub/./new")] {
            #expect(throws: OutputFileError.samePath(path: url(second).path, first: "--a", second: "--b"), "\(first) \(second)") {
                try FilePaths.requireDistinct([("--a", url(first)), ("--b", url(second))])
            }
        }
        try FilePaths.requireDistinct([("--a", url("1.spsi")), ("--b", url("sub/1.spsi")), ("--c", url("y.state"))])
    }

    @Test("An existing state is refused (73) unless --force; a key unless --rotate")
    func existingState() throws {
        let banks = try Self.responded()
        defer { banks.cleanUp() }
        let state = banks.a.appendingPathComponent("a.state")
        let before = try Data(contentsOf: state)
        try FileManager.default.removeItem(at: banks.a.appendingPathComponent("1.spsi"))
        let again = try banks.run(Self.initiate + ["--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(again.status == 73)
        #expect(again.stderr.contains("a.state: already exists and holds a secret; refusing to overwrite it (pass --force to replace it)"))
        #expect(try Data(contentsOf: state) == before)
        #expect(try Self.names(banks.a) == ["a.state", "list.txt"])
        try expectSuccess(banks.run(Self.initiate + ["--state", "a.state", "--out", "1.spsi", "--force"], in: banks.a))
        #expect(try Data(contentsOf: state) != before)
        let respondAgain = try banks.run(Self.respond + ["--state", "b.state", "--out-responder-blinded", "x.spsi", "--out-initiator-reblinded", "y.spsi"], in: banks.b)
        #expect(respondAgain.status == 73)
        #expect(!(try Self.names(banks.b)).contains("x.spsi"))
        // The member's state (refused before its list is read: the list here does not exist).
        try Data().write(to: banks.a.appendingPathComponent("m.state"))
        let member = try banks.run(["member", "request", "--setup", "s.spsi", "--kind", "phone", "--input", "missing.txt",
                                         "--purpose", "p", "--state", "m.state", "--out", "r.spsi"], in: banks.a)
        #expect(member.status == 73)
        #expect(member.stderr.contains("m.state: already exists"))
    }

    @Test("The state is committed before the messages: a state that cannot be written leaves no message (73)")
    func commitOrder() throws {
        let banks = try Self.started()
        defer { banks.cleanUp() }
        // The state's name is taken by a folder: its final rename fails after everything else.
        try FileManager.default.createDirectory(at: banks.b.appendingPathComponent("b.state"), withIntermediateDirectories: false)
        let respond = try banks.run(Self.respond + ["--state", "b.state", "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi", "--force"],
                                         in: banks.b)
        #expect(respond.status == 73)
        #expect(try Self.names(banks.b) == ["1.spsi", "b.state", "list.txt"])
        try FileManager.default.createDirectory(at: banks.a.appendingPathComponent("c.state"), withIntermediateDirectories: false)
        let initiate = try banks.run(Self.initiate + ["--state", "c.state", "--out", "1c.spsi", "--force"], in: banks.a)
        #expect(initiate.status == 73)
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1c.spsi").path))
        // A state folder nothing can be written to (root may write anywhere else): no message either,
        // whether the work folder is there too or elsewhere.
        for extra in [[], ["--work-dir", "."]] {
            let result = try banks.run(Self.initiate + ["--state", "/proc/a.state", "--out", "1p.spsi"] + extra, in: banks.a)
            #expect(result.status == 73, "\(extra)")
            #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("1p.spsi").path))
        }
    }

    @Test("Killed at any moment, psi never leaves a message without its state, nor a partial file under a final name")
    func killAnywhere() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let (list, _, _) = PSICommandTests.phoneLists(seed: 11, sizeA: 2_000, sizeB: 1, shared: 1)
        try Data(list.utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        let input = try Data(contentsOf: banks.a.appendingPathComponent("list.txt"))
        for (run, delay) in [0.02, 0.1, 0.2, 0.3, 0.45, 0.6].enumerated() {
            let folder = banks.a.appendingPathComponent("run-\(run)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
            let process = Process()
            process.executableURL = PSICommand.executable
            process.arguments = ["initiate", "--kind", "phone", "--input", "../list.txt", "--purpose", "p", "--state", "a.state", "--out", "1.spsi"]
            process.currentDirectoryURL = folder
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(useconds_t(delay * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let message = folder.appendingPathComponent("1.spsi"), state = folder.appendingPathComponent("a.state")
            if FileManager.default.fileExists(atPath: message.path) {
                #expect(FileManager.default.fileExists(atPath: state.path), "a message without its state after \(delay) s")
                #expect(try MessageFileReader.inspect(url: message).digestValid)
            }
            if FileManager.default.fileExists(atPath: state.path) {
                #expect(throws: Never.self) { try MutualPSIInitiator(identity: TestParties.a, restoringFrom: state) }
            }
        }
        #expect(try Data(contentsOf: banks.a.appendingPathComponent("list.txt")) == input)
    }

    @Test("A state finishes one exchange: the same messages again succeed, another responder's are refused (76)")
    func finishOnce() throws {
        let banks = try Self.responded()
        defer { banks.cleanUp() }
        try expectSuccess(banks.run(Self.respond + ["--state", "c.state", "--out-responder-blinded", "2a-c.spsi", "--out-initiator-reblinded", "2b-c.spsi"], in: banks.b))
        for name in ["2a.spsi", "2b.spsi", "2a-c.spsi", "2b-c.spsi"] { try banks.transfer(name, from: banks.b, to: banks.a) }
        let finish = ["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi", "--out-responder-reblinded", "3.spsi", "--json"]
        let first = try banks.run(finish, in: banks.a)
        try expectSuccess(first)
        let again = try banks.run(finish, in: banks.a)
        try expectSuccess(again)
        // The same result; only the times and the state's digest (now marked finished) differ.
        func result(_ run: PSICommand.Result) throws -> NSDictionary {
            var json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            for key in ["started_at", "finished_at", "files"] { #expect(json.removeValue(forKey: key) != nil) }
            return json as NSDictionary
        }
        #expect(try result(again) == result(first))
        let other = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a-c.spsi", "--initiator-reblinded", "2b-c.spsi",
                                        "--out-responder-reblinded", "3-c.spsi"], in: banks.a)
        #expect(other.status == 76)
        #expect(other.stderr.contains("has already finished its exchange"))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("3-c.spsi").path))
    }

    @Test("Message files follow the umask; state files are exactly 0600 whatever the umask")
    func umask() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        let args = "initiate --kind phone --input list.txt --purpose p"
        for (mask, messageMode) in [("077", 0o600), ("022", 0o644), ("277", 0o400)] {
            let result = try runShell("umask \(mask); \"$PSI\" \(args) \(banks.shellOptions(args, in: banks.a)) --state s\(mask).state --out m\(mask).spsi",
                                      in: banks.a)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try fileMode(banks.a.appendingPathComponent("m\(mask).spsi")) == messageMode, "umask \(mask)")
            #expect(try fileMode(banks.a.appendingPathComponent("s\(mask).state")) == 0o600, "umask \(mask)")
        }
    }

    @Test("Exit codes of output failures: 73 missing or unwritable folder, 74 write error; nothing under a final name")
    func outputFailures() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data("13800138000\n".utf8).write(to: banks.a.appendingPathComponent("list.txt"))
        let missing = try banks.run(Self.initiate + ["--state", "a.state", "--out", "no-such-folder/1.spsi"], in: banks.a)
        #expect(missing.status == 73)
        #expect(missing.stderr.contains("no-such-folder/1.spsi: cannot create the file: No such file or directory"))
        let readOnly = try banks.run(Self.initiate + ["--state", "a.state", "--out", "/proc/1.spsi"], in: banks.a)
        #expect(readOnly.status == 73)
        let noStateFolder = try banks.run(Self.initiate + ["--state", "gone/a.state", "--out", "1.spsi"], in: banks.a)
        #expect(noStateFolder.status == 73)
        // Writes fail (no file may grow: ulimit -f 0, as a full disk would): 74. ThreadSanitizer's
        // runtime cannot start under a file-size limit; there (only) the probe fails and the check is skipped.
        let probe = try runShell("trap '' XFSZ; ulimit -f 0; \"$PSI\" --help >/dev/null 2>&1", in: banks.a)
        guard probe.status == 0 else { return }
        let full = try runShell("trap '' XFSZ; ulimit -f 0; \"$PSI\" initiate --kind phone --input list.txt --purpose p --state a.state --out 1.spsi "
                                + banks.shellOptions("initiate", in: banks.a), in: banks.a)
        #expect(full.status == 74, "\(full.stderr)")
        #expect(full.stderr.contains("writing failed: File too large; nothing was saved"))
        #expect(try Self.names(banks.a) == ["list.txt"])
    }

    @Test("Usage mistakes exit 64 before any list is read: --purpose, --fp-rate, a missing --reply")
    func usageErrors() throws {
        let banks = try Self.responded()
        defer { banks.cleanUp() }
        let long = String(repeating: "x", count: 300)
        for (arguments, message) in [
            (["initiate", "--kind", "phone", "--input", "missing.txt", "--purpose", "", "--state", "s", "--out", "o"], "invalid for '--purpose <purpose>': invalid purpose label: it is empty"),
            (["initiate", "--kind", "phone", "--input", "missing.txt", "--purpose", long, "--state", "s", "--out", "o"], "expected at most 255"),
            (["hub", "setup", "--key", "k", "--kind", "phone", "--input", "missing.txt", "--purpose", "p", "--out", "o", "--fp-rate", "2^-10000"],
             "--fp-rate 2^-10000: invalid setup encoding: false-positive rate 0.0 is out of range"),
            (["hub", "setup", "--key", "k", "--kind", "phone", "--input", "missing.txt", "--purpose", "p", "--out", "o", "--fp-rate", "nan"],
             "false-positive rate nan is out of range"),
            (["hub", "respond", "--key", "k", "--kind", "phone", "--purpose", "", "--request", "r", "--out", "o"], "it is empty"),
            (["member", "request", "--setup", "s", "--kind", "phone", "--input", "missing.txt", "--purpose", "", "--state", "m", "--out", "o"], "it is empty"),
        ] {
            let result = try banks.run(arguments, in: banks.a)
            #expect(result.status == 64, "\(arguments.prefix(2)): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        let noReply = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi"], in: banks.a)
        #expect(noReply.status == 64)
        #expect(noReply.stderr.contains("--out-responder-reblinded is required: the outcome both-learn sends step 3 to the responder"))
    }

    @Test("Forged state sizes (digest recomputed), a 30 GB sparse key and member state: refused (76), no crash")
    func forgedSecretFiles() throws {
        let banks = try Self.responded()
        defer { banks.cleanUp() }
        try banks.transfer("2a.spsi", from: banks.b, to: banks.a)
        try banks.transfer("2b.spsi", from: banks.b, to: banks.a)
        let state = banks.a.appendingPathComponent("a.state")
        let original = try ForgedContainer(contentsOf: state)
        for (field, value) in [("itemCount", 1 << 58), ("recordBytes", Int.max)] {
            var forged = original
            try forged.editDescription { $0[field] = value }
            try forged.write(to: state)
            let result = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                                             "--out-responder-reblinded", "3.spsi"], in: banks.a)
            #expect(result.status == 76, "\(field)")
            #expect(result.stderr.contains("its sections do not add up to its length"))
        }
        // Hub key and member state, 30 GB of holes after a real header.
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        try folders.write("13800138000\n", "list.txt", in: folders.hub)
        try folders.write("13800138000\n", "mine.txt", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi"]
                              + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
        #expect(try folders.query().status == 0)
        try folders.transfer("response.spsi", from: folders.hub, to: folders.member)
        #expect(truncate(folders.hub.appendingPathComponent("hub.key").path, 30 << 30) == 0)
        #expect(truncate(folders.member.appendingPathComponent("m.state").path, 30 << 30) == 0)
        let key = try folders.run(["hub", "respond", "--key", "hub.key", "--kind", "phone", "--request", "request.spsi", "--out", "again.spsi"]
                                    + HubAndMemberFolders.purpose, in: folders.hub)
        #expect(key.status == 76)
        #expect(key.stderr.contains("it is 32212254720 bytes long; a hub key is exactly 116 bytes"))
        let member = try folders.run(["member", "finish", "--state", "m.state", "--setup", "setup.spsi", "--response", "response.spsi"],
                                       in: folders.member)
        #expect(member.status == 76)
        #expect(member.stderr.contains("its sections do not add up to its length of 32212254720 bytes"))
    }

    @Test("A state file of another user is refused (76)", .enabled(if: geteuid() == 0, "needs root to give a file away"))
    func foreignOwner() throws {
        let banks = try Self.started()
        defer { banks.cleanUp() }
        #expect(chown(banks.a.appendingPathComponent("a.state").path, 65_534, 65_534) == 0)
        let result = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "x.spsi", "--initiator-reblinded", "y.spsi"], in: banks.a)
        #expect(result.status == 76)
        #expect(result.stderr.contains("the secret file belongs to user 65534"))
    }

    @Test("A Bloom filter with every bit set is refused; the printed false-positive rate comes from the filter's fill")
    func bloomFill() throws {
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        let (hubList, memberList, expected) = UnbalancedCommandTests.lists(n: 300, m: 40, shared: 10, seed: 31)
        try folders.write(hubList, "list.txt", in: folders.hub)
        try folders.write(memberList, "mine.txt", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi",
                               "--encoding", "bloom", "--fp-rate", "2^-10"] + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
        #expect(try folders.query().status == 0)
        try folders.transfer("response.spsi", from: folders.hub, to: folders.member)
        let finish = try folders.succeed(["member", "finish", "--state", "m.state", "--setup", "setup.spsi", "--response", "response.spsi",
                                            "--json"], in: folders.member)
        let json = try JSONSerialization.jsonObject(with: Data(finish.utf8)) as! [String: Any]
        let filter = try #require(try UnbalancedSetup.read(from: folders.member.appendingPathComponent("setup.spsi")).bloomFilter)
        let fromFill = pow(Double(filter.setBitCount) / Double(filter.bitCount), Double(filter.hashCount))
        let printed = try #require(json["false_positive_rate"] as? Double)
        #expect(abs(printed - fromFill) <= 1e-12 * fromFill)   // JSON keeps about 16 digits
        #expect(abs(printed - 0x1p-10) > 1e-3 * 0x1p-10)       // not the stated rate
        #expect((json["intersection_size"] as? Int ?? 0) >= expected.count)
        // Every bit set, the digest recomputed: refused by the member before it sends anything.
        let setupURL = folders.member.appendingPathComponent("setup.spsi")
        var bytes = [UInt8](try Data(contentsOf: setupURL))
        for word in 0..<((filter.bitCount + 63) / 64) {
            // Every bit below m (the bits above m must stay clear, or that is refused first).
            let bits = min(64, filter.bitCount - 64 * word)
            let value = bits == 64 ? UInt64.max : (UInt64(1) << bits) - 1
            // After the header: the hub's public key (32 bytes of field elements), the parameter block (32).
            withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[156 + 32 + 32 + 8 * word + i] = byte } }
        }
        try Data(MalformedCorpusTests.redigest(bytes)).write(to: setupURL)
        let refused = try folders.run(["member", "request", "--setup", "setup.spsi", "--kind", "phone", "--input", "mine.txt",
                                         "--state", "m2.state", "--out", "r2.spsi"] + HubAndMemberFolders.purpose, in: folders.member)
        #expect(refused.status == 76)
        #expect(refused.stderr.contains("of its \(filter.bitCount) bits are set, where"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folders.member.appendingPathComponent("r2.spsi").path))
    }

    @Test("Errors never print sentinels: a count of 2^64 − 1 is reported as declared")
    func noSentinels() throws {
        let banks = try Self.started()
        defer { banks.cleanUp() }
        let url = banks.b.appendingPathComponent("1.spsi")
        var bytes = [UInt8](try Data(contentsOf: url))
        for i in 148..<156 { bytes[i] = 0xff }
        try Data(MalformedCorpusTests.redigest(bytes)).write(to: url)
        let result = try banks.run(Self.respond + ["--state", "b.state", "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: banks.b)
        #expect(result.status == 76)
        #expect(result.stderr.contains("header declares 18446744073709551615 elements of 32 bytes, more than any file can hold"))
        #expect(!result.stderr.contains("9223372036854775807"))
    }
}
