public import ArgumentParser
import Dispatch
import Foundation
public import SodiumPSI

extension PSISuite: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

struct Mutual: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A complete mutual PSI (both sides, both learn, ~10% overlap): lists read from files, the four steps of the streaming file exchange.",
        discussion: "Give --suite twice to measure both suites in one run; the report then adds the speed-up of the second over the first.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "ristretto255-sha512 (default) or x25519-ell2-sha512; repeat to compare.")
    var suite: [PSISuite] = []

    @Flag(name: .customLong("in-memory"), help: "Measure the in-memory API (every set held in memory) instead of the streaming file exchange.")
    var inMemory = false

    @Flag(name: .customLong("skip-raw"), help: "Skip the raw libsodium lower bound (for memory measurements of very large sets, where it doubles the run time); raw_seconds and ratio_to_raw are then null.")
    var skipRaw = false

    func run() throws {
        let suites = suite.isEmpty ? [PSISuite.ristretto255SHA512] : suite
        let reports = try suites.map { try measure($0) }
        if reports.count == 1 {
            try reports[0].print(json: common.json)
            return
        }
        let speedup = (reports[1].value("items_per_second") as! Double) / (reports[0].value("items_per_second") as! Double)
        if common.json {
            let object: [String: Any] = ["suites": reports.map(\.object), "speedup_second_over_first": speedup]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            for report in reports { try report.print(json: false); print("") }
            print(String(format: "%@ is %.2f× the items per second of %@", suites[1].description, speedup, suites[0].description))
        }
    }

    private func measure(_ suite: PSISuite) throws -> Report {
        let n = common.items
        let overlap = min(max(1, n / 10), n)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in folder.appendingPathComponent(name) }

        let configs = try benchConfigurations(suite: suite, maximumPeerSetSize: n, parallelism: common.parallelism,
                                              streaming: common.streaming)
        let config = configs.a
        let resultA: Int, resultB: Int
        let start: DispatchTime, cpuStart: Double
        var steps = [Double]()
        if inMemory {
            (resultA, resultB, start, cpuStart) = try inMemoryExchange(configs, n: n, overlap: overlap, file: file)
        } else {
            // The lists are files, as an operator's would be; writing them is not timed.
            try writeSyntheticList(to: file("a.txt"), range: 0..<n)
            try writeSyntheticList(to: file("b.txt"), ranges: [0..<overlap, n..<(2 * n - overlap)])
            let list = { (name: String) in IdentifierListReader(url: file(name), kind: .plain) }
            start = DispatchTime.now()
            cpuStart = processCPUSeconds()
            var lap = start
            func step() {
                steps.append(seconds(since: lap))
                lap = DispatchTime.now()
            }
            try MutualPSIFileExchange.initiate(list: list("a.txt"), configuration: config, stateURL: file("a.state"),
                                               messageURL: file("1.spsi"))
            step()
            try MutualPSIFileExchange.respond(list: list("b.txt"), configuration: configs.b, requestURL: file("1.spsi"),
                                              stateURL: file("b.state"), responderSetURL: file("2a.spsi"),
                                              reblindedURL: file("2b.spsi"))
            step()
            resultA = try MutualPSIFileExchange.finishInitiator(
                stateURL: file("a.state"), identity: configs.a.identity, peer: configs.a.peer,
                responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"),
                replyURL: file("3.spsi"), parallelism: config.parallelism, streaming: config.streaming).result.count
            step()
            resultB = try MutualPSIFileExchange.finishResponder(
                stateURL: file("b.state"), identity: configs.b.identity, peer: configs.b.peer, replyURL: file("3.spsi"),
                parallelism: config.parallelism,
                streaming: config.streaming).result.count
            step()
        }
        let elapsed = seconds(since: start)
        let cpu = processCPUSeconds() - cpuStart

        guard resultA == overlap, resultB == overlap else {
            throw ValidationError("wrong result: \(resultA) and \(resultB) matches, expected \(overlap)")
        }
        let wireBytes = try ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi"].reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: file($1).path)[.size] as? NSNumber)?.intValue ?? 0)
        }
        let peak = peakResidentBytes()
        // Per side: one item-to-point hash and one multiplication to blind, one to re-blind the peer's set.
        let rawCPUStart = processCPUSeconds()
        let timing = skipRaw ? nil : RawLibsodium.lowerBound(suite: suite, hashes: 2 * n, ownMultiplications: 2 * n,
                                                             peerMultiplications: 2 * n, threads: common.threads)
        let raw = timing?.total
        let rawCPU = processCPUSeconds() - rawCPUStart
        // Four message files, each signed once by its sender and verified once by its reader.
        let signatures = messageSignatureSeconds()
        let signatureSeconds = 4 * (signatures.sign + signatures.verify)
        return Report(fields: [
            ("benchmark", "mutual"), ("path", inMemory ? "in-memory API" : "streaming file exchange"),
            ("suite", suite.description), ("items_per_side", n),
            ("threads", common.threads), ("batch", common.batch), ("seconds", elapsed), ("raw_seconds", raw ?? NSNull()), ("ratio_to_raw", raw.map { elapsed / $0 } ?? NSNull()),
            ("items_per_second", Double(2 * n) / elapsed), ("peak_rss_bytes", peak),
            ("wire_bytes_per_item", Double(wireBytes) / Double(2 * n)), ("intersection_size", overlap),
            ("cpu_seconds", cpu), ("raw_cpu_seconds", raw == nil ? NSNull() : rawCPU),
            ("cpu_ratio_to_raw", raw == nil ? NSNull() : cpu / rawCPU),
            ("raw_phase_seconds", timing?.fields ?? NSNull()),
            ("signature_sign_seconds_per_message", signatures.sign), ("signature_verify_seconds_per_message", signatures.verify),
            ("signature_seconds", signatureSeconds), ("signature_share_of_seconds", signatureSeconds / elapsed),
        ] + (steps.isEmpty ? [] : [("step_seconds", steps)]))
    }

    /// The in-memory API (`MutualPSIInitiator`, `MutualPSIResponder`) with each message written
    /// to and read from a file; returns both result sizes and when the clocks started.
    private func inMemoryExchange(_ configs: (a: MutualPSIConfiguration, b: MutualPSIConfiguration), n: Int, overlap: Int,
                                  file: (String) -> URL) throws -> (Int, Int, DispatchTime, Double) {
        let (itemsA, itemsB) = syntheticItems(count: n, overlap: overlap)
        func read(_ name: String) throws -> MutualPSIMessage { try MutualPSIMessage.read(from: file(name)) }
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        let a = try MutualPSIInitiator(items: itemsA, configuration: configs.a)
        try a.blindedSet.write(to: file("1.spsi"))
        var b = try MutualPSIResponder(items: itemsB, configuration: configs.b)
        let reply = try b.respond(to: try read("1.spsi"))
        try reply.responderBlindedSet.write(to: file("2a.spsi"))
        try reply.initiatorSetReblinded.write(to: file("2b.spsi"))
        let done = try a.finish(responderBlindedSet: try read("2a.spsi"), initiatorSetReblinded: try read("2b.spsi"))
        try done.responderSetReblinded!.write(to: file("3.spsi"))
        let resultB = try b.finish(responderSetReblinded: try read("3.spsi"))
        return (done.result.count, resultB.count, start, cpuStart)
    }
}
