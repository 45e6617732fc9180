import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

struct Intersect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The last step alone: re-blind the peer's set, check the returned set, intersect.",
        discussion: "Measures MutualPSIInitiator.finish on prepared messages; the lower bound is the re-blinding multiplications alone.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "ristretto255-sha512 (default) or x25519-ell2-sha512.")
    var suite: PSISuite = .ristretto255SHA512

    func run() throws {
        let n = common.items
        let overlap = min(max(1, n / 10), n)
        let (itemsA, itemsB) = syntheticItems(count: n, overlap: overlap)
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("psi-bench"), outcome: .bothLearn, suite: suite,
                                            maximumPeerSetSize: n, parallelism: common.parallelism)
        let a = try MutualPSIInitiator(items: itemsA, configuration: config)
        var b = try MutualPSIResponder(items: itemsB, configuration: config)
        let reply = try b.respond(to: a.blindedSet)

        let start = DispatchTime.now()
        let done = try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        let elapsed = seconds(since: start)
        guard done.result.count == overlap else { throw ValidationError("wrong result: \(done.result.count), expected \(overlap)") }
        let raw = RawLibsodium.lowerBound(suite: suite, hashes: 0, ownMultiplications: 0, peerMultiplications: n, threads: common.threads).total
        try Report(fields: [
            ("benchmark", "intersect"), ("suite", suite.description), ("items_per_side", n),
            ("threads", common.threads), ("batch", common.batch), ("seconds", elapsed), ("raw_seconds", raw),
            ("ratio_to_raw", elapsed / raw), ("items_per_second", Double(n) / elapsed), ("peak_rss_bytes", peakResidentBytes()),
            ("wire_bytes_per_item", Double(BlindedElement.byteCount)),
        ]).print(json: common.json)
    }
}
