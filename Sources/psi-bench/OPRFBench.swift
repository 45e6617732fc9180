import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

struct OPRFBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oprf",
        abstract: "RFC 9497 OPRF: server Evaluate over its list, and a client's blind, server's BlindEvaluate and Finalize; then unbalanced PSI: hub setup (tags and Bloom filter) and one member query.",
        discussion: """
        seconds, raw_seconds, ratio_to_raw, items_per_second and wire_bytes_per_item describe the bare OPRF round
        (Evaluate + Blind + BlindEvaluate + Finalize of --items inputs). setup_* fields time UnbalancedPSIHub.makeSetup
        plus writing the setup file, for --items hub items in each encoding; query_* fields time one member query of
        --query-items items through files (member blind, hub evaluate, member finalize and lookup), each beside its own
        raw libsodium lower bound; in intersection mode the query is RFC 9497's verifiable mode, and query_ratio_to_raw
        compares it with an unverifiable query's bound (query_ratio_to_verifiable_raw with the bound including the proof).
        respond_* (hub BlindEvaluate with its DLEQ proofs, in memory) and verify_* (the member's VerifyProof) give the
        proof's cost: *_ratio_to_raw beside the unverifiable answer's one multiplication per item (respond) or beside
        the proof's own libsodium calls (verify), respond_ratio_to_proof_raw beside the answer-and-proof's own calls;
        the *_cpu_ratio_* fields are the same ratios in process CPU time, steadier on a shared machine.
        """)

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("query-items"), help: "Items in the member's query (default: --items).")
    var queryItems: Int?

    @Option(name: .customLong("tag-bytes"), help: "Tag length of the tags setup (default \(SetupEncoding.defaultTagByteCount)).")
    var tagBytes = SetupEncoding.defaultTagByteCount

    @Option(name: .customLong("fp-rate"), help: "False-positive rate of the Bloom filter setup (default 2^-20).")
    var fpRate = SetupEncoding.defaultFalsePositiveRate

    @Flag(name: .long, help: "Measure a labeled setup instead: streamed from a CSV list with label columns (setup_labeled_*), bytes per item of every encoding, and a member query that decrypts its matches' labels (finish_*).")
    var labels = false

    @Option(name: .customLong("label-bytes"), help: "Label size of the labeled setup (default \(SetupLabel.defaultByteCount)).")
    var labelBytes = SetupLabel.defaultByteCount

    @Option(name: .customLong("streamed-encoding"), help: "With --labels: the streamed setup measured: labeled (default), or tags or bloom from the same list without label columns.")
    var streamedEncoding = "labeled"

    @Option(name: .customLong("raw-items"), help: "With --labels: measure the setup's raw libsodium bound over this many items and scale it to --items (default: all of them).")
    var rawItems: Int?

    @Flag(name: .customLong("cardinality-only"), help: "Measure the unbalanced steps with a cardinality-only hub key (one blind per query, shuffled response).")
    var cardinalityOnly = false

    func validate() throws {
        guard ["labeled", "tags", "bloom"].contains(streamedEncoding) else {
            throw ValidationError("--streamed-encoding must be labeled, tags or bloom")
        }
    }

    func run() throws {
        if labels {
            var fields: [(String, Any)] = [("benchmark", "oprf-labels"), ("items", common.items), ("threads", common.threads)]
            fields += try LabeledSetupBench.run(hubItems: common.items, queryItems: queryItems ?? min(common.items, 100_000), tagBytes: tagBytes,
                                                labelBytes: labelBytes, fpRate: fpRate, rawItems: rawItems,
                                                streamed: streamedEncoding, common: common)
            fields.append(("peak_rss_bytes", peakResidentBytes()))
            return try Report(fields: fields).print(json: common.json)
        }
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
        // Evaluate: H + 1 mult each; Blind: H + 1 mult; BlindEvaluate: 1 mult; Finalize: 1 mult.
        let raw = RawLibsodium.ristretto255(hashes: 2 * n, multiplications: 4 * n, threads: common.threads)
        var fields: [(String, Any)] = [
            ("benchmark", "oprf"), ("suite", "ristretto255-SHA512"), ("items_per_side", n),
            ("threads", common.threads), ("batch", common.batch), ("seconds", elapsed), ("raw_seconds", raw), ("ratio_to_raw", elapsed / raw),
            ("items_per_second", Double(n) / elapsed),
            ("wire_bytes_per_item", Double(2 * GroupElement.byteCount)),
        ]
        fields += try unbalanced(hubItems: n, queryItems: queryItems ?? n)
        fields.insert(("peak_rss_bytes", peakResidentBytes()), at: 9)
        try Report(fields: fields).print(json: common.json)
    }

    /// Hub setup in both encodings and one member query through files, each beside its raw lower bound.
    private func unbalanced(hubItems n: Int, queryItems m: Int) throws -> [(String, Any)] {
        let (hubList, memberList) = syntheticItems(count: max(n, m), overlap: max(1, m / 10))
        let hubItems = Array(hubList.prefix(n)), memberItems = Array(memberList.prefix(m))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-oprf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in folder.appendingPathComponent(name) }
        let mode: UnbalancedAnswerMode = cardinalityOnly ? .cardinalityOnly : .intersection
        let hubIdentity = PartyIdentity(), memberIdentity = PartyIdentity()
        let type = IdentifierType(kind: .plain)
        let hub = UnbalancedPSIHub(key: .generate(answerMode: mode), identity: hubIdentity, purpose: try PurposeLabel("psi-bench"),
                                   identifierType: type, members: [memberIdentity.publicKey], maximumRequestSize: m,
                                   parallelism: common.parallelism)
        var fields: [(String, Any)] = [("answer", mode.description)]

        // Setup: one hash to the group, one multiplication and a SHA-512 per hub item.
        let setupRaw = RawLibsodium.ristretto255(hashes: n, multiplications: n, threads: common.threads)
        fields.append(("setup_raw_seconds", setupRaw))
        var tagsSetup: UnbalancedSetup?
        for (name, encoding) in [("tags", SetupEncoding.truncatedTags(byteCount: tagBytes)), ("bloom", .bloomFilter(falsePositiveRate: fpRate))] {
            let start = DispatchTime.now()
            let setup = try hub.makeSetup(items: hubItems, encoding: encoding)
            try setup.write(to: file("\(name).spsi"), signedBy: hubIdentity)
            let elapsed = seconds(since: start)
            if name == "tags" { tagsSetup = setup }
            fields += [("setup_\(name)_seconds", elapsed), ("setup_\(name)_ratio_to_raw", elapsed / setupRaw),
                       ("setup_\(name)_items_per_second", Double(n) / elapsed),
                       ("setup_\(name)_bytes_per_item", Double(setup.fileByteCount) / Double(n)),
                       ("setup_\(name)_false_positive_log2", log2(encoding.falsePositiveRate(itemCount: n)))]
        }

        // Query: the member blinds (H + 1 mult), the hub evaluates (1 mult), the member finalises (1 mult) and looks
        // up; in intersection mode the hub also proves and the member verifies (proofCost has those bounds).
        let setup = try UnbalancedSetup.read(from: file("tags.spsi"), hub: hubIdentity.publicKey, reader: memberIdentity.publicKey)
        guard setup.setupID == tagsSetup?.setupID else { throw ValidationError("setup did not round-trip") }
        let lookup = try UnbalancedSetupLookup(setup: setup)
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        let member = try UnbalancedPSIMember(items: memberItems, purpose: hub.purpose, identifierType: type, setup: setup,
                                             identity: memberIdentity, parallelism: common.parallelism)
        try member.request.write(to: file("request.spsi"), signedBy: memberIdentity)
        let request = try UnbalancedRequest.read(from: file("request.spsi"), for: hub)
        try hub.respond(to: request).write(to: file("response.spsi"), signedBy: hubIdentity)
        let response = try UnbalancedResponse.read(from: file("response.spsi"), request: member.context, count: m)
        let result = try member.finish(response: response, lookup: lookup)
        let query = (wall: seconds(since: start), cpu: processCPUSeconds() - cpuStart)
        let elapsed = query.wall
        let expected = min(max(1, m / 10), n)
        guard result.count == expected else { throw ValidationError("query found \(result.count) matches, expected \(expected)") }
        let queryRaw = measured { _ = RawLibsodium.ristretto255(hashes: m, multiplications: 3 * m, threads: common.threads) }
        let wire = try ["request.spsi", "response.spsi"].reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: file($1).path)[.size] as? NSNumber)?.intValue ?? 0)
        }
        fields += [("query_items", m), ("query_seconds", elapsed), ("query_raw_seconds", queryRaw.wall),
                   ("query_ratio_to_raw", elapsed / queryRaw.wall), ("query_cpu_ratio_to_raw", query.cpu / queryRaw.cpu),
                   ("query_items_per_second", Double(m) / elapsed), ("query_wire_bytes_per_item", Double(wire) / Double(m)),
                   ("query_matches", result.count)]
        // The request and the response: each signed once by its sender and verified once by its reader.
        let signatures = messageSignatureSeconds()
        fields += [("query_signature_seconds", 2 * (signatures.sign + signatures.verify)),
                   ("query_signature_share_of_seconds", 2 * (signatures.sign + signatures.verify) / elapsed)]
        if mode == .intersection {
            fields += try proofCost(hub: hub, request: request, queryRaw: queryRaw, query: query)
        }
        return fields
    }

    /// The VOPRF proof's cost: the hub's answer with its proofs and the member's verification,
    /// each beside the raw bound of an unverifiable answer (one multiplication per item) and
    /// beside the raw bound of the same libsodium calls the proof makes. Wall-clock and CPU
    /// seconds both (CPU time moves less with other processes' load on a shared machine).
    private func proofCost(hub: UnbalancedPSIHub, request: UnbalancedRequest, queryRaw: (wall: Double, cpu: Double),
                           query: (wall: Double, cpu: Double)) throws -> [(String, Any)] {
        let m = request.blindedElements.count
        let proofs = OPRF.VerifiableServer.dleq.proofCount(pairs: m)
        var answer: UnbalancedResponse?
        let respond = try measured { answer = try hub.respond(to: request) }
        let verify = try measured {
            try OPRF.VerifiableServer.dleq.verifyProofs(answer!.proofs, base: .generator, commitment: hub.key.privateKey.publicKey,
                                                       inputs: request.blindedElements, outputs: answer!.evaluatedElements,
                                                       parallelism: common.parallelism)
        }
        let threads = common.threads
        // BlindEvaluate alone: one multiplication per item.
        let evaluateRaw = measured { _ = RawLibsodium.ristretto255(hashes: 0, multiplications: m, threads: threads) }
        // BlindEvaluate and GenerateProof: m + (m + 3 per proof) multiplications, m additions, m + 1 per proof HashToScalar.
        let respondRaw = measured {
            _ = RawLibsodium.ristretto255(hashes: 0, multiplications: 2 * m + 3 * proofs, additions: m, scalarHashes: m + proofs, threads: threads)
        }
        // VerifyProof: 2m + 4 per proof multiplications, 2m + 2 per proof additions, m + 1 per proof HashToScalar.
        let verifyRaw = measured {
            _ = RawLibsodium.ristretto255(hashes: 0, multiplications: 2 * m + 4 * proofs, additions: 2 * m + 2 * proofs,
                                          scalarHashes: m + proofs, threads: threads)
        }
        // The whole verifiable query's bound: the unverifiable query's, plus the proof's work on both sides.
        let queryVerifiableRaw = (wall: queryRaw.wall + respondRaw.wall - evaluateRaw.wall + verifyRaw.wall,
                                  cpu: queryRaw.cpu + respondRaw.cpu - evaluateRaw.cpu + verifyRaw.cpu)
        return [("proofs", proofs), ("proof_bytes_per_item", Double(proofs * DLEQProof.byteCount) / Double(m)),
                ("respond_seconds", respond.wall), ("respond_raw_seconds", evaluateRaw.wall), ("respond_ratio_to_raw", respond.wall / evaluateRaw.wall),
                ("respond_cpu_ratio_to_raw", respond.cpu / evaluateRaw.cpu),
                ("respond_proof_raw_seconds", respondRaw.wall), ("respond_ratio_to_proof_raw", respond.wall / respondRaw.wall),
                ("respond_cpu_ratio_to_proof_raw", respond.cpu / respondRaw.cpu),
                ("verify_seconds", verify.wall), ("verify_raw_seconds", verifyRaw.wall), ("verify_ratio_to_raw", verify.wall / verifyRaw.wall),
                ("verify_cpu_ratio_to_raw", verify.cpu / verifyRaw.cpu),
                ("verify_ratio_to_multiplication_raw", verify.wall / evaluateRaw.wall),
                ("verify_cpu_ratio_to_multiplication_raw", verify.cpu / evaluateRaw.cpu),
                ("query_verifiable_raw_seconds", queryVerifiableRaw.wall), ("query_ratio_to_verifiable_raw", query.wall / queryVerifiableRaw.wall),
                ("query_cpu_ratio_to_verifiable_raw", query.cpu / queryVerifiableRaw.cpu)]
    }

    /// Wall-clock and process CPU seconds of `body`.
    private func measured(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        try body()
        return (seconds(since: start), processCPUSeconds() - cpuStart)
    }
}
