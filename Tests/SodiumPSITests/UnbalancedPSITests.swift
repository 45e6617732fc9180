import Foundation
import Testing
@testable import SodiumPSI
import CSodium

/// Helpers of the unbalanced-PSI tests (own names, so they stay independent of other test files).
enum Unbalanced {
    static let purpose = try! PurposeLabel("test: alliance blacklist")

    static func items(_ values: some Sequence<String>) -> [Identifier] { values.map { try! Identifier.plain($0) } }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sodium-psi-unbalanced-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func hub(_ mode: UnbalancedAnswerMode, limit: Int = 1_000, purpose: PurposeLabel = purpose) -> UnbalancedPSIHub {
        UnbalancedPSIHub(key: .generate(answerMode: mode), purpose: purpose, maximumRequestSize: limit, parallelism: Parallelism(threads: 2))
    }

    /// One whole query in memory.
    static func query(hub: UnbalancedPSIHub, setup: UnbalancedSetup, deltas: [UnbalancedSetup] = [],
                      member items: [Identifier]) throws -> UnbalancedPSIResult {
        let member = try UnbalancedPSIMember(items: items, purpose: hub.purpose, setup: setup, parallelism: Parallelism(threads: 2))
        let response = try hub.respond(to: member.request)
        return try member.finish(response: response, setup: setup, deltas: deltas)
    }

