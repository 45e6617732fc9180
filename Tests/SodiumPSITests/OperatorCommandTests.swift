import Foundation
import Testing
@testable import SodiumPSI

/// What an operator meets around the exchange (issue 16): joinable matches, several identifier
/// columns, option names, help and version, purpose mismatches as text, progress and `--json`
/// summaries, through the built `psi`.
@Suite("psi for operators: joined matches, columns, names, summaries", .serialized)
struct OperatorCommandTests {
    /// A case-system export: three cases share one agent number, written three ways; a blank
    /// line; quoted fields with commas and a line break.
    static let caseExport = """
        case_id,agent_phone,doc_hash,risk_tag\r
        C1,13800138000,\(String(repeating: "a", count: 64)),high\r
        C2,138-0013-8000,\(String(repeating: "b", count: 64)),"low, watch"\r
        \r
        C3,13900139000,\(String(repeating: "c", count: 64)),"two\r
        lines"\r
        C4,+86 138 0013 8000,\(String(repeating: "a", count: 64)),mid\r

        """
    static let peerList = "+8613800138000\n15000000000\n"
    static let purpose = ["--purpose", "2026 agent phone numbers"]

    /// Runs initiate, respond and A's finish (both-learn); returns A's finish.
    static func exchange(_ banks: TwoBanks, readA: [String], readB: [String], finishA: [String], finishB: [String]? = nil,
                         listB: String = peerList) throws -> (a: PSICommand.Result, b: PSICommand.Result?) {
        try answer(banks, readA: readA, readB: readB, listB: listB)
        let a = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                               "--out-responder-reblinded", "3.spsi"] + finishA, in: banks.a)
        guard let finishB, a.status == 0 else { return (a, nil) }
        for name in try FileManager.default.contentsOfDirectory(atPath: banks.a.path) where name.hasPrefix("3.") {
            try banks.transfer(name, from: banks.a, to: banks.b)
        }
        return (a, try banks.run(["finish", "--state", "b.state", "--responder-reblinded", "3.spsi"] + finishB, in: banks.b))
    }

    /// Runs initiate and respond and sends step 2 to A.
    static func answer(_ banks: TwoBanks, readA: [String], readB: [String], listB: String = peerList) throws {
        try Data(caseExport.utf8).write(to: banks.a.appendingPathComponent("cases.csv"))
        try Data(listB.utf8).write(to: banks.b.appendingPathComponent("list.txt"))
        try expectSuccess(banks.run(["initiate", "--input", "cases.csv"] + readA + purpose + ["--state", "a.state", "--out", "1.spsi"],
                                    in: banks.a))
        for name in try FileManager.default.contentsOfDirectory(atPath: banks.a.path) where name.hasPrefix("1.") {
            try banks.transfer(name, from: banks.a, to: banks.b)
        }
        try expectSuccess(banks.run(["respond", "--input", "list.txt"] + readB + purpose
                                    + ["--initiator-blinded", "1.spsi", "--state", "b.state",
                                       "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"], in: banks.b))
        for name in try FileManager.default.contentsOfDirectory(atPath: banks.b.path) where name.hasPrefix("2") {
            try banks.transfer(name, from: banks.b, to: banks.a)
        }
    }

    /// The agent-phone column of ``caseExport`` initiated and answered by ``peerList`` (both-learn),
    /// step 2 sent to A: each test that starts here runs only A's finish, on its own copy.
    static let answered = TwoBanks.fixture { banks in
        try answer(banks, readA: ["--kind", "phone", "--column", "agent_phone"], readB: ["--kind", "phone"])
    }

    /// Bank A's finish of the ``answered`` exchange, on a copy in `banks`.
    static func finishAnswered(_ banks: TwoBanks, _ arguments: [String]) throws -> PSICommand.Result {
        try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                       "--out-responder-reblinded", "3.spsi"] + arguments, in: banks.a)
    }

    static func text(_ folder: URL, _ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("The matches file has every row of a matched number (three cases), all its columns, RFC 4180 quoting, physical lines")
    func joinedMatches() throws {
        let banks = try TwoBanks(copying: Self.answered)
        defer { banks.cleanUp() }
        let read = ["--kind", "phone", "--column", "agent_phone"]
        let a = try Self.finishAnswered(banks, ["--input", "cases.csv"] + read + ["--out", "matches.csv"])
        try expectSuccess(a)
        let a64 = String(repeating: "a", count: 64), b64 = String(repeating: "b", count: 64)
        // Lines 2, 3 and 7 (the header is line 1, the blank line 4, C3's quoted line break ends line 5).
        #expect(try Self.text(banks.a, "matches.csv") == """
            line,column,value,canonical,case_id,agent_phone,doc_hash,risk_tag\r
            2,agent_phone,13800138000,+8613800138000,C1,13800138000,\(a64),high\r
            3,agent_phone,138-0013-8000,+8613800138000,C2,138-0013-8000,\(b64),"low, watch"\r
            7,agent_phone,+86 138 0013 8000,+8613800138000,C4,+86 138 0013 8000,\(a64),mid\r

            """)
        #expect(try fileMode(banks.a.appendingPathComponent("matches.csv")) == 0o600)
        #expect(a.stderr.contains("wrote 3 rows of matches to matches.csv"))
    }

    @Test("--keep names the columns; a column the header lacks is refused listing the header (65); without --input one row a value")
    func keptColumns() throws {
        let banks = try TwoBanks(copying: Self.answered)
        defer { banks.cleanUp() }
        let read = ["--kind", "phone", "--column", "agent_phone"]
        let a = try Self.finishAnswered(banks, ["--input", "cases.csv"] + read + ["--keep", "case_id,risk_tag", "--out", "kept.csv"])
        try expectSuccess(a)
        #expect(try Self.text(banks.a, "kept.csv") == """
            line,column,value,canonical,case_id,risk_tag\r
            2,agent_phone,13800138000,+8613800138000,C1,high\r
            3,agent_phone,138-0013-8000,+8613800138000,C2,"low, watch"\r
            7,agent_phone,+86 138 0013 8000,+8613800138000,C4,mid\r

            """)
        // The same messages finish again (the state allows it): a missing kept column.
        let finish = ["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                      "--out-responder-reblinded", "3.spsi"]
        let missing = try banks.run(finish + ["--input", "cases.csv"] + read + ["--keep", "case_id,score", "--out", "x.csv"], in: banks.a)
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("no column named 'score' in the first line, whose 4 fields are 'case_id', 'agent_phone', 'doc_hash', 'risk_tag'"))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("x.csv").path))
        // Without --input: the state's record of each matched value, and a note saying so.
        let bare = try banks.run(finish + ["--out", "bare.csv"], in: banks.a)
        try expectSuccess(bare)
        #expect(try Self.text(banks.a, "bare.csv") == "line,column,value,canonical\r\n2,,13800138000,+8613800138000\r\n")
        #expect(bare.stderr.contains("give --input and the list's options to write every row with its columns"))
        // --keep without --input is a usage error; the old spelling --output still works.
        #expect(try banks.run(finish + ["--keep", "case_id"], in: banks.a).status == 64)
        try expectSuccess(banks.run(finish + ["--output", "old.csv"], in: banks.a))
        #expect(try Self.text(banks.a, "old.csv") == Self.text(banks.a, "bare.csv"))
    }

    @Test("A list changed since it was blinded, or read with other options, is refused at the join (65), naming the line")
    func changedList() throws {
        let banks = try TwoBanks(copying: Self.answered)
        defer { banks.cleanUp() }
        let read = ["--kind", "phone", "--column", "agent_phone"]
        let a = try Self.finishAnswered(banks, ["--out", "m.csv"])
        try expectSuccess(a)
        let finish = ["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                      "--out-responder-reblinded", "3.spsi"]
        // A row inserted before the first match moves it.
        try Data(Self.caseExport.replacingOccurrences(of: "C1,", with: "C0,15900000000,x,y\r\nC1,").utf8)
            .write(to: banks.a.appendingPathComponent("cases.csv"))
        let moved = try banks.run(finish + ["--input", "cases.csv"] + read + ["--out", "j.csv"], in: banks.a)
        #expect(moved.status == 65)
        #expect(moved.stderr.contains("cases.csv: not the list the exchange was made from: the matched value of line 2 is first found at line 3; expected the same file read with the same options"))
        // The matched number gone.
        try Data("case_id,agent_phone\r\nC9,13900139000\r\n".utf8).write(to: banks.a.appendingPathComponent("cases.csv"))
        let gone = try banks.run(finish + ["--input", "cases.csv"] + read + ["--out", "j.csv"], in: banks.a)
        #expect(gone.status == 65)
        #expect(gone.stderr.contains("the matched value of line 2 is found on no line"))
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("j.csv").path))
    }

    @Test("Two identifier columns in one run: one exchange a kind, files named by kind, each column's matches equal its Set intersection")
    func severalColumns() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let a64 = String(repeating: "a", count: 64), c64 = String(repeating: "c", count: 64)
        let listB = "phone,doc\n13800138000,\(a64)\n13700137000,\(c64)\n16600000000,\(String(repeating: "d", count: 64))\n"
        let readA = ["--column", "agent_phone:phone", "--column", "doc_hash:document"]
        let readB = ["--column", "phone:phone", "--column", "2:document"]
        let (a, b) = try Self.exchange(banks, readA: readA, readB: readB,
                                       finishA: ["--input", "cases.csv"] + readA + ["--keep", "case_id", "--out", "m.csv", "--json"],
                                       finishB: ["--input", "list.txt"] + readB + ["--out", "m.csv", "--json"], listB: listB)
        try expectSuccess(a)
        try expectSuccess(#require(b))
        for name in ["a.phone.state", "a.document.state", "1.phone.spsi", "1.document.spsi", "a.phone.state.receipt.json",
                     "a.document.state.receipt.json", "3.phone.spsi", "3.document.spsi"] {
            #expect(FileManager.default.fileExists(atPath: banks.a.appendingPathComponent(name).path), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: banks.a.appendingPathComponent("a.state").path))
        // Each message names its column's identifier type.
        for (name, type) in [("1.phone.spsi", "phone numbers"), ("1.document.spsi", "document fingerprints")] {
            let inspect = try banks.run(["inspect", "--json", name], in: banks.b)
            let header = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
            #expect(header["identifier_type"] as? String == type)
        }
        // Phones: A's 13800138000 (rows 2, 3, 7); documents: a… (rows 2, 7) and c… (row 5).
        #expect(try Self.text(banks.a, "m.csv") == """
            line,column,value,canonical,case_id\r
            2,agent_phone,13800138000,+8613800138000,C1\r
            2,doc_hash,\(a64),sha256:\(a64),C1\r
            3,agent_phone,138-0013-8000,+8613800138000,C2\r
            5,doc_hash,\(c64),sha256:\(c64),C3\r
            7,agent_phone,+86 138 0013 8000,+8613800138000,C4\r
            7,doc_hash,\(a64),sha256:\(a64),C4\r

            """)
        #expect(try Self.text(banks.b, "m.csv") == """
            line,column,value,canonical,phone,doc\r
            2,phone,13800138000,+8613800138000,13800138000,\(a64)\r
            2,2,\(a64),sha256:\(a64),13800138000,\(a64)\r
            3,2,\(c64),sha256:\(c64),13700137000,\(c64)\r

            """)
        // Reported per column.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any])
        let columns = try #require(json["columns"] as? [[String: Any]])
        #expect(columns.map { $0["column"] as? String } == ["agent_phone", "doc_hash"])
        #expect(columns.map { $0["intersection_size"] as? Int } == [1, 2])
        #expect(columns.map { $0["own_set_size"] as? Int } == [2, 3])
        #expect(json["matched_rows"] as? Int == 6)
        // Both receipts of each column describe one run.
        for kind in ["phone", "document"] {
            try banks.transfer("b.\(kind).state.receipt.json", from: banks.b, to: banks.a)
            try expectSuccess(banks.run(["receipt", "verify", "a.\(kind).state.receipt.json", "--peer-receipt", "b.\(kind).state.receipt.json"],
                                        in: banks.a))
        }
    }

    @Test("Several columns: one kind twice is refused (64); a later column's failure leaves no file of the earlier one (65)")
    func severalColumnsRefused() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        try Data(Self.caseExport.utf8).write(to: banks.a.appendingPathComponent("cases.csv"))
        let twice = try banks.run(["initiate", "--input", "cases.csv", "--column", "agent_phone:phone", "--column", "case_id:phone"]
                                  + Self.purpose + ["--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(twice.status == 64)
        #expect(twice.stderr.contains("two --column values are phone numbers: each kind once in a run"))
        let noKind = try banks.run(["initiate", "--input", "cases.csv", "--column", "agent_phone"] + Self.purpose
                                   + ["--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(noKind.status == 64)
        #expect(noKind.stderr.contains("--column agent_phone: give its kind (--column agent_phone:phone) or --kind"))
        let later = try banks.run(["initiate", "--input", "cases.csv", "--column", "agent_phone:phone", "--column", "missing:document"]
                                  + Self.purpose + ["--state", "a.state", "--out", "1.spsi"], in: banks.a)
        #expect(later.status == 65)
        #expect(later.stderr.contains("no column named 'missing'"))
        let left = try FileManager.default.contentsOfDirectory(atPath: banks.a.path).filter { $0.hasPrefix("a.") || $0.hasPrefix("1.") }
        #expect(left.isEmpty, "\(left)")
        // Steps whose message holds one identifier type take one column.
        let setup = try banks.run(["hub", "setup", "--key", "k", "--identity", "bank.identity", "--input", "cases.csv",
                                   "--column", "agent_phone:phone", "--column", "doc_hash:document"] + Self.purpose + ["--out", "s.spsi"],
                                  in: banks.a)
        #expect(setup.status == 64)
        #expect(setup.stderr.contains("one --column at a time: a setup holds one identifier type"))
    }

    @Test("Cardinality-only: --out holds the count of each column, and the step says what it wrote")
    func cardinalityCount() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let read = ["--kind", "phone", "--column", "agent_phone", "--outcome", "cardinality-only"]
        let (a, b) = try Self.exchange(banks, readA: read, readB: ["--kind", "phone", "--outcome", "cardinality-only"],
                                       finishA: ["--out", "count.csv"], finishB: ["--out", "count.csv"])
        try expectSuccess(a)
        try expectSuccess(#require(b))
        for side in [banks.a, banks.b] {
            #expect(try Self.text(side, "count.csv") == "column,intersection_size\r\n,1\r\n")
        }
        #expect(a.stderr.contains("wrote the count (1) to count.csv; which items match is not revealed"))
    }

    @Test("Inputs are named after their messages: the responder's input given to the initiator, or none, is a usage error naming them")
    func finishNames() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let both = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi", "--initiator-reblinded", "2b.spsi",
                                  "--responder-reblinded", "3.spsi"], in: banks.a)
        #expect(both.status == 64)
        #expect(both.stderr.contains("--responder-reblinded is the responder's input; the initiator gives --responder-blinded and --initiator-reblinded"))
        let half = try banks.run(["finish", "--state", "a.state", "--responder-blinded", "2a.spsi"], in: banks.a)
        #expect(half.status == 64)
        #expect(half.stderr.contains("the initiator gives both --responder-blinded and --initiator-reblinded"))
        let none = try banks.run(["finish", "--state", "a.state"], in: banks.a)
        #expect(none.status == 64)
        #expect(none.stderr.contains("give the initiator's inputs (--responder-blinded, --initiator-reblinded) or the responder's (--responder-reblinded)"))
        // The old, role-dependent --reblinded is gone: the error names the inputs by their messages.
        let old = try banks.run(["finish", "--state", "b.state", "--reblinded", "3.spsi"], in: banks.b)
        #expect(old.status == 64)
        #expect(old.stderr.contains("or the responder's (--responder-reblinded)"))
    }

    /// Every command path, for help checks.
    static let commands = [["initiate"], ["respond"], ["finish"], ["inspect"], ["canonicalize"], ["sample"], ["hub", "keygen"],
                           ["hub", "setup"], ["hub", "respond"], ["member", "request"], ["member", "finish"], ["identity", "create"],
                           ["identity", "show"], ["receipt", "verify"]]

    @Test("--version; --help shows enum defaults by name and no option without help, and hub keygen's the trust of each outcome; --threads is checked alike everywhere")
    func helpAndVersion() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let version = try PSICommand.run(["--version"], in: folder)
        #expect(version.status == 0)
        #expect(version.stdout == "0.3.0\n")
        // Every command's options at once, as --help renders them (ArgumentParser's tool description):
        // each shown option has help text, and no default depends on the machine (a thread count).
        let dump = try PSICommand.run(["--experimental-dump-help"], in: folder)
        try expectSuccess(dump)
        let tool = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var commands = [String: [[String: Any]]]()
        func walk(_ command: [String: Any], _ path: [String]) {
            commands[path.joined(separator: " ")] = command["arguments"] as? [[String: Any]] ?? []
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { walk(sub, path + [sub["commandName"] as? String ?? "?"]) }
        }
        walk(try #require(tool["command"] as? [String: Any]), [])
        #expect(Set(Self.commands.map { $0.joined(separator: " ") }).isSubset(of: commands.keys))
        for (command, arguments) in commands where command != "help" {
            for argument in arguments where argument["shouldDisplay"] as? Bool != false {
                let name = (argument["preferredName"] as? [String: Any])?["name"] as? String ?? argument["valueName"] as? String ?? "?"
                #expect(!(argument["abstract"] as? String ?? "").isEmpty, "psi \(command): --\(name) has no help")
                #expect(!["1", "2"].contains(argument["defaultValue"] as? String), "psi \(command): --\(name) shows a default of this machine")
            }
        }
        /// The default `psi <command> --help` shows for `--option`.
        func defaultValue(_ command: String, _ option: String) -> String? {
            commands[command]?.first { ($0["preferredName"] as? [String: Any])?["name"] as? String == option }?["defaultValue"] as? String
        }
        #expect(defaultValue("initiate", "outcome") == "both-learn")
        // psi hub keygen --help, rendered: cardinality-only is semi-honest only, intersection answers are verified.
        let help = try PSICommand.run(["hub", "keygen", "--help"], in: folder)
        #expect(help.status == 0)
        let keygen = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(keygen.contains("cardinality-only is SEMI-HONEST ONLY: a member that blinds each item with its own scalar"))
        #expect(keygen.contains("learns which of its items matched"))
        #expect(keygen.contains("member-learns: every answer carries an RFC 9497 VOPRF proof"))
        #expect(keygen.contains("--outcome <outcome> What members learn, fixed for the key. (default: member-learns)"))
        // The one --threads group, in steps of every kind (the other required options given, so that validation is reached).
        let party = ["--identity", "i", "--peers", "q"]
        for command in [["initiate", "--input", "x", "--kind", "phone", "--purpose", "p", "--peer", "P", "--state", "s", "--out", "o"] + party,
                        ["finish", "--state", "s", "--peer", "P", "--responder-reblinded", "r"] + party,
                        ["hub", "setup", "--key", "k", "--identity", "i", "--input", "x", "--kind", "phone", "--purpose", "p", "--out", "o"],
                        ["member", "finish", "--hub", "H", "--state", "s", "--setup", "u", "--response", "r"] + party] {
            let run = try PSICommand.run(command + ["--threads", "0"], in: folder)
            #expect(run.status == 64)
            #expect(run.stderr.contains("--threads must be at least 1"), "\(command): \(run.stderr)")
        }
    }

    @Test("A purpose mismatch shows both labels as text and the rule: NFC only, full-width punctuation not folded (76)")
    func purposeMismatch() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let fullWidth = "2026：agents", ascii = "2026:agents"
        try TwoBanks.peersFile([("Bank A", TestParties.a.publicKey)], purposes: [ascii, fullWidth])
            .write(to: banks.b.appendingPathComponent("peers.json"))
        try Data("13800138000\n".utf8).write(to: banks.a.appendingPathComponent("l.txt"))
        try Data("13800138000\n".utf8).write(to: banks.b.appendingPathComponent("l.txt"))
        try expectSuccess(banks.run(["initiate", "--kind", "phone", "--input", "l.txt", "--purpose", fullWidth, "--state", "a.state",
                                     "--out", "1.spsi"], in: banks.a))
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        let respond = ["respond", "--kind", "phone", "--input", "l.txt", "--initiator-blinded", "1.spsi", "--state", "b.state",
                       "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi"]
        let refused = try banks.run(respond + ["--purpose", ascii], in: banks.b)
        #expect(refused.status == 76)
        let digest = { (label: String) in try PurposeLabel(label).digest.hexString }
        #expect(refused.stderr.contains("1.spsi: the message was made for the purpose \"\(fullWidth)\" (listed for peer \"Bank A\" in your peers file); expected \"\(ascii)\" (SHA-256 \(try digest(ascii)))"))
        #expect(refused.stderr.contains("labels are compared after Unicode NFC only"))
        #expect(refused.stderr.contains("(these two differ only in full-width or other compatibility forms, which are not folded)"))
        // A label this side does not know is shown by its digest.
        try TwoBanks.peersFile([("Bank A", TestParties.a.publicKey)]).write(to: banks.b.appendingPathComponent("peers.json"))
        let unknown = try banks.run(respond + ["--purpose", "other"], in: banks.b)
        #expect(unknown.status == 76)
        #expect(unknown.stderr.contains("made for the purpose a label unknown here (SHA-256 \(try digest(fullWidth)))"))
        #expect(!unknown.stderr.contains("differ only in full-width"))
        // NFC: a decomposed é is the same label as a composed one; the full-width colon is not an ASCII one.
        #expect(try PurposeLabel("caf\u{E9}") == PurposeLabel("cafe\u{301}"))
        #expect(try PurposeLabel(fullWidth) != PurposeLabel(ascii))
        // ArgumentParser refuses an invalid label before any file is read (64).
        let empty = try banks.run(respond + ["--purpose", ""], in: banks.b)
        #expect(empty.status == 64)
        #expect(empty.stderr.contains("invalid for '--purpose <purpose>': invalid purpose label: it is empty"))
    }

    @Test("--json carries the tool version, start and end times and the SHA-256 of every file read and written")
    func jsonSummary() throws {
        let banks = try TwoBanks(copying: Self.answered)
        defer { banks.cleanUp() }
        let read = ["--kind", "phone", "--column", "agent_phone"]
        let a = try Self.finishAnswered(banks, ["--input", "cases.csv"] + read + ["--out", "m.csv", "--json"])
        try expectSuccess(a)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any])
        #expect(json["psi_version"] as? String == "0.3.0")
        let formatter = ISO8601DateFormatter()
        let started = try #require((json["started_at"] as? String).flatMap(formatter.date(from:)))
        let finished = try #require((json["finished_at"] as? String).flatMap(formatter.date(from:)))
        #expect(started <= finished && finished.timeIntervalSinceNow > -600)
        let files = try #require(json["files"] as? [[String: Any]])
        let named = files.map { "\($0["role"]!) \($0["option"]!) \($0["path"]!)" }
        #expect(Set(named) == ["input --state a.state", "input --responder-blinded 2a.spsi", "input --initiator-reblinded 2b.spsi",
                               "input --input cases.csv", "input --identity bank.identity", "input --peers peers.json",
                               "output --state a.state", "output --out-responder-reblinded 3.spsi",
                               "output --receipt a.state.receipt.json", "output --out m.csv"])
        // The digests are the files' (those not rewritten by the step: all but the state's input).
        for file in files where !(file["role"] as? String == "input" && file["option"] as? String == "--state") {
            let url = banks.a.appendingPathComponent(file["path"] as! String)
            #expect(file["sha256"] as? String == (try fileSHA256(url)).hexString, "\(file)")
            #expect(file["bytes"] as? Int == (try Data(contentsOf: url)).count)
        }
    }

    @Test("On a terminal the bar shows items done of the total and the time left, and no other line runs into it",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) for a terminal"))
    func progressOnTerminal() throws {
        let banks = try TwoBanks()
        defer { banks.cleanUp() }
        let numbers = (0..<6_000).map { "139\(String(format: "%08d", $0 * 7))" }.joined(separator: "\n") + "\n"
        try Data(numbers.utf8).write(to: banks.a.appendingPathComponent("l.txt"))
        try Data("13900000000\n".utf8).write(to: banks.b.appendingPathComponent("l.txt"))
        // script(1) runs a step on a pseudo-terminal and copies what it wrote.
        func onTerminal(_ arguments: [String], in folder: URL) throws -> String {
            let command = ([PSICommand.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
            let run = try PSICommand.run(["-qec", command, "/dev/null"], in: folder, program: URL(fileURLWithPath: "/usr/bin/script"))
            #expect(run.status == 0, "\(run.stdout)")
            return run.stdout.replacingOccurrences(of: "\r\n", with: "\n")
        }
        // A streamed list: the total is its line count, an estimate until the list has been read.
        let initiate = try onTerminal(["initiate", "--kind", "phone", "--input", "l.txt", "--state", "a.state", "--out", "1.spsi", "--threads", "1"]
                                      + Self.purpose + banks.parties(banks.a), in: banks.a)
        #expect(initiate.range(of: #"blinding own items \[#* *\] \d+% [\d,]+ of about 6,000, ETA (\d+:\d\d|--)"#, options: .regularExpression) != nil,
                "\(initiate)")
        #expect(initiate.contains("blinding own items [########################] 100% 6,000 of 6,000 in "), "\(initiate)")
        try banks.transfer("1.spsi", from: banks.a, to: banks.b)
        let output = try onTerminal(["respond", "--kind", "phone", "--input", "l.txt", "--initiator-blinded", "1.spsi", "--state", "b.state",
                                     "--out-responder-blinded", "2a.spsi", "--out-initiator-reblinded", "2b.spsi", "--threads", "1"]
                                    + Self.purpose + banks.parties(banks.b), in: banks.b)
        #expect(output.contains("re-blinding the peer's items [########################] 100% 6,000 of 6,000 in "))
        #expect(output.range(of: #"re-blinding the peer's items \[#* *\] \d+% [\d,]+ of 6,000, ETA \d+:\d\d"#, options: .regularExpression) != nil)
        // What stays on each line is what follows its last erase: a bar, or a line of output, never both.
        for line in output.split(separator: "\n") {
            let shown = line.components(separatedBy: "\r\u{1B}[K").last!.components(separatedBy: "\r").last!
            let isBar = shown.contains("] ") && shown.contains("% ")
            #expect(!(isBar && (shown.contains("blinded ") || shown.contains("read ") || shown.contains("send "))), "\(shown)")
        }
        #expect(output.split(separator: "\n").contains { $0.components(separatedBy: "\r\u{1B}[K").last!.hasPrefix("read 1 values") })
    }

    @Test("Bloom filter k = round(log2(1/ε)) rounds half away from zero; the hub key's layout byte and outcome byte; the request's mode byte")
    func pinnedLayouts() throws {
        // log2 of this ε is exactly −10.5 in binary64: half away from zero gives 11 (half to even would give 10).
        let ε = pow(2, -10.5)
        try #require(log2(ε) == -10.5)
        #expect(try BloomFilter.parameters(itemCount: 1_000, falsePositiveRate: ε).hashCount == 11)
        #expect(try BloomFilter.parameters(itemCount: 1_000, falsePositiveRate: pow(2, -11.5)).hashCount == 12)

        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        try folders.write("13800138000\n13900139000\n", "list.txt", in: folders.hub)
        try folders.write("13800138000\n", "mine.txt", in: folders.member)
        for (outcome, byte) in [("member-learns", UInt8(1)), ("cardinality-only", 2), ("intersection", 1)] {
            let flag = outcome == "intersection" ? "--answer" : "--outcome"  // the old spelling still reads
            try folders.succeed(["hub", "keygen", "--key", "hub.key", flag, outcome, "--rotate"], in: folders.hub)
            let key = [UInt8](try Data(contentsOf: folders.hub.appendingPathComponent("hub.key")))
            // Container version 1, content 4 (hub key), layout 2; the body's first byte is the answer mode.
            #expect(key.count == 116)
            #expect(Array(key[8...10]) == [1, 4, 2])
            #expect(key[19 + 32] == byte)
            // The old spelling's key is the member-learns key (byte 1): its setup and request are those of member-learns.
            if outcome == "intersection" { continue }
            try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi"]
                                + HubAndMemberFolders.purpose, in: folders.hub)
            try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
            try folders.succeed(["member", "request", "--setup", "setup.spsi", "--kind", "phone", "--input", "mine.txt",
                                 "--state", "m.state", "--out", "request.spsi", "--force"] + HubAndMemberFolders.purpose, in: folders.member)
            let request = [UInt8](try Data(contentsOf: folders.member.appendingPathComponent("request.spsi")))
            #expect(request[13] == byte)  // the mode byte: the answer mode, encoding bits zero
            #expect(request[12] == 3)  // kind 3, member request
        }
    }

    @Test("psi member finish joins every row of a matched value with its columns, or writes the count")
    func memberJoined() throws {
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        try folders.write("13800138000\n13900139000\n", "list.txt", in: folders.hub)
        try folders.write("id,phone\nM1,13800138000\nM2,15000000000\nM3,+86 138 0013 8000\n", "mine.csv", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi"]
                            + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
        let read = ["--kind", "phone", "--column", "phone"]
        try folders.succeed(["member", "request", "--setup", "setup.spsi", "--input", "mine.csv"] + read
                            + ["--state", "m.state", "--out", "request.spsi"] + HubAndMemberFolders.purpose, in: folders.member)
        try folders.transfer("request.spsi", from: folders.member, to: folders.hub)
        try folders.succeed(["hub", "respond", "--key", "hub.key", "--kind", "phone", "--request", "request.spsi", "--out", "response.spsi"]
                            + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("response.spsi", from: folders.hub, to: folders.member)
        try folders.succeed(["member", "finish", "--state", "m.state", "--setup", "setup.spsi", "--response", "response.spsi",
                             "--input", "mine.csv"] + read + ["--keep", "id", "--out", "m.csv"], in: folders.member)
        #expect(try String(contentsOf: folders.member.appendingPathComponent("m.csv"), encoding: .utf8) == """
            line,column,value,canonical,id\r
            2,phone,13800138000,+8613800138000,M1\r
            4,phone,+86 138 0013 8000,+8613800138000,M3\r

            """)
    }
}
