import CSodium
import Foundation
import Testing
@testable import SodiumPSI

/// Labeled setups: the construction, what a member decrypts, refusals, deltas in order,
/// contributions aggregated, and the streamed setup against the in-memory one.
@Suite("Labels")
struct LabelTests {
    static let encoding = SetupEncoding.labeledTags(tagByteCount: 12, labelByteCount: 64)

    /// A label that differs per item, so a label at the wrong entry shows.
    static func label(_ i: Int) -> SetupLabel {
        SetupLabel(categories: i % 3 == 0 ? ["mass complaints"] : ["forged docs", "takeover"],
                   firstSeen: String(format: "2026-01-%02d", 1 + i % 28), lastSeen: String(format: "2026-02-%02d", 1 + i % 28),
                   reporterCount: 1 + i % 7, note: i % 5 == 0 ? "n\(i)" : nil)
    }

    /// A query of `member` against `setup` (and deltas) through the hub, with labels.
    static func query(_ hub: UnbalancedPSIHub, _ setup: UnbalancedSetup, deltas: [UnbalancedSetup] = [],
                      member: [Identifier]) throws -> UnbalancedPSILabeledResult {
        let m = try UnbalancedPSIMember(items: member, purpose: hub.purpose, setup: setup, parallelism: Parallelism(threads: 2))
        return try m.finishWithLabels(response: try hub.respond(to: m.request), lookup: UnbalancedSetupLookup(setup: setup, deltas: deltas))
    }

