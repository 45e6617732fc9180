import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

/// `psi-bench oprf --labels`: a labeled setup streamed from a list file, and a member query of it.
enum LabeledSetupBench {
    /// Streams a labeled setup of `n` synthetic items (label columns: category, first and last
    /// seen) beside the raw bound of its PRF, then one member query of `m` items through files.
    /// `streamed` is the encoding measured: "labeled" (the default), or "tags" or "bloom"
    /// streamed from the same list without its label columns.
    static func run(hubItems n: Int, queryItems m: Int, tagBytes: Int, labelBytes: Int, fpRate: Double, rawItems: Int?,
                    streamed: String = "labeled", common: CommonOptions) throws -> [(String, Any)] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-labels-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = { (name: String) in folder.appendingPathComponent(name) }
        let categories = ["mass complaints", "forged documents", "phone takeover", "hardship forgery"]
        try writeLines(to: file("list.csv"), header: "phone,category,first,last", (0..<n).lazy.map { i in
            "\(syntheticValue(i)),\(categories[i % 4]),2026-0\(1 + i % 9)-1\(i % 10),2026-1\(i % 3)-2\(i % 10)"
        })
        let hubIdentity = PartyIdentity(), memberIdentity = PartyIdentity()
        let type = IdentifierType(kind: .plain)
        let purpose = try PurposeLabel("psi-bench")
        let hub = UnbalancedPSIHub(key: .generate(answerMode: .intersection), identity: hubIdentity, purpose: purpose,
                                   identifierType: type, members: [memberIdentity.publicKey], maximumRequestSize: m,
                                   parallelism: common.parallelism)
        let labeled = streamed == "labeled"
        let encoding: SetupEncoding = streamed == "bloom" ? .bloomFilter(falsePositiveRate: fpRate)
            : labeled ? .labeledTags(tagByteCount: tagBytes, labelByteCount: labelBytes) : .truncatedTags(byteCount: tagBytes)
        let reader = IdentifierListReader(url: file("list.csv"), format: .csv(column: .name("phone")), kind: .plain)
        let columns = labeled ? LabelColumns(category: .name("category"), firstSeen: .name("first"), lastSeen: .name("last")) : LabelColumns()
        // The raw bound of the setup's PRF (one hash to the group and one multiplication an
        // item), measured over `rawItems` items and scaled to `n` (the calls cost the same for
        // every item, so a sample bounds a 10,000,000-item setup without doubling its run).
        let sample = min(n, max(1, rawItems ?? n))
        let rawTiming = RawLibsodium.lowerBound(suite: .ristretto255SHA512, hashes: sample, ownMultiplications: sample,
                                                peerMultiplications: 0, threads: common.threads)
        let scale = Double(n) / Double(sample)
        let setupRaw = rawTiming.total * scale
        let setupRawCPU = (rawTiming.hash.cpuSeconds + rawTiming.multiply.cpuSeconds) * scale
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        let published = try UnbalancedPSIFileExchange.publishSetup(
            contributions: [HubContribution(name: "hub", reader: reader)], hub: hub, encoding: encoding, labelColumns: columns,
            setupURL: file("setup.spsi"), options: StreamingOptions(chunkSize: common.chunk, inMemoryLimit: common.inMemoryLimit,
                                                                    bucketCount: common.buckets, workDirectory: folder))
        let setup = (wall: seconds(since: start), cpu: processCPUSeconds() - cpuStart)
        let hubRSS = peakResidentBytes()
        let filter = try BloomFilter.parameters(itemCount: n, falsePositiveRate: fpRate)
        let p = "setup_\(streamed)"
        var fields: [(String, Any)] = [
            ("\(p)_seconds", setup.wall), ("\(p)_cpu_seconds", setup.cpu), ("setup_raw_seconds", setupRaw),
            ("\(p)_ratio_to_raw", setup.wall / setupRaw), ("setup_raw_items", sample),
            ("setup_raw_cpu_seconds", setupRawCPU), ("\(p)_cpu_ratio_to_raw", setup.cpu / setupRawCPU), ("\(p)_items_per_second", Double(n) / setup.wall),
            ("\(p)_bytes_per_item", Double(published.fileByteCount) / Double(n)),
            ("\(p)_peak_rss_bytes", hubRSS),
        ]
        // The other encodings' sizes, from their definitions (tags: t bytes an item; a filter: m bits).
        fields += [("setup_tags_bytes_per_item", Double(tagBytes)), ("setup_bloom_bytes_per_item", Double(filter.bitCount) / 8 / Double(n))]
            .filter { $0.0 != "\(p)_bytes_per_item" }
        // The member: request, the hub's answer, and finish (the setup verified and indexed,
        // every match's label decrypted).
        let mine = (0..<m).map { try! Identifier.plain(syntheticValue($0 % 10 == 0 ? $0 : n + $0)) }
        let readSetup = try UnbalancedSetup.read(from: file("setup.spsi"), hub: hubIdentity.publicKey, reader: memberIdentity.publicKey)
        let member = try UnbalancedPSIMember(items: mine, purpose: purpose, identifierType: type, setup: readSetup,
                                             identity: memberIdentity, parallelism: common.parallelism)
        try member.request.write(to: file("request.spsi"), signedBy: memberIdentity)
        let request = try UnbalancedRequest.read(from: file("request.spsi"), for: hub)
        try hub.respond(to: request).write(to: file("response.spsi"), signedBy: hubIdentity)
        let finishStart = DispatchTime.now(), finishCPU = processCPUSeconds()
        let response = try UnbalancedResponse.read(from: file("response.spsi"), request: member.context, count: m)
        let lookup = try UnbalancedSetupLookup(setup: UnbalancedSetup.read(from: file("setup.spsi"), hub: hubIdentity.publicKey,
                                                                           reader: memberIdentity.publicKey))
        let expected = (0..<m).filter { $0 % 10 == 0 && $0 < n }.count
        if labeled {
            let answer = try member.finishWithLabels(response: response, lookup: lookup)
            guard answer.result.count == expected, answer.labels.count == expected,
                  answer.labels.allSatisfy({ $0.reporterCount == 1 && $0.categories.count == 1 }) else {
                throw ValidationError("labeled query found \(answer.result.count) matches, expected \(expected)")
            }
        } else {
            // A filter may also match a non-member item (rate ε): at least every listed one.
            let found = try member.finish(response: response, lookup: lookup).count
            guard found >= expected, found <= expected + max(1, Int(Double(m) * encoding.falsePositiveRate(itemCount: n) * 10)) else {
                throw ValidationError("\(streamed) query found \(found) matches, expected \(expected)")
            }
        }
        let finish = (wall: seconds(since: finishStart), cpu: processCPUSeconds() - finishCPU)
        fields += [("query_items", m), ("query_matches", expected), ("finish_seconds", finish.wall), ("finish_cpu_seconds", finish.cpu)]
        return fields
    }
}

