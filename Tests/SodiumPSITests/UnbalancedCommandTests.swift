import Foundation
import Testing
@testable import SodiumPSI

/// Runs the built `psi` executable (through ``PSICommand``) for the hub and member commands.
enum PSIBinary {
    static func run(_ arguments: [String], in folder: URL) throws -> PSICommand.Result {
        try PSICommand.run(arguments, in: folder)
    }

    /// Runs and requires success; returns standard output.
    @discardableResult
    static func succeed(_ arguments: [String], in folder: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(arguments, in: folder)
        #expect(result.status == 0, "psi \(arguments.joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation)
        if result.status != 0 { throw CancellationError() }
        return result.stdout
    }
}

/// A hub folder and a member folder that share only the setup, request and response files.
struct HubAndMemberFolders {
    let root: URL, hub: URL, member: URL
    static let purpose = ["--purpose", "2026 alliance agent numbers"]

    init() throws {
        root = try Unbalanced.folder()
        hub = root.appendingPathComponent("hub")
        member = root.appendingPathComponent("member")
        try FileManager.default.createDirectory(at: hub, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: member, withIntermediateDirectories: true)
        try TestParties.hub.save(to: hub.appendingPathComponent("hub.identity"))
        try TestParties.member.save(to: member.appendingPathComponent("member.identity"))
        try TwoBanks.peersFile([("Member Bank", TestParties.member.publicKey)]).write(to: hub.appendingPathComponent("members.json"))
        try TwoBanks.peersFile([("Alliance hub", TestParties.hub.publicKey)]).write(to: member.appendingPathComponent("peers.json"))
    }

    /// The identity and trust options of each hub and member step.
    func parties(_ arguments: [String]) -> [String] {
        switch arguments.prefix(2).joined(separator: " ") {
        case "hub setup": return ["--identity", "hub.identity"]
        case "hub respond": return ["--identity", "hub.identity", "--peers", "members.json"]
        case "member request", "member finish": return ["--identity", "member.identity", "--peers", "peers.json", "--hub", "Alliance hub"]
        default: return []
        }
    }

    /// Runs `psi` with the step's identity and trust options.
    func run(_ arguments: [String], in folder: URL) throws -> PSICommand.Result {
        try PSIBinary.run(arguments + parties(arguments), in: folder)
    }

    /// Runs with the step's identity and trust options and requires success; returns standard output.
    @discardableResult
    func succeed(_ arguments: [String], in folder: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try PSIBinary.succeed(arguments + parties(arguments), in: folder, sourceLocation: sourceLocation)
    }

    func transfer(_ name: String, from: URL, to: URL) throws {
        let target = to.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: target)
    }

    func write(_ text: String, _ name: String, in folder: URL) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }

    /// The member's request and the hub's response, through the binary.
    func query(setup: String = "setup.spsi", maxItems: Int? = nil) throws -> PSICommand.Result {
        try succeed(["member", "request", "--setup", setup, "--kind", "phone", "--input", "mine.txt", "--state", "m.state",
                               "--out", "request.spsi", "--force"] + Self.purpose, in: member)
        try transfer("request.spsi", from: member, to: hub)
        return try run(["hub", "respond", "--key", "hub.key", "--kind", "phone", "--request", "request.spsi", "--out", "response.spsi"]
                                 + Self.purpose + (maxItems.map { ["--max-request-items", "\($0)"] } ?? []), in: hub)
    }
}

@Suite("psi hub and psi member end to end", .serialized)
struct UnbalancedCommandTests {
    /// A hub list of `n` mobiles and a member list sharing `shared` of them, written in another style.
    static func lists(n: Int, m: Int, shared: Int, seed: UInt64) -> (hub: String, member: String, expected: Set<String>) {
        var rng = SplitMix64(seed: seed)
        var numbers = Set<String>()
        while numbers.count < n + m - shared { numbers.insert("139\(String(format: "%08llu", rng.next() % 100_000_000))") }
        let all = Array(numbers)
        let hub = Array(all[0..<n])
        let member = Array(all[0..<shared]) + all[n..<(n + m - shared)]
        let styled = member.map { "+86 \($0.prefix(3)) \($0.dropFirst(3).prefix(4)) \($0.suffix(4))" }
        return (hub.joined(separator: "\n") + "\n", styled.joined(separator: "\n") + "\n", Set(member[0..<shared].map { "+86" + $0 }))
    }

