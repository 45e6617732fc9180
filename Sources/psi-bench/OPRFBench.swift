import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

struct OPRFBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oprf",
        abstract: "RFC 9497 OPRF: server Evaluate over its list, and a client's blind, server's BlindEvaluate and Finalize.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let n = common.items
        let parallelism = common.parallelism
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
            ("threads", common.threads), ("batch", common.batch), ("seconds", elapsed), ("raw_seconds", raw), ("ratio_to_raw", elapsed / raw),
            ("items_per_second", Double(n) / elapsed), ("peak_rss_bytes", peak),
            ("wire_bytes_per_item", Double(2 * GroupElement.byteCount)),
        ]).print(json: common.json)
    }
}
