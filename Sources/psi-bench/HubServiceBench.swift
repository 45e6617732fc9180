// `psi-bench hub-service`: the hub service (target PSIService) measured through HTTPS beside
// the raw libsodium bound of the hub's own work. Compiled only where PSIService is in the
// package (the full build): the Benchmarks package and other SODIUM_PSI_CORE_ONLY=1 builds keep
// psi-bench on the core alone, and there psi-bench simply has no hub-service subcommand.
import ArgumentParser

#if canImport(PSIService)
import Dispatch
import Foundation
import Logging
import PSIService
import ServiceLifecycle
import SodiumPSI

let hubServiceSubcommands: [any ParsableCommand.Type] = [HubServiceBench.self]

struct HubServiceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub-service",
        abstract: "The hub service over HTTPS on loopback: concurrent members' requests evaluated per second, beside the hub's raw libsodium bound.",
        discussion: """
        Starts a real hub service in this process (HTTPS with a throwaway self-signed certificate, an SQLite ledger in a
        temporary folder), with --members members, each with its own identity and list. Every member prepares --requests
        requests of --items items first (not timed); then all members send theirs at once, each one after the other over
        its own HTTPS client, and the time until the last answer is measured: items_per_second is every item evaluated
        (authenticated, charged, evaluated with its VOPRF proof, stored, answered) over that time. raw_seconds is the
        same libsodium work the hub does made directly on --threads threads: per request of m items, BlindEvaluate and
        the DLEQ proofs (2m + 3 per proof multiplications, m additions, m + 1 per proof hashes to a scalar), the two
        signatures it verifies (the HTTP request's and the request message's) and the two it makes (the response's
        and the receipt's). fraction_of_raw = raw_seconds / seconds (the goal is at least 0.85); latency_* are the
        seconds of one request, from sending it to its whole answer. One member's first answer is then finished and
        checked against the Set intersection.
        """)

    @Option(name: .long, help: "Concurrent members.") var members = 8
    @Option(name: .long, help: "Items per request.") var items = 1000
    @Option(name: .long, help: "Requests each member sends.") var requests = 8
    @Option(name: .customLong("hub-items"), help: "Items in the hub's list.") var hubItems = 10_000
    @Option(name: .long, help: "Threads of the raw bound (the hub evaluates on NIO's thread pool, one per core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        if members < 1 || items < 1 || requests < 1 || hubItems < 1 || threads < 1 {
            throw ValidationError("--members, --items, --requests, --hub-items and --threads must be at least 1")
        }
    }

    func run() throws {
        let (members, items, requests, hubItems, threads) = (self.members, self.items, self.requests, self.hubItems, self.threads)
        let fields = try blocking { try await Self.measure(members: members, items: items, requests: requests, hubItems: hubItems, threads: threads) }
        try Report(fields: fields).print(json: json)
    }

    static func measure(members memberCount: Int, items: Int, requests: Int, hubItems: Int, threads: Int) async throws -> [(String, Any)] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-hub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in folder.appendingPathComponent(name) }

        // The hub: key, identity, members, setup, certificate, configuration.
        let hubIdentity = PartyIdentity()
        let purpose = try PurposeLabel("psi-bench hub service")
        let type = IdentifierType(kind: .plain)
        let key = HubKey.generate(answerMode: .intersection)
        try hubIdentity.save(to: file("hub.identity"))
        try key.save(to: file("hub.key"))
        let identities = (0..<memberCount).map { _ in PartyIdentity() }
        let peers = identities.enumerated().map { ["name": "Member \($0.offset)", "publicKey": $0.element.publicKey.hex] }
        try JSONSerialization.data(withJSONObject: ["peers": peers]).write(to: file("members.json"))
        func records(_ values: [String]) -> [ListRecord] {
            values.enumerated().map { ListRecord(identifier: try! Identifier.plain($0.element), original: $0.element, lineNumber: $0.offset + 1) }
        }
        let listed = (0..<hubItems).map(syntheticValue)
        let hub = UnbalancedPSIHub(key: key, identity: hubIdentity, purpose: purpose, identifierType: type)
        _ = try UnbalancedPSIFileExchange.publishSetup(records: records(listed), hub: hub, encoding: .truncatedTags(byteCount: SetupEncoding.defaultTagByteCount),
                                                       setupURL: file("setup.spsi"))
        try LoopbackCertificate.make(in: folder)
        var configuration = HubServiceConfiguration(keyPath: file("hub.key").path, identityPath: file("hub.identity").path,
                                                    peersPath: file("members.json").path, purpose: purpose, identifierType: type,
                                                    setupPath: file("setup.spsi").path, ledger: .sqlite(path: file("ledger.sqlite").path))
        configuration.port = 0
        configuration.certificatePath = file("tls.crt").path
        configuration.privateKeyPath = file("tls.key").path
        configuration.maximumConcurrentEvaluations = memberCount
        configuration.maximumRequestItems = items
        configuration.maximumBodyBytes = 64 * items + 1 << 16
        let budget = ItemBudget(perDay: items * requests * 2, perMonth: items * requests * 2)
        configuration.budgets = Dictionary(uniqueKeysWithValues: (0..<memberCount).map { ("Member \($0)", budget) })

        var logger = Logger(label: "psi-bench.hub")
        logger.logLevel = .warning
        let service = try await HubService(configuration: configuration, logger: logger)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try service.application(onServerRunning: { portContinuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let serving = Task { try await group.run() }
        var port = 0
        for await p in ports { port = p; break }

        // Each member's list: every third item is the hub's; the rest its own.
        func memberValues(_ member: Int, _ request: Int) -> [String] {
            (0..<items).map { j in
                j % 3 == 0 ? syntheticValue((member * 7919 + request * 104_729 + j) % hubItems) : "member-\(member)-\(request)-\(j)"
            }
        }
        let clients = try identities.enumerated().map { index, identity in
            try HubClient(baseURL: "https://127.0.0.1:\(port)", identity: identity, hub: hubIdentity.publicKey,
                          directory: file("member-\(index)"), trustRootsPEM: file("tls.crt").path)
        }
        do {
            var prepared = [[HubClient.PreparedQuery]]()
            for (index, client) in clients.enumerated() {
                var queries = [HubClient.PreparedQuery]()
                for r in 0..<requests {
                    queries.append(try await client.prepare(records: records(memberValues(index, r)), purpose: purpose, identifierType: type))
                }
                prepared.append(queries)
            }
            let all = prepared

            // Timed: every member sends its requests, one after the other, all members at once.
            let start = DispatchTime.now(), cpuStart = processCPUSeconds()
            let answers = try await withThrowingTaskGroup(of: (Int, [Double], [UInt8]).self) { tasks in
                for (index, client) in clients.enumerated() {
                    tasks.addTask {
                        var latencies = [Double]()
                        var first = [UInt8]()
                        for query in all[index] {
                            let sent = DispatchTime.now()
                            let (response, charged) = try await client.send(query)
                            latencies.append(seconds(since: sent))
                            guard charged == items else { throw ValidationError("a request was charged \(charged) items, not \(items)") }
                            if first.isEmpty { first = response }
                        }
                        return (index, latencies, first)
                    }
                }
                var collected = [(Int, [Double], [UInt8])]()
                for try await answer in tasks { collected.append(answer) }
                return collected
            }
            let elapsed = seconds(since: start), cpu = processCPUSeconds() - cpuStart

            // One answer finished and checked (not timed).
            let (index, _, response) = answers.first { $0.0 == 0 }!
            let result = try await clients[index].finish(prepared[index][0], response: response)
            let expected = Set(memberValues(index, 0)).intersection(listed)
            guard Set(result.outcome.matches.map(\.original)) == expected else { throw ValidationError("member 0's matches are not the Set intersection") }

            // The raw bound of the hub's work on the same items.
            let total = memberCount * requests
            let proofs = OPRF.VerifiableServer.dleq.proofCount(pairs: items)
            let rawStart = processCPUSeconds()
            let rawCurve = RawLibsodium.ristretto255(hashes: 0, multiplications: total * (2 * items + 3 * proofs), additions: total * items,
                                                     scalarHashes: total * (items + proofs), threads: threads)
            let rawCurveCPU = processCPUSeconds() - rawStart
            // Signatures: measured one at a time (seconds per signature, about its CPU time), shared over the threads.
            let signatures = messageSignatureSeconds()
            let signatureSeconds = Double(total) * 2 * (signatures.sign + signatures.verify)
            let raw = rawCurve + signatureSeconds / Double(threads)
            let rawCPU = rawCurveCPU + signatureSeconds
            let latencies = answers.flatMap(\.1).sorted()
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)] }
            let evaluated = total * items
            for client in clients { try await client.shutdown() }
            await group.triggerGracefulShutdown()
            try await serving.value
            try await service.shutdown()
            return [
                ("benchmark", "hub-service"), ("transport", "HTTPS loopback, in-process server"), ("members", memberCount),
                ("requests", total), ("items_per_request", items), ("hub_items", hubItems), ("threads", threads),
                ("items_evaluated", evaluated), ("seconds", elapsed), ("items_per_second", Double(evaluated) / elapsed),
                ("raw_seconds", raw), ("raw_items_per_second", Double(evaluated) / raw), ("fraction_of_raw", raw / elapsed),
                ("ratio_to_raw", elapsed / raw), ("cpu_seconds", cpu), ("raw_cpu_seconds", rawCPU), ("cpu_ratio_to_raw", cpu / rawCPU),
                ("latency_p50_seconds", percentile(0.5)), ("latency_p99_seconds", percentile(0.99)), ("latency_max_seconds", latencies.last!),
                ("matches_checked", result.outcome.matches.count), ("peak_rss_bytes", peakResidentBytes()),
            ]
        } catch {
            for client in clients { try? await client.shutdown() }
            await group.triggerGracefulShutdown()
            _ = try? await serving.value
            try? await service.shutdown()
            throw error
        }
    }
}

/// Runs async work from psi-bench's synchronous commands, blocking the calling thread.
private final class BlockingResult<T>: @unchecked Sendable { var value: Result<T, any Error>? }

private func blocking<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = BlockingResult<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { result.value = .success(try await body()) } catch { result.value = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result.value!.get()
}
#else
let hubServiceSubcommands: [any ParsableCommand.Type] = []
#endif