    /// `count` values of 64 pseudo-random bytes from `seed` (libsodium's deterministic ChaCha20
    /// stream: fast enough for the millions of queries of the false-positive tests).
    static func randomValues(_ count: Int, seed: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count * 64)
        let key = withUnsafeBytes(of: seed.littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 24)
        bytes.withUnsafeMutableBytes { randombytes_buf_deterministic($0.baseAddress!, $0.count, key) }
        return bytes
    }

    /// The statistical check of a filter built over `members` (values of 64 bytes): no false
    /// negatives, and at most ε·q + 5·sqrt(ε·q) false positives over q = `queries` random
    /// non-members (see the Bloom filter's test for why). Returns the false positives counted.
    static func checkFalsePositives(members: [UInt8], queries: Int, ε: Double,
                                    contains: (UnsafeRawBufferPointer) -> Bool) -> Int {
        func forEachValue(_ values: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
            values.withUnsafeBytes { raw in
                for i in 0..<(values.count / 64) { body(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
            }
        }
        var missing = 0
        forEachValue(members) { if !contains($0) { missing += 1 } }
        #expect(missing == 0, "\(missing) members not found")
        var hits = 0
        let chunk = 100_000
        for start in stride(from: 0, to: queries, by: chunk) {
            forEachValue(randomValues(min(chunk, queries - start), seed: 1_000 + UInt64(start))) { if contains($0) { hits += 1 } }
        }
        let expected = ε * Double(queries)
        #expect(Double(hits) <= expected + 5 * expected.squareRoot(), "\(hits) false positives in \(queries) queries, ε = \(ε)")
        return hits
    }

    static let encodings: [SetupEncoding] = [.truncatedTags(byteCount: 12), .bloomFilter(falsePositiveRate: 0x1p-20)]

    /// A setup digest for requests whose setup does not matter to the test (the hub refuses them first).
    static let someSetupDigest = [UInt8](repeating: 0x5e, count: 32)
}

@Suite("Unbalanced PSI in memory")
struct UnbalancedPSITests {
    static let sizes: [(hub: Int, member: Int, shared: Int)] = [(0, 3, 0), (1, 1, 1), (150, 40, 0), (150, 40, 17), (120, 30, 30)]

    @Test("Member results equal the Set intersection (sizes, overlaps, both encodings, both answer modes)",
          arguments: [UnbalancedAnswerMode.intersection, .cardinalityOnly], Unbalanced.encodings)
    func endToEnd(mode: UnbalancedAnswerMode, encoding: SetupEncoding) throws {
        for (n, m, shared) in Self.sizes {
            let hubValues = (0..<n).map { "agent-\($0)" }
            let memberValues = (0..<shared).map { "agent-\($0)" } + (0..<(m - shared)).map { "member-only-\($0)" } + ["agent-0"].prefix(shared > 0 ? 1 : 0)
            let hub = Unbalanced.hub(mode)
            let setup = try hub.makeSetup(items: Unbalanced.items(hubValues), encoding: encoding)
            #expect(setup.itemCount == n)
            let memberItems = Unbalanced.items(memberValues)
            let expected = Set(memberItems).intersection(Unbalanced.items(hubValues))
            let result = try Unbalanced.query(hub: hub, setup: setup, member: memberItems)
            switch (mode, result) {
            case (.intersection, .intersection(let indices, let items)):
                #expect(Set(items) == expected, "hub \(n), member \(m), shared \(shared)")
                #expect(indices == indices.sorted())
            case (.cardinalityOnly, .cardinality(let count)):
                #expect(count == expected.count, "hub \(n), member \(m), shared \(shared)")
            default:
                Issue.record("result \(result) in mode \(mode)")
            }
        }
    }

    @Test("Setup values are the RFC 9497 VOPRF Evaluate outputs of the context-prefixed items")
    func setupValuesAreEvaluateOutputs() throws {
        let key = HubKey.generate(answerMode: .intersection)
        let items = Unbalanced.items(["a", "b", "c"])
        let values = try UnbalancedPRF.evaluate(UnbalancedPRF.Inputs(items, purpose: Unbalanced.purpose, identifierType: .plain),
                                                key: key, keep: 64, parallelism: .serial, progress: nil)
        let server = OPRF.VerifiableServer(privateKey: key.privateKey)
        // Docs/unbalanced.md: tag, context version 1, suite 1, purpose digest, identifier type (plain, no flags), each length-prefixed.
        let field = { (bytes: [UInt8]) in [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes }
        let prefix = field(Array("SodiumPSI-unbalanced-context".utf8)) + field([1]) + field([1]) + field(Unbalanced.purpose.digest) + field([3, 0])
        let expected = try server.evaluate(items.map { prefix + $0.psiEncoding })
        #expect(values == expected.flatMap { $0 })
        // The published tags are these values' truncations, sorted (an order that depends on the
        // values only, not on the list's order).
        let hub = UnbalancedPSIHub(key: key, purpose: Unbalanced.purpose)
        let setup = try hub.makeSetup(items: items, encoding: .truncatedTags(byteCount: 16))
        let tags = try #require(setup.entries?.memoryBytes)
        let published = (0..<3).map { Array(tags[($0 * 16)..<($0 * 16 + 16)]) }
        #expect(published == expected.map { Array($0.prefix(16)) }.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test("Key id is SHA-256(\"SodiumPSI-V1-hub-key-id\" || pkS), first 16 bytes; the key file round-trips with mode 0600")
    func keyFile() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = HubKey.generate(answerMode: .cardinalityOnly)
        #expect(key.keyID.bytes == Array(sha256(Array("SodiumPSI-V1-hub-key-id".utf8) + key.privateKey.publicKey.rawRepresentation).prefix(16)))
        let url = folder.appendingPathComponent("hub.key")
        try key.save(to: url)
        #expect((try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as! NSNumber).intValue == 0o600)
        let loaded = try HubKey.load(from: url)
        #expect(loaded.keyID == key.keyID)
        #expect(loaded.privateKey.scalar == key.privateKey.scalar)
        #expect(loaded.answerMode == .cardinalityOnly)
        #expect(throws: UnbalancedPSIError.keyFileExists(path: url.path)) { try HubKey.generate(answerMode: .intersection).save(to: url) }
        // A damaged file: the digest no longer matches.
        let good = [UInt8](try Data(contentsOf: url))
        var bytes = good
        bytes[bytes.count - 1] ^= 1
        try SecretFile.write(bytes, to: url)
        #expect(throws: UnbalancedPSIError.invalidKeyFile(path: url.path, reason: "its content does not match its digest; the file is damaged")) {
            try HubKey.load(from: url)
        }
        // Forged, digest recomputed: the stored key id no longer matches the scalar.
        bytes = good
        bytes[19 + 32 + 5] ^= 1
        try SecretFile.write(redigested(bytes), to: url)
        #expect(throws: UnbalancedPSIError.invalidKeyFile(path: url.path, reason: "the stored key identifier does not match the key; the file is damaged")) {
            try HubKey.load(from: url)
        }
    }

    @Test("Delta setups add entries (both encodings, both modes)",
          arguments: [UnbalancedAnswerMode.intersection, .cardinalityOnly], Unbalanced.encodings)
    func delta(mode: UnbalancedAnswerMode, encoding: SetupEncoding) throws {
        let hub = Unbalanced.hub(mode)
        let base = try hub.makeSetup(items: Unbalanced.items((0..<60).map { "old-\($0)" }), encoding: encoding)
        let delta = try hub.makeDelta(items: Unbalanced.items((0..<20).map { "new-\($0)" }), base: base)
        #expect(delta.isDelta && delta.setupID == base.setupID && delta.encoding == base.encoding)
        let member = Unbalanced.items(["old-1", "old-59", "new-0", "new-19", "none-1", "none-2"])
        let without = try Unbalanced.query(hub: hub, setup: base, member: member)
        let with = try Unbalanced.query(hub: hub, setup: base, deltas: [delta], member: member)
        #expect(without.count == 2)
        #expect(with.count == 4)
        if case .intersection(_, let items) = with { #expect(Set(items) == Set(Unbalanced.items(["old-1", "old-59", "new-0", "new-19"]))) }
        // A delta of another setup, or given as the base, is refused.
        let other = try hub.makeSetup(items: Unbalanced.items(["x"]), encoding: encoding)
        #expect(throws: UnbalancedPSIError.deltaBaseMismatch(path: "setup", found: base.setupID.description, expected: other.setupID.description)) {
            try UnbalancedSetupLookup(setup: other, deltas: [delta])
        }
        #expect(throws: UnbalancedPSIError.self) { try UnbalancedSetupLookup(setup: delta) }
    }

    @Test("Many requests answered concurrently by one hub")
    func concurrentRequests() async throws {
        let hub = Unbalanced.hub(.intersection)
        let setup = try hub.makeSetup(items: Unbalanced.items((0..<50).map { "v\($0)" }), encoding: .truncatedTags(byteCount: 16))
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<6 {
                group.addTask {
                    try Unbalanced.query(hub: hub, setup: setup, member: Unbalanced.items((0..<(t + 3)).map { "v\($0 * 7)" } + ["zz\(t)"])).count
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(counts.sorted() == (0..<6).map { min($0 + 3, 8) }.sorted())
    }

    @Test("Cardinality-only: the response is shuffled and the member learns only the count")
    func cardinalityShuffles() throws {
        let hub = Unbalanced.hub(.cardinalityOnly)
        let items = Unbalanced.items((0..<64).map { "c\($0)" })
        let setup = try hub.makeSetup(items: items, encoding: .truncatedTags(byteCount: 16))
        let member = try UnbalancedPSIMember(items: items, purpose: hub.purpose, setup: setup, parallelism: .serial)
        let a = try hub.respond(to: member.request), b = try hub.respond(to: member.request)
        #expect(a.evaluatedElements != b.evaluatedElements)
        #expect(Set(a.evaluatedElements) == Set(b.evaluatedElements))
        #expect(try member.finish(response: a, setup: setup) == .cardinality(count: 64))
    }
}

@Suite("Bloom filter")
struct BloomFilterTests {
    @Test("Parameters: k = log2(1/ε), m/n ≈ 1.44·log2(1/ε) bits, estimate within ε")
    func parameters() throws {
        let (m, k) = try BloomFilter.parameters(itemCount: 1_000_000, falsePositiveRate: 0x1p-20)
        #expect(k == 20)
        #expect(abs(Double(m) / 1_000_000 - 20 / log(2.0)) < 0.01)
        for ε in [0.01, 0.001, 0x1p-10, 0x1p-30, 0.2] {
            let (m, k) = try BloomFilter.parameters(itemCount: 12_345, falsePositiveRate: ε)
            #expect(BloomFilter.estimatedFalsePositiveRate(bitCount: m, hashCount: k, itemCount: 12_345) <= ε * (1 + 1e-9))
        }
        #expect(throws: UnbalancedPSIError.self) { try BloomFilter.parameters(itemCount: 1, falsePositiveRate: 0.5) }
        #expect(throws: UnbalancedPSIError.self) { try BloomFilter.parameters(itemCount: 1, falsePositiveRate: 0) }
    }

    /// The measured rate over q random non-members is Binomial(q, p) with p ≤ ε (the estimate
    /// is ≤ ε by construction). Allowing ε·q + 5·sqrt(ε·q) false positives puts a correct
    /// filter's chance of failing below 3·10⁻⁷ (normal tail at 5σ; the Chernoff bound gives the
    /// same order), while a filter whose real rate were even 20 % above ε fails almost surely
    /// (at q·ε = 2,000, 20 % is 400 = 9σ). Values come from a seeded generator: reproducible.
    @Test("Measured false-positive rate over random queries stays within the configured bound",
          arguments: [(0.01, 10_000, 200_000), (0x1p-10, 20_000, 2_000_000)])
    func falsePositiveRate(ε: Double, n: Int, queries: Int) throws {
        var filter = try BloomFilter(itemCount: n, falsePositiveRate: ε)
        let members = Unbalanced.randomValues(n, seed: 1)
        members.withUnsafeBytes { raw in
            for i in 0..<n { filter.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        let hits = Unbalanced.checkFalsePositives(members: members, queries: queries, ε: ε) { filter.contains($0) }
        // And the filter is not trivially sparse: the rate is near its estimate.
        #expect(Double(hits) >= filter.estimatedFalsePositiveRate * Double(queries) / 2)
    }

    /// A delta of a few items gets the 64-bit minimum filter, where positions derived by double
    /// hashing collapsed onto a few bits (a one-item delta matched non-members at about 10^-3,
    /// not its estimate of 10^-12). With independent positions the measured rate stays near the
    /// estimate; for a filter this small the estimate `(1 − e^(−kn/m))^k` is not an upper bound
    /// (the fill fraction varies), so the margin is 2× the estimate plus 5σ.
    @Test("Small filters (a delta of a few items) keep their estimated rate", arguments: [1, 3, 6])
    func smallFilters(n: Int) throws {
        var filter = try BloomFilter(itemCount: n, falsePositiveRate: 0.01)
        #expect(filter.bitCount == 64)
        Unbalanced.randomValues(n, seed: 77).withUnsafeBytes { raw in
            for i in 0..<n { filter.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        // 200,000 queries: the old collapsed positions gave about 200 hits here, against a bound of a few.
        let queries = 200_000
        var hits = 0
        for start in stride(from: 0, to: queries, by: 100_000) {
            Unbalanced.randomValues(100_000, seed: 5_000 + UInt64(start)).withUnsafeBytes { raw in
                for i in 0..<100_000 where filter.contains(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) { hits += 1 }
            }
        }
        let expected = filter.estimatedFalsePositiveRate * Double(queries)
        #expect(Double(hits) <= 2 * expected + 5 * expected.squareRoot() + 1, "\(hits) false positives in \(queries), estimate \(expected)")
    }

    @Test("A filter body whose length does not match m, or whose parameters miss ε, is refused")
    func badBodies() throws {
        var filter = try BloomFilter(itemCount: 100, falsePositiveRate: 0.01)
        Unbalanced.randomValues(100, seed: 3).withUnsafeBytes { raw in
            for i in 0..<100 { filter.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        var body = filter.encodedBody()
        guard case .success(let decoded) = BloomFilter.decode(body: body) else { Issue.record("valid body refused"); return }
        #expect(decoded == filter)
        body.removeLast(8)
        guard case .failure(.invalidSetup(_, let reason)) = BloomFilter.decode(body: body) else { Issue.record("short body accepted"); return }
        #expect(reason.contains("expected \((filter.bitCount + 63) / 64) for m = \(filter.bitCount) bits"))
        body = filter.encodedBody()
        body[15] = 1  // k = 1 for the same m and n: far above ε
        guard case .failure(.invalidSetup(_, let reason2)) = BloomFilter.decode(body: body) else { Issue.record("bad k accepted"); return }
        #expect(reason2.contains("above the stated"))
    }

    /// A filter of `n` random values built for `stated` items, encoded.
    static func body(n: Int, stated: Int, ε: Double = 0x1p-20, seed: UInt64) throws -> (BloomFilter, [UInt8]) {
        var filter = try BloomFilter(itemCount: n, falsePositiveRate: ε)
        Unbalanced.randomValues(n, seed: seed).withUnsafeBytes { raw in
            for i in 0..<n { filter.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        var body = filter.encodedBody()
        withUnsafeBytes(of: UInt64(stated).bigEndian) { for (i, byte) in $0.enumerated() { body[16 + i] = byte } }
        return (filter, body)
    }

    @Test("A filter whose fill does not fit its stated n and k is refused: every bit set, n understated or overstated")
    func fillConsistency() throws {
        func reason(_ body: [UInt8]) -> String? {
            if case .failure(.invalidSetup(_, let reason)) = BloomFilter.decode(body: body) { return reason }
            return nil
        }
        // Every bit set, for the n and k of a real filter of 1,000 items.
        let (filter, honest) = try Self.body(n: 1_000, stated: 1_000, seed: 41)
        #expect(reason(honest) == nil)
        var full = honest
        for i in 32..<full.count { full[i] = 0xff }
        let m = filter.bitCount
        if m % 64 != 0 {
            let last = full.count - 8
            withUnsafeBytes(of: ((UInt64(1) << (m % 64)) - 1).littleEndian) { for (i, byte) in $0.enumerated() { full[last + i] = byte } }
        }
        let expected = BloomFilter.expectedSetBits(bitCount: m, hashCount: filter.hashCount, itemCount: 1_000)
        #expect(reason(full) == "\(m) of its \(m) bits are set, where \(Int(expected.rounded())) ± \(Int(BloomFilter.fillTolerance(bitCount: m))) are expected for the stated n = 1000 items and k = \(filter.hashCount): the filter does not hold the items it states")
        // A hub understating its list: 1,000 items in a filter sized (and stated) for 600.
        let (_, understated) = try Self.body(n: 1_000, stated: 600, seed: 42)
        var sized = try BloomFilter(itemCount: 600, falsePositiveRate: 0x1p-20)
        Unbalanced.randomValues(1_000, seed: 42).withUnsafeBytes { raw in
            for i in 0..<1_000 { sized.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        #expect(reason(sized.encodedBody())?.contains("the filter does not hold the items it states") == true)
        #expect(reason(understated) != nil)
        // Overstated: 10 items in a filter stating 1,000.
        var sparse = try BloomFilter(itemCount: 1_000, falsePositiveRate: 0x1p-20)
        Unbalanced.randomValues(10, seed: 43).withUnsafeBytes { raw in
            for i in 0..<10 { sparse.insert(UnsafeRawBufferPointer(rebasing: raw[(i * 64)..<(i * 64 + 64)])) }
        }
        #expect(reason(sparse.encodedBody())?.contains("the filter does not hold the items it states") == true)
    }

    @Test("Honest filters of every size pass the fill check", arguments: [0.01, 0x1p-20, 0x1p-40])
    func honestFillsAccepted(ε: Double) throws {
        for (index, n) in [0, 1, 2, 3, 5, 10, 50, 200, 1_000, 5_000].enumerated() {
            for seed in 0..<5 {
                let (filter, body) = try Self.body(n: n, stated: n, ε: ε, seed: UInt64(1_000 * index + seed))
                guard case .success(let decoded) = BloomFilter.decode(body: body) else {
                    Issue.record("n = \(n), ε = \(ε), seed \(seed) refused")
                    continue
                }
                #expect(decoded.falsePositiveRateFromFill == pow(Double(filter.setBitCount) / Double(filter.bitCount), Double(filter.hashCount)))
            }
        }
    }

    @Test("The lookup's false-positive rate is the sum over the setup and deltas of each filter's fill rate")
    func rateFromFill() throws {
        let hub = Unbalanced.hub(.intersection)
        let base = try hub.makeSetup(items: Unbalanced.items((0..<300).map { "b\($0)" }), encoding: .bloomFilter(falsePositiveRate: 0x1p-10))
        let delta = try hub.makeDelta(items: Unbalanced.items(["d1", "d2"]), base: base)
        let lookup = try UnbalancedSetupLookup(setup: base, deltas: [delta])
        let rates = try [base, delta].map { setup in
            let filter = try #require(setup.bloomFilter)
            return pow(Double(filter.setBitCount) / Double(filter.bitCount), Double(filter.hashCount))
        }
        #expect(lookup.falsePositiveRate == rates[0] + rates[1])
        #expect(base.falsePositiveRate == rates[0])
    }
}
