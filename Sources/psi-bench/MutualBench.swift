import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

struct Mutual: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A complete mutual PSI (both sides, both learn, ~10% overlap) through message files.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let n = common.items
        let overlap = max(1, n / 10)
        let (itemsA, itemsB) = syntheticItems(count: n, overlap: min(overlap, n))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in folder.appendingPathComponent(name) }

        let config = MutualPSIConfiguration(purpose: try PurposeLabel("psi-bench"), outcome: .bothLearn,
                                            maximumPeerSetSize: n, parallelism: Parallelism(threads: common.threads))
        let start = DispatchTime.now()
        // A, step 1
        let a = try MutualPSIInitiator(items: itemsA, configuration: config)
        try a.blindedSet.write(to: file("1.spsi"))
        // B, step 2
        var b = try MutualPSIResponder(items: itemsB, configuration: config)
        let step1 = try MutualPSIMessage.read(from: file("1.spsi"), kind: .initiatorBlindedSet, context: nil,
                                              purposeDigest: config.purpose.digest, outcome: config.outcome, maximumCount: n,
                                              checkEncodings: false, parallelism: config.parallelism)
        let reply = try b.respond(to: step1)
        try reply.responderBlindedSet.write(to: file("2a.spsi"))
        try reply.initiatorSetReblinded.write(to: file("2b.spsi"))
        // A, step 3
        let m2a = try MutualPSIMessage.read(from: file("2a.spsi"), kind: .responderBlindedSet, context: a.context,
                                            purposeDigest: config.purpose.digest, outcome: config.outcome, maximumCount: n,
                                            checkEncodings: false, parallelism: config.parallelism)
        let m2b = try MutualPSIMessage.read(from: file("2b.spsi"), kind: .initiatorSetReblinded, context: a.context,
                                            purposeDigest: config.purpose.digest, outcome: config.outcome,
                                            count: n, parallelism: config.parallelism)
        let done = try a.finish(responderBlindedSet: m2a, initiatorSetReblinded: m2b)
        try done.responderSetReblinded!.write(to: file("3.spsi"))
        // B, finish
        let m3 = try MutualPSIMessage.read(from: file("3.spsi"), kind: .responderSetReblinded, context: a.context,
                                           purposeDigest: config.purpose.digest, outcome: config.outcome,
                                           count: n, parallelism: config.parallelism)
        let resultB = try b.finish(responderSetReblinded: m3)
        let elapsed = seconds(since: start)

        guard done.result.count == overlap, resultB.count == overlap else {
            throw ValidationError("wrong result: \(done.result.count) and \(resultB.count) matches, expected \(overlap)")
        }
        let wireBytes = try ["1.spsi", "2a.spsi", "2b.spsi", "3.spsi"].reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: file($1).path)[.size] as? NSNumber)?.intValue ?? 0)
        }
        let peak = peakResidentBytes()
        // Per side: one hash-to-group and one multiplication to blind, one to re-blind the peer's set.
        let raw = RawLibsodium.ristretto255(hashes: 2 * n, multiplications: 4 * n, threads: common.threads)
        try Report(fields: [
            ("benchmark", "mutual"), ("suite", "ristretto255-SHA512"), ("items_per_side", n),
            ("threads", common.threads), ("seconds", elapsed), ("raw_seconds", raw), ("ratio_to_raw", elapsed / raw),
            ("items_per_second", Double(2 * n) / elapsed), ("peak_rss_bytes", peak),
            ("wire_bytes_per_item", Double(wireBytes) / Double(2 * n)), ("intersection_size", overlap),
        ]).print(json: common.json)
    }
}

struct OPRFBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oprf",
        abstract: "RFC 9497 OPRF: server Evaluate over its list, and a client's blind, server's BlindEvaluate and Finalize.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let n = common.items
        let parallelism = Parallelism(threads: common.threads)
        let inputs = (0..<n).map { Array("+86139\(String(format: "%08d", $0))".utf8) }
        let server = OPRF.Server(privateKey: .random())

        let start = DispatchTime.now()
        let direct = try server.evaluate(inputs, parallelism: parallelism)
        let batch = try OPRF.blind(inputs, parallelism: parallelism)
        let evaluated = try server.blindEvaluate(batch.blindedElements, parallelism: parallelism)
        let outputs = try OPRF.finalize(inputs, batch: batch, evaluatedElements: evaluated, parallelism: parallelism)
        let elapsed = seconds(since: start)
        guard outputs == direct else { throw ValidationError("Finalize and Evaluate disagree") }
        let peak = peakResidentBytes()
        // Evaluate: H + 1 mult each; Blind: H + 1 mult; BlindEvaluate: 1 mult; Finalize: 1 mult.
        let raw = RawLibsodium.ristretto255(hashes: 2 * n, multiplications: 4 * n, threads: common.threads)
        try Report(fields: [
            ("benchmark", "oprf"), ("suite", "ristretto255-SHA512"), ("items_per_side", n),
            ("threads", common.threads), ("seconds", elapsed), ("raw_seconds", raw), ("ratio_to_raw", elapsed / raw),
            ("items_per_second", Double(n) / elapsed), ("peak_rss_bytes", peak),
            ("wire_bytes_per_item", Double(2 * GroupElement.byteCount)),
        ]).print(json: common.json)
    }
}