    /// Each encoding option and each answer mode once through the command; every combination of
    /// encoding and mode against the Set oracle in process (UnbalancedFileTests).
    @Test("keygen, setup, delta, request, respond, finish: the member's matches equal the Set intersection",
          arguments: [(["--encoding", "tags", "--tag-bytes", "10"], "intersection"), (["--encoding", "bloom", "--fp-rate", "2^-24"], "cardinality-only")])
    func endToEnd(encoding: [String], answer: String) throws {
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        let (hubList, memberList, expected) = Self.lists(n: 100, m: 30, shared: 12, seed: UInt64(encoding.count + answer.count))
        try folders.write(hubList, "list.txt", in: folders.hub)
        try folders.write("13800138000\n", "new.txt", in: folders.hub)
        try folders.write(memberList + "138-0013-8000\n", "mine.txt", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key", "--answer", answer], in: folders.hub)
        let setupJSON = try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi", "--json"]
                                              + encoding + HubAndMemberFolders.purpose, in: folders.hub)
        let setup = try JSONSerialization.jsonObject(with: Data(setupJSON.utf8)) as! [String: Any]
        #expect(setup["items"] as? Int == 100)
        try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "new.txt", "--delta-of", "setup.spsi",
                               "--out", "delta.spsi"] + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
        try folders.transfer("delta.spsi", from: folders.hub, to: folders.member)
        let respond = try folders.query()
        #expect(respond.status == 0, "\(respond.stderr)")
        #expect(respond.stderr.contains("the request holds 31 items"))
        try folders.transfer("response.spsi", from: folders.hub, to: folders.member)
        let finish = try folders.succeed(["member", "finish", "--state", "m.state", "--setup", "setup.spsi", "--delta", "delta.spsi",
                                            "--response", "response.spsi", "--out", "matches.csv", "--json"], in: folders.member)
        let json = try JSONSerialization.jsonObject(with: Data(finish.utf8)) as! [String: Any]
        let all = expected.union(["+8613800138000"])
        #expect(json["intersection_size"] as? Int == all.count)
        #expect(json["setup_size"] as? Int == 101)
        let matchesURL = folders.member.appendingPathComponent("matches.csv")
        if answer == "intersection" {
            let text = try String(contentsOf: matchesURL, encoding: .utf8)
            #expect(Set(text.split(separator: "\r\n").dropFirst().map { String($0.split(separator: ",").last!) }) == all)
            #expect(text.contains("31,,138-0013-8000,+8613800138000\r\n"))
            #expect((try FileManager.default.attributesOfItem(atPath: matchesURL.path)[.posixPermissions] as! NSNumber).intValue == 0o600)
        } else {
            // Cardinality-only: --out holds the count, and says so.
            #expect(try String(contentsOf: matchesURL, encoding: .utf8) == "column,intersection_size\r\n,\(all.count)\r\n")
        }
        for (folder, name) in [(folders.hub, "hub.key"), (folders.member, "m.state")] {
            #expect((try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.posixPermissions] as! NSNumber).intValue == 0o600)
        }
    }

    @Test("Refusals through the command: existing key (73), stale setup after --rotate, oversize request (76)")
    func refusals() throws {
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        try folders.write("13800138000\n13912345678\n", "list.txt", in: folders.hub)
        try folders.write("13800138000\n15012345678\n15112345678\n", "mine.txt", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        let again = try folders.run(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        #expect(again.status == 73)
        #expect(again.stderr.contains("pass --rotate"))
        try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "list.txt", "--out", "setup.spsi"]
                              + HubAndMemberFolders.purpose, in: folders.hub)
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)

        let oversize = try folders.query(maxItems: 2)
        #expect(oversize.status == 76)
        #expect(oversize.stderr.contains("request holds 3 items, more than the hub's maximum of 2"))

        try folders.succeed(["hub", "keygen", "--key", "hub.key", "--rotate"], in: folders.hub)
        let stale = try folders.query()
        #expect(stale.status == 76)
        #expect(stale.stderr.contains("fetch the current setup"))
        #expect(!FileManager.default.fileExists(atPath: folders.hub.appendingPathComponent("response.spsi").path))

        let inspect = try folders.succeed(["inspect", "request.spsi", "--json"], in: folders.hub)
        let json = try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as! [String: Any]
        #expect(json["protocol"] as? String == "unbalanced")
        #expect(json["kind"] as? String == "member request")
        #expect(json["mode"] as? String == "intersection")
    }

    @Test("Contributions with label columns: the member's matches file carries categories and reporter counts; deltas in order")
    func labeledContributions() throws {
        let folders = try HubAndMemberFolders()
        defer { folders.cleanUp() }
        try folders.write("phone,type,first,last\n13800138000,mass complaints,2026-01-03,2026-01-09\n13900139000,forged documents,2026-02-01,\n", "a.csv", in: folders.hub)
        try folders.write("phone,type,first,last\n+86 138 0013 8000,phone takeover,2025-12-01,2026-03-01\nnot a number,x,,\n", "b.csv", in: folders.hub)
        try folders.write("phone,type,first,last\n13900139000,mass complaints,2026-04-01,2026-04-02\n", "new.csv", in: folders.hub)
        try folders.write("13800138000\n13900139000\n13700137000\n", "mine.txt", in: folders.member)
        try folders.succeed(["hub", "keygen", "--key", "hub.key"], in: folders.hub)
        let labels = ["--column", "phone", "--category-column", "type", "--first-seen-column", "first", "--last-seen-column", "last"]
        let setup = try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "a.csv", "--contributor", "Bank A",
                                         "--contribution", "Bank B=b.csv", "--out", "setup.spsi", "--json"] + labels + HubAndMemberFolders.purpose,
                                        in: folders.hub)
        let json = try JSONSerialization.jsonObject(with: Data(setup.utf8)) as! [String: Any]
        #expect(json["items"] as? Int == 2 && json["encoding"] as? String == "truncated tags of 12 bytes with 96-byte encrypted labels")
        let contributions = json["contributions"] as! [[String: Any]]
        #expect(contributions.map { $0["name"] as! String } == ["Bank A", "Bank B"])
        #expect(contributions.map { $0["valid"] as! Int } == [2, 1] && contributions.map { $0["invalid"] as! Int } == [0, 1])
        for number in ["1", "3"] {
            try folders.succeed(["hub", "setup", "--key", "hub.key", "--kind", "phone", "--input", "new.csv", "--delta-of", "setup.spsi",
                                 "--delta-number", number, "--out", "delta-\(number).spsi"] + labels + HubAndMemberFolders.purpose, in: folders.hub)
            try folders.transfer("delta-\(number).spsi", from: folders.hub, to: folders.member)
        }
        try folders.transfer("setup.spsi", from: folders.hub, to: folders.member)
        #expect(try folders.query().status == 0)
        try folders.transfer("response.spsi", from: folders.hub, to: folders.member)
        let finish = ["member", "finish", "--state", "m.state", "--setup", "setup.spsi", "--response", "response.spsi"]
        try folders.succeed(finish + ["--output", "matches.csv"], in: folders.member)
        let text = try String(contentsOf: folders.member.appendingPathComponent("matches.csv"), encoding: .utf8)
        #expect(text == "line,column,value,canonical,categories,first_seen,last_seen,reporter_count,contributors,note\r\n"
                + "1,,13800138000,+8613800138000,mass complaints; phone takeover,2025-12-01,2026-03-01,2,,\r\n"
                + "2,,13900139000,+8613900139000,forged documents,2026-02-01,2026-02-01,1,,\r\n")
        // Delta 1 replaces a label; delta 3 after delta 1 is a gap.
        try folders.succeed(finish + ["--delta", "delta-1.spsi", "--output", "matches-1.csv"], in: folders.member)
        let relabeled = try String(contentsOf: folders.member.appendingPathComponent("matches-1.csv"), encoding: .utf8)
        #expect(relabeled.contains("\r\n2,,13900139000,+8613900139000,mass complaints,2026-04-01,2026-04-02,1,,\r\n"))
        let gap = try folders.run(finish + ["--delta", "delta-1.spsi", "--delta", "delta-3.spsi", "--output", "matches-3.csv"], in: folders.member)
        #expect(gap.status == 76)
        #expect(gap.stderr.contains("delta-3.spsi: this is delta 3 of its setup; expected delta 2"))
    }
}