/// `psi-bench lookup`: the member's lookup against a large setup without loading it. The setup
/// is synthetic (sorted random tags, written in the file format of Docs/file-format.md): the
/// lookup does not depend on how the tags were made.
struct LookupBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "A member's lookup of finalized items in a synthetic tags setup of --setup-items random sorted tags, read in place.",
        discussion: """
        With --write, writes the synthetic setup to --setup (about setup-items × tag-bytes bytes) and stops; without it,
        reads and verifies --setup (signature, digest, order; open_seconds), then looks up --query-items finalized values
        (one in 100 present) and reports lookup_cpu_seconds and peak_rss_bytes. Run the two as separate processes so that
        the lookup's peak RSS is the member's alone.
        """)

    @Option(name: .long, help: "The synthetic setup file.") var setup: String
    @Option(name: .customLong("setup-items"), help: "Tags in the setup (with --write).") var setupItems = 100_000_000
    @Option(name: .customLong("tag-bytes"), help: "Tag length (with --write).") var tagBytes = SetupEncoding.defaultTagByteCount
    @Option(name: .customLong("query-items"), help: "Finalized values looked up.") var queryItems = 100_000
    @Flag(name: .long, help: "Write the synthetic setup and stop.") var write = false
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false

    /// The identity that signs the synthetic setup (fixed, so the reading run can trust it).
    static let hubIdentity = try! PartyIdentity(seed: [UInt8](repeating: 0x5A, count: 32))
    static let seed: UInt64 = 0x9E37_79B9_7F4A_7C15

    func run() throws {
        if write { return try writeSetup() }
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        let read = try UnbalancedSetup.read(from: URL(fileURLWithPath: setup), hub: Self.hubIdentity.publicKey, reader: PartyIdentity().publicKey)
        let lookup = try UnbalancedSetupLookup(setup: read)
        let open = (wall: seconds(since: start), cpu: processCPUSeconds() - cpuStart)
        // Present values: every 100th query takes the tag of the setup's entry at a known position
        // (regenerated from the writer's seed); the rest are random.
        guard case .truncatedTags(let t) = read.encoding else { throw ValidationError("\(setup) is not a tags setup") }
        var presentTags = [[UInt8]]()
        try forEachTag(count: read.itemCount, tagBytes: t) { index, tag in
            if index % max(1, read.itemCount / max(1, queryItems / 100)) == 0 { presentTags.append(tag) }
        }
        var rng = SystemRandomNumberGenerator()
        let queries: [[UInt8]] = (0..<queryItems).map { i in
            var value = (0..<8).flatMap { _ in withUnsafeBytes(of: rng.next() as UInt64, Array.init) }
            if i % 100 == 0, !presentTags.isEmpty { value.replaceSubrange(0..<presentTags[0].count, with: presentTags[(i / 100) % presentTags.count]) }
            return value
        }
        let lookupStart = DispatchTime.now(), lookupCPU = processCPUSeconds()
        var found = 0
        for value in queries where try lookup.contains(finalizedValue: value) { found += 1 }
        let lookupTime = (wall: seconds(since: lookupStart), cpu: processCPUSeconds() - lookupCPU)
        try Report(fields: [("benchmark", "lookup"), ("setup_items", read.itemCount), ("setup_bytes", read.fileByteCount),
                            ("open_seconds", open.wall), ("open_cpu_seconds", open.cpu), ("query_items", queryItems), ("found", found),
                            ("lookup_seconds", lookupTime.wall), ("lookup_cpu_seconds", lookupTime.cpu),
                            ("peak_rss_bytes", peakResidentBytes())]).print(json: json)
    }

    /// The synthetic tags in ascending order: a 64-bit prefix growing by uniform random gaps of
    /// mean 2^64 / count (so the prefixes are spread like sorted uniform values), then random bytes.
    private func forEachTag(count: Int, tagBytes: Int, _ body: (Int, [UInt8]) throws -> Void) throws {
        var rng = SplitMix64(seed: Self.seed)
        let meanGap = UInt64.max / UInt64(max(1, count))
        var prefix: UInt64 = 0
        for index in 0..<count {
            prefix &+= 1 + rng.next() % (2 * meanGap - 1)
            var tag = withUnsafeBytes(of: prefix.bigEndian, Array.init)
            while tag.count < tagBytes { tag += withUnsafeBytes(of: rng.next(), Array.init) }
            try body(index, Array(tag.prefix(tagBytes)))
        }
    }

    private func writeSetup() throws {
        let key = HubKey.generate(answerMode: .intersection)
        let publicKey = key.privateKey.publicKey.rawRepresentation
        // The documented layout: mode 0x11 (intersection, tags), element size t, pkS in extension
        // record 1, then the sorted tags.
        var extensions = MessageExtensions()
        try extensions.set(publicKey, for: .hubPublicKey)
        let header = MessageHeader(suite: .ristretto255SHA512, protocolID: .unbalanced, kind: 1, mode: 0x11, elementSize: tagBytes,
                                   identifierType: IdentifierType(kind: .plain), purposeDigest: try PurposeLabel("psi-bench").digest,
                                   sessionID: SessionID.random(), keyID: key.keyID.bytes, sender: Self.hubIdentity.publicKey,
                                   recipient: nil, count: setupItems, extensions: extensions)
        let writer = try MessageFileWriter(url: URL(fileURLWithPath: setup), header: header, signer: Self.hubIdentity)
        var buffer = [UInt8]()
        buffer.reserveCapacity(1 << 20)
        try forEachTag(count: setupItems, tagBytes: tagBytes) { _, tag in
            buffer += tag
            if buffer.count >= 1 << 20 {
                try buffer.withUnsafeBytes { try writer.append(elements: $0) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try buffer.withUnsafeBytes { try writer.append(elements: $0) }
        try writer.commit()
        try Report(fields: [("benchmark", "lookup-write"), ("setup_items", setupItems), ("setup", setup)]).print(json: json)
    }
}

