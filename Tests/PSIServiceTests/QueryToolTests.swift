import Foundation
import Testing
import SodiumPSI
@testable import PSIService

@Suite("psi-hub query writes the matches file of psi member finish")
struct QueryToolTests {
    @Test("For the same CSV list, psi-hub query's matches file is byte for byte the file flow's (psi member request, psi hub respond, psi member finish)",
          arguments: [[], ["--join"], ["--join", "--keep", "account,2"]])
    func sameMatchesAsTheFileFlow(options: [String]) async throws {
        let fixture = try HubFixture(hubItemCount: 60, members: [("Bank A", ItemBudget(perDay: 10_000, perMonth: 100_000))])
        // A list with other columns, a quoted comma, and values repeated on later rows.
        var csv = "account,value,note\n"
        for j in 0..<40 {
            let value = j % 4 == 0 ? "listed-\(j % 60)" : "own-\(j)"
            csv += "acct-\(j),\(value),\"note, \(j)\"\n"
            if j % 8 == 0 { csv += "acct-\(j)-again,\(value),repeat\n" }
        }
        try csv.write(to: fixture.url("list.csv"), atomically: true, encoding: .utf8)
        try fixture.members[0].identity.save(to: fixture.url("member.identity"))
        try JSONSerialization.data(withJSONObject: ["peers": [["name": "Alliance hub", "publicKey": fixture.hubIdentity.publicKey.hex]]])
            .write(to: fixture.url("member-peers.json"))
        let member = ["--identity", fixture.url("member.identity").path, "--peers", fixture.url("member-peers.json").path]
        let list = ["--kind", "plain", "--input", fixture.url("list.csv").path, "--column", "value"]
        let purpose = ["--purpose", fixture.purpose.value]

        let hub = try await RunningHub.start(fixture.configuration())
        let viaHub = try await PSIHubExecutable.run("psi-hub", ["query", "--hub", "https://127.0.0.1:\(hub.port)", "--hub-name", "Alliance hub"]
            + member + list + purpose + ["--cache", fixture.url("cache").path, "--ca", fixture.url("tls.crt").path,
                                         "--out", fixture.url("hub-matches.csv").path] + options)
        try await hub.stop()
        #expect(viaHub.status == 0, "\(viaHub.errors)")

        let request = try await PSIHubExecutable.run("psi", ["member", "request", "--hub", "Alliance hub", "--setup", fixture.url("setup.spsi").path]
            + member + list + purpose + ["--state", fixture.url("m.state").path, "--out", fixture.url("request.spsi").path])
        #expect(request.status == 0, "\(request.errors)")
        let respond = try await PSIHubExecutable.run("psi", ["hub", "respond", "--key", fixture.url("hub.key").path, "--identity", fixture.url("hub.identity").path,
                                                              "--peers", fixture.url("members.json").path, "--kind", "plain"] + purpose
            + ["--request", fixture.url("request.spsi").path, "--out", fixture.url("response.spsi").path])
        #expect(respond.status == 0, "\(respond.errors)")
        // psi member finish joins with --input (the list read again); psi-hub query has its --input already and joins with --join.
        let join = options.contains("--join") ? list + Array(options.drop { $0 != "--keep" }) : ["--column", "value", "--kind", "plain"]
        let finish = try await PSIHubExecutable.run("psi", ["member", "finish", "--hub", "Alliance hub", "--state", fixture.url("m.state").path,
                                                             "--setup", fixture.url("setup.spsi").path, "--response", fixture.url("response.spsi").path]
            + member + join + ["--out", fixture.url("file-matches.csv").path])
        #expect(finish.status == 0, "\(finish.errors)")

        let viaFiles = try String(contentsOf: fixture.url("file-matches.csv"), encoding: .utf8)
        let viaService = try String(contentsOf: fixture.url("hub-matches.csv"), encoding: .utf8)
        #expect(viaService == viaFiles)
        let matchedRows = viaFiles.split(whereSeparator: \.isNewline).count - 1
        #expect(matchedRows == (options.isEmpty ? 10 : 15), "\(viaFiles)")
        let attributes = try FileManager.default.attributesOfItem(atPath: fixture.url("hub-matches.csv").path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}