    @Test("Labels of matches decrypt to the hub's values; non-members get none (in memory and read from the file)",
          arguments: [1, 40, 700])
    func labelsOfMatches(size: Int) throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let hub = Unbalanced.hub(.intersection)
        let items = Unbalanced.items((0..<size).map { "hub-\($0)" })
        let labels = (0..<size).map(Self.label)
        let setup = try hub.makeSetup(items: items, labels: labels, encoding: Self.encoding)
        #expect(setup.fileByteCount == 156 + 35 + 6 + size * (12 + 64 + 16) + 96)   // records 1 (pkS) and 64
        let url = folder.appendingPathComponent("setup.spsi")
        try setup.write(to: url)
        let read = try UnbalancedSetup.read(from: url)
        #expect(read.digest == setup.digest && read.hasLabels && read.encoding == Self.encoding)
        // Every third hub item, and as many non-members, in the member's list.
        let chosen = stride(from: 0, to: size, by: 3).map { $0 }
        let member = chosen.map { items[$0] } + Unbalanced.items((0..<chosen.count).map { "other-\($0)" })
        for candidate in [setup, read] {
            let answer = try Self.query(hub, candidate, member: member)
            #expect(answer.result == .intersection(indices: Array(0..<chosen.count), items: chosen.map { items[$0] }))
            #expect(answer.labels == chosen.map { labels[$0] })
        }
    }

    @Test("The construction byte by byte: key from crypto_kdf over F[32..<64], nonce setup id || delta number, AD setup id || tag")
    func constructionVector() throws {
        let hub = Unbalanced.hub(.intersection)
        let item = try Identifier.plain("vector")
        let label = SetupLabel(categories: ["b", "a"], firstSeen: "2026-01-02", reporterCount: 3, note: "x")
        let setup = try hub.makeSetup(items: [item], labels: [label], encoding: .labeledTags(tagByteCount: 8, labelByteCount: 40))
        let entry = try #require(setup.entries?.memoryBytes)
        // F: RFC 9497 VOPRF Evaluate of the context-prefixed item (Docs/unbalanced.md: tag, context
        // version 1, suite 1, purpose digest, identifier type, each length-prefixed).
        let field = { (bytes: [UInt8]) in [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes }
        let prefix = field(Array("SodiumPSI-unbalanced-context".utf8)) + field([1]) + field([1]) + field(Unbalanced.purpose.digest) + field([3, 0])
        let f = try OPRF.VerifiableServer(privateKey: hub.key.privateKey).evaluate([prefix + item.psiEncoding])[0]
        #expect(Array(entry[0..<8]) == Array(f[0..<8]))
        var key = [UInt8](repeating: 0, count: 32)
        _ = crypto_kdf_derive_from_key(&key, 32, 1, "SPSIlabl", Array(f[32..<64]))
        let plaintext: [UInt8] = [1, 0, 3] + Array("a\u{1F}b".utf8) + [2, 0, 10] + Array("2026-01-02".utf8)
            + [4, 0, 4, 0, 0, 0, 3] + [6, 0, 1] + Array("x".utf8)
        let padded = plaintext + [UInt8](repeating: 0, count: 40 - plaintext.count)
        let nonce = setup.setupID.bytes + [UInt8](repeating: 0, count: 8)
        let ad = setup.setupID.bytes + Array(f[0..<8])
        var sealed = [UInt8](repeating: 0, count: 40 + 16)
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&sealed, nil, padded, 40, ad, UInt64(ad.count), nil, nonce, key)
        #expect(Array(entry[8...]) == sealed)
        // The header: mode 0x31, element size 8 + 40 + 16, extension record 1 = pkS, record 64 = [8, 0, 40].
        let header = setup.header
        #expect(header.mode == 0x31 && header.elementSize == 64 && header.extensions[64] == [8, 0, 40])
        #expect(header.extensions.encoded() == [1, 0, 32] + hub.key.privateKey.publicKey.rawRepresentation + [64, 0, 3, 8, 0, 40])
    }

    /// A labeled setup file, its path, the hub, and the bytes of entry `i`'s range in the file.
    struct Published {
        let hub: UnbalancedPSIHub
        let items: [Identifier]
        let url: URL
        let bytes: [UInt8]
        let entrySize = 12 + 64 + 16
        var entriesStart: Int { 156 + 35 + 6 }   // header, extension block: record 1 (pkS, 32 bytes) and record 64 (3 bytes)

        init(folder: URL, count: Int) throws {
            hub = Unbalanced.hub(.intersection)
            items = Unbalanced.items((0..<count).map { "hub-\($0)" })
            url = folder.appendingPathComponent("setup.spsi")
            try hub.makeSetup(items: items, labels: (0..<count).map(LabelTests.label), encoding: LabelTests.encoding).write(to: url)
            bytes = [UInt8](try Data(contentsOf: url))
        }

        /// The entry of `item` in the file (by its tag).
        func entryIndex(of item: Identifier) throws -> Int {
            let f = try OPRF.VerifiableServer(privateKey: hub.key.privateKey)
                .evaluate(UnbalancedPRF.Inputs([item], purpose: hub.purpose, identifierType: hub.identifierType).arrays)[0]
            let count = (bytes.count - entriesStart - 96) / entrySize
            return try #require((0..<count).first { Array(bytes[(entriesStart + $0 * entrySize)..<(entriesStart + $0 * entrySize + 12)]) == Array(f[0..<12]) })
        }

        func write(_ forged: [UInt8]) throws { try Data(resigned(forged)).write(to: url) }
    }

    @Test("A tampered label, or a label moved to another entry (another item's key), is refused with the entry; nothing is produced")
    func tamperedLabels() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let published = try Published(folder: folder, count: 20)
        let target = published.items[4]
        let index = try published.entryIndex(of: target)
        let start = published.entriesStart + index * published.entrySize
        // One bit of the ciphertext flipped, the file's digest and signature made valid again.
        var forged = published.bytes
        forged[start + 12 + 5] ^= 1
        try published.write(forged)
        #expect(throws: UnbalancedPSIError.labelAuthenticationFailed(path: published.url.path, entry: index)) {
            try Self.query(published.hub, try UnbalancedSetup.read(from: published.url), member: [target])
        }
        // The sealed label of another entry put in this one: it was sealed under the other item's key.
        forged = published.bytes
        let other = published.entriesStart + (index == 0 ? 1 : 0) * published.entrySize
        forged.replaceSubrange((start + 12)..<(start + published.entrySize), with: published.bytes[(other + 12)..<(other + published.entrySize)])
        try published.write(forged)
        #expect(throws: UnbalancedPSIError.labelAuthenticationFailed(path: published.url.path, entry: index)) {
            try Self.query(published.hub, try UnbalancedSetup.read(from: published.url), member: [target])
        }
        // A member whose items match other entries is not affected by the tampered one.
        let fine = try Self.query(published.hub, try UnbalancedSetup.read(from: published.url), member: [published.items[index == 0 ? 2 : 0]])
        #expect(fine.result.count == 1)
    }

    @Test("A setup whose entries are out of order is refused; a file changed after it was verified is refused at lookup")
    func orderAndChangedFile() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let published = try Published(folder: folder, count: 10)
        var forged = published.bytes
        let a = published.entriesStart, b = a + published.entrySize, size = published.entrySize
        let first = Array(forged[a..<(a + size)])
        forged.replaceSubrange(a..<(a + size), with: forged[b..<(b + size)])
        forged.replaceSubrange(b..<(b + size), with: first)
        try published.write(forged)
        #expect(throws: UnbalancedPSIError.invalidSetup(path: published.url.path, reason: "entry 1 is out of order: a setup's entries are sorted by tag")) {
            try UnbalancedSetup.read(from: published.url)
        }
        // Verified, then changed in place: the block check of the lookup refuses it.
        try Data(published.bytes).write(to: published.url)
        let setup = try UnbalancedSetup.read(from: published.url)
        let handle = try FileHandle(forWritingTo: published.url)
        try handle.seek(toOffset: UInt64(published.entriesStart + 20))
        try handle.write(contentsOf: [0xFF])
        try handle.close()
        #expect(throws: MessageFileError.io(path: published.url.path, reason: "the setup file changed after it was verified")) {
            try Self.query(published.hub, setup, member: published.items)
        }
    }

    @Test("Deltas add items and replace labels, applied in order; a delta out of order or after a gap is refused")
    func deltasInOrder() throws {
        let hub = Unbalanced.hub(.intersection)
        let items = Unbalanced.items(["a", "b", "c"])
        let base = try hub.makeSetup(items: items, labels: [Self.label(0), Self.label(1), Self.label(2)], encoding: Self.encoding)
        let newB = SetupLabel(categories: ["mass complaints"], firstSeen: "2026-01-01", lastSeen: "2026-06-01", reporterCount: 9)
        let d1 = try hub.makeDelta(items: [items[1], try .plain("d")], labels: [newB, Self.label(3)], base: base, number: 1)
        let newerB = SetupLabel(categories: ["phone takeover"], reporterCount: 10)
        let d2 = try hub.makeDelta(items: [items[1]], labels: [newerB], base: base, number: 2)
        let member = items + [try .plain("d")]
        let answer = try Self.query(hub, base, deltas: [d1, d2], member: member)
        #expect(answer.result.count == 4)
        #expect(answer.labels == [Self.label(0), newerB, Self.label(2), Self.label(3)])
        // Without the deltas: the base's labels, and no "d".
        #expect(try Self.query(hub, base, member: member).labels == [Self.label(0), Self.label(1), Self.label(2)])
        #expect(throws: UnbalancedPSIError.deltaOutOfOrder(path: "setup", found: 2, expected: 1)) {
            try UnbalancedSetupLookup(setup: base, deltas: [d2, d1])
        }
        #expect(throws: UnbalancedPSIError.deltaOutOfOrder(path: "setup", found: 2, expected: 1)) {
            try UnbalancedSetupLookup(setup: base, deltas: [d2])
        }
        #expect(throws: UnbalancedPSIError.deltaOutOfOrder(path: "setup", found: 1, expected: 2)) {
            try UnbalancedSetupLookup(setup: base, deltas: [d1, d1])
        }
        // A delta's label is sealed under its own nonce: the same item's label differs from the base's.
        #expect(d2.header.extensions[65] == [0, 0, 0, 2] && base.header.extensions[65] == nil)
    }

    @Test("Labels are refused where they cannot be used, and bad labels name the item")
    func refusals() throws {
        let cardinality = Unbalanced.hub(.cardinalityOnly)
        let items = Unbalanced.items(["a", "b"])
        #expect(throws: UnbalancedPSIError.labelsNotSupported(reason: "the hub key serves cardinality-only answers: its members learn how many of their items match, and labels would tell them which")) {
            try cardinality.makeSetup(items: items, labels: [Self.label(0), Self.label(1)], encoding: Self.encoding)
        }
        let hub = Unbalanced.hub(.intersection)
        #expect(throws: UnbalancedPSIError.labelsNotSupported(reason: "a labeled encoding needs a label for every item")) {
            try hub.makeSetup(items: items, encoding: Self.encoding)
        }
        #expect(throws: UnbalancedPSIError.invalidLabel(index: 1, reason: "date \"2026-02-30\" is not a calendar date YYYY-MM-DD")) {
            try hub.makeSetup(items: items, labels: [Self.label(0), SetupLabel(firstSeen: "2026-02-30")], encoding: Self.encoding)
        }
        #expect(throws: UnbalancedPSIError.labelTooLong(index: 0, length: 3 + 100 + 7, maximum: 64)) {
            try hub.makeSetup(items: items, labels: [SetupLabel(note: String(repeating: "x", count: 100)), Self.label(1)], encoding: Self.encoding)
        }
        #expect(throws: UnbalancedPSIError.invalidLabel(index: 1, reason: "it repeats item 0; give each item once, with its aggregated label")) {
            try hub.makeSetup(items: [items[0], items[0]], labels: [Self.label(0), Self.label(1)], encoding: Self.encoding)
        }
    }

    /// Writes a contribution CSV: `value,category,first,last,count,note` rows.
    static func csv(_ rows: [[String]], to url: URL) throws {
        try Data((["value,category,first,last,count,note"] + rows.map { $0.joined(separator: ",") }).joined(separator: "\n").utf8).write(to: url)
    }

    @Test("Overlapping contributions aggregate like a plain dictionary, streamed through spilled buckets; per-contributor counts",
          arguments: [(inMemoryLimit: 1_000_000, bucketCount: 128), (inMemoryLimit: 7, bucketCount: 3)])
    func contributions(limits: (inMemoryLimit: Int, bucketCount: Int)) throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let hub = Unbalanced.hub(.intersection)
        let names = ["Bank A", "Bank B", "Bank C"]
        var rng = SplitMix64(seed: 18)
        let categories = ["mass complaints", "forged documents", "phone takeover"]
        // The expected aggregate, computed here with plain dictionaries.
        var counts = [String: [String: Int]](), cats = [String: Set<String>](), first = [String: String](), last = [String: String]()
        var notes = [String: [String]](), repeated = [0, 0, 0], invalid = [0, 0, 0], valid = [0, 0, 0]
        var urls = [URL]()
        for (c, name) in names.enumerated() {
            var rows = [[String]]()
            var given = Set<String>()
            for _ in 0..<60 {
                let value = "id-\(rng.next() % 40)"
                if rng.next() % 10 == 0 { rows.append(["", "x", "", "", "", ""]); invalid[c] += 1; continue }
                let category = categories[Int(rng.next() % 3)]
                let f = String(format: "2026-0%d-%02d", 1 + Int(rng.next() % 4), 1 + Int(rng.next() % 28))
                let l = String(format: "2026-0%d-%02d", 5 + Int(rng.next() % 4), 1 + Int(rng.next() % 28))
                let count = rng.next() % 3 == 0 ? String(1 + rng.next() % 4) : ""
                let note = rng.next() % 4 == 0 ? "note \(rng.next() % 3)" : ""
                rows.append([value, category, f, l, count, note])
                valid[c] += 1
                if !given.insert(value).inserted { repeated[c] += 1 }
                counts[value, default: [:]][name] = max(counts[value]?[name] ?? 0, Int(count) ?? 1)
                cats[value, default: []].insert(category)
                first[value] = min(first[value] ?? f, f)
                last[value] = max(last[value] ?? l, l)
                if !note.isEmpty, !(notes[value] ?? []).contains(note) { notes[value, default: []].append(note) }
            }
            let url = folder.appendingPathComponent("c\(c).csv")
            try Self.csv(rows, to: url)
            urls.append(url)
        }
        let contributions = zip(names, urls).map { name, url in
            HubContribution(name: name, reader: IdentifierListReader(url: url, format: .csv(column: .name("value")), kind: .plain))
        }
        let columns = LabelColumns(category: .name("category"), firstSeen: .name("first"), lastSeen: .number(4),
                                   reporterCount: .name("count"), note: .name("note"), includeContributors: true)
        let setupURL = folder.appendingPathComponent("setup.spsi")
        let published = try UnbalancedPSIFileExchange.publishSetup(
            contributions: contributions, hub: hub, encoding: .labeledTags(tagByteCount: 12, labelByteCount: 200), labelColumns: columns,
            setupURL: setupURL, options: StreamingOptions(chunkSize: 5, inMemoryLimit: limits.inMemoryLimit, bucketCount: limits.bucketCount))
        #expect(published.itemCount == counts.count)
        #expect(published.contributions.map(\.valid) == valid && published.contributions.map(\.invalid) == invalid)
        #expect(published.contributions.map(\.repeated) == repeated)
        let setup = try UnbalancedSetup.read(from: setupURL)
        #expect(setup.digest == published.digest && setup.fileByteCount == published.fileByteCount)
        let member = counts.keys.sorted() + ["id-none"]
        let answer = try Self.query(hub, setup, member: Unbalanced.items(member))
        let expected = counts.keys.sorted().map { value in
            SetupLabel(categories: Array(cats[value]!), firstSeen: first[value], lastSeen: last[value],
                       reporterCount: counts[value]!.values.reduce(0, +), contributors: Array(counts[value]!.keys),
                       note: notes[value].map { $0.joined(separator: " | ") })
        }
        #expect(answer.result.count == counts.count)
        #expect(answer.labels == expected)
    }

    @Test("A bad label column names the file, the line and the column")
    func badColumns() throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("c.csv")
        try Self.csv([["a", "x", "2026-01-01", "", "", ""], ["b", "x", "01/02/2026", "", "", ""]], to: url)
        let contribution = HubContribution(name: "hub", reader: IdentifierListReader(url: url, format: .csv(column: .name("value")), kind: .plain))
        #expect(throws: UnbalancedPSIError.invalidLabelValue(path: url.path, line: 3, field: "first seen column",
                                                             reason: "holds \"01/02/2026\"; expected a calendar date YYYY-MM-DD")) {
            try UnbalancedPSIFileExchange.publishSetup(contributions: [contribution], hub: Unbalanced.hub(.intersection), encoding: Self.encoding,
                                                       labelColumns: LabelColumns(firstSeen: .name("first")),
                                                       setupURL: folder.appendingPathComponent("s.spsi"))
        }
        try Self.csv([["a", "x", "", "", "-1", ""]], to: url)
        #expect(throws: UnbalancedPSIError.invalidLabelValue(path: url.path, line: 2, field: "reporter count column",
                                                             reason: "holds \"-1\"; expected a whole number from 0 to 4294967295")) {
            try UnbalancedPSIFileExchange.publishSetup(contributions: [contribution], hub: Unbalanced.hub(.intersection), encoding: Self.encoding,
                                                       labelColumns: LabelColumns(reporterCount: .name("count")),
                                                       setupURL: folder.appendingPathComponent("s.spsi"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("s.spsi").path))
    }

    /// The streamed setup of `count` plain items against the in-memory one: the same sorted tags,
    /// byte for byte, and the same answers.
    static func streamedEqualsInMemory(count: Int, options: StreamingOptions) throws {
        let folder = try Unbalanced.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let hub = Unbalanced.hub(.intersection)
        let values = (0..<count).map { "item-\($0)" }
        let list = folder.appendingPathComponent("list.txt")
        // Every tenth value twice: repeats are collapsed in both paths.
        try Data((values + stride(from: 0, to: count, by: 10).map { values[$0] }).joined(separator: "\n").utf8).write(to: list)
        let setupURL = folder.appendingPathComponent("streamed.spsi")
        let published = try UnbalancedPSIFileExchange.publishSetup(
            contributions: [HubContribution(name: "hub", reader: IdentifierListReader(url: list, kind: .plain))], hub: hub,
            encoding: .truncatedTags(byteCount: 12), setupURL: setupURL, options: options)
        let memory = try hub.makeSetup(items: Unbalanced.items(values), encoding: .truncatedTags(byteCount: 12))
        #expect(published.itemCount == count)
        let streamed = try UnbalancedSetup.read(from: setupURL)
        var streamedBody = [UInt8]()
        try streamed.entries!.forEachChunk { streamedBody += $0 }
        #expect(streamedBody == memory.entries!.memoryBytes!)
        let member = Unbalanced.items(stride(from: 0, to: count, by: max(1, count / 500)).map { values[$0] } + ["not-listed"])
        #expect(try Unbalanced.query(hub: hub, setup: streamed, member: member) == Unbalanced.query(hub: hub, setup: memory, member: member))
    }

    @Test("A streamed setup spilled to many buckets equals the in-memory one, byte for byte (5,000 items)")
    func streamedSmall() throws {
        try Self.streamedEqualsInMemory(count: 5_000, options: StreamingOptions(chunkSize: 1_024, inMemoryLimit: 250, bucketCount: 16))
    }

    @Test("A streamed 2,000,000-item setup equals the in-memory one (set SODIUM_PSI_LONG_TESTS=1; about 2 CPU-minutes)",
          .enabled(if: ProcessInfo.processInfo.environment["SODIUM_PSI_LONG_TESTS"] == "1"))
    func streamedLarge() throws {
        try Self.streamedEqualsInMemory(count: 2_000_000, options: StreamingOptions())
    }
}
