import Foundation
import Testing
@testable import SodiumPSI

/// A good step-1 message file and what a reader expects of it.
struct MessageFixture {
    let dir: URL
    let url: URL
    let message: MutualPSIMessage
    let purpose: PurposeLabel

    init(count: Int = 12, outcome: MutualPSIOutcome = .bothLearn) throws {
        dir = try temporaryDirectory()
        url = dir.appendingPathComponent("1.spsi")
        purpose = try PurposeLabel("file tests")
        let config = MutualPSIConfiguration(purpose: purpose, outcome: outcome)
        message = try MutualPSIInitiator(items: plainItems((0..<count).map { "f\($0)" }), configuration: config).blindedSet
        try message.write(to: url)
    }

    var bytes: [UInt8] { get throws { try [UInt8](Data(contentsOf: url)) } }

    /// Writes `bytes` to a new file; with `redigest`, recomputes the trailing SHA-256 so that
    /// only the edited field is wrong.
    func tampered(_ edit: (inout [UInt8]) -> Void, redigest: Bool = true, name: String = "t.spsi") throws -> URL {
        var b = try bytes
        edit(&b)
        if redigest, b.count >= 32 {
            b.replaceSubrange((b.count - 32)..., with: sha256(Array(b[..<(b.count - 32)])))
        }
        let out = dir.appendingPathComponent(name)
        try Data(b).write(to: out)
        return out
    }

    func read(_ url: URL, kind: MutualPSIMessage.Kind = .initiatorBlindedSet, context: ExchangeContext? = nil,
              outcome: MutualPSIOutcome = .bothLearn, maximumCount: Int? = nil, count: Int? = nil) throws -> MutualPSIMessage {
        try MutualPSIMessage.read(from: url, kind: kind, suite: .ristretto255SHA512, purposeDigest: purpose.digest, outcome: outcome,
                                  sessionID: context?.sessionID, maximumCount: maximumCount, count: count)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: dir) }
}

@Suite("Message files")
struct MessageFileTests {
    @Test("Round trip: header fields, elements in order, size, and chunked reading")
    func roundTrip() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let read = try f.read(f.url)
        #expect(read == f.message)
        #expect(try f.bytes.count == 88 + 12 * 32 + 32)
        for chunk in [1, 5, 12, 100] {
            let reader = try MessageFileReader(url: f.url, expecting: MessageExpectation())
            var raw = [UInt8]()
            while let part = try reader.readChunk(maximumElements: chunk) { raw += part }
            #expect(raw == f.message.elements.flatMap(\.rawRepresentation))
        }
        let (header, valid) = try MessageFileReader.inspect(url: f.url)
        #expect(valid && header.count == 12 && header.kind == 1 && header.mode == 1 && header.elementSize == 32)
        #expect(header.sessionID == f.message.context.sessionID && header.purposeDigest == f.purpose.digest)
    }

    /// Each header field altered, with the exact refusal.
    @Test("Every header refusal has its own error")
    func headerRefusals() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let context = f.message.context
        #expect(throws: MessageFileError.badMagic(path: p)) { try f.read(f.tampered { $0[0] = 0x54 }) }
        // A text-mode transfer turns CR LF into LF.
        #expect(throws: MessageFileError.badMagic(path: p)) { try f.read(f.tampered { $0.remove(at: 4) }) }
        #expect(throws: MessageFileError.unsupportedVersion(path: p, found: 2, supported: 1)) { try f.read(f.tampered { $0[9] = 2 }) }
        #expect(throws: MessageFileError.suiteMismatch(path: p, found: "unknown suite 9", expected: "ristretto255-SHA512")) {
            try f.read(f.tampered { $0[10] = 9 })
        }
        #expect(throws: MessageFileError.protocolMismatch(path: p, found: "unbalanced", expected: "mutual")) { try f.read(f.tampered { $0[11] = 2 }) }
        #expect(throws: MessageFileError.protocolMismatch(path: p, found: "unknown protocol 7", expected: "mutual")) { try f.read(f.tampered { $0[11] = 7 }) }
        #expect(throws: MessageFileError.wrongStep(path: p, found: "responder blinded set", expected: "initiator blinded set")) {
            try f.read(f.tampered { $0[12] = 2 })
        }
        #expect(throws: MessageFileError.modeMismatch(path: p, found: "cardinality-only", expected: "both-learn")) { try f.read(f.tampered { $0[13] = 3 }) }
        #expect(throws: MessageFileError.elementSizeMismatch(path: p, found: 33, expected: 32)) { try f.read(f.tampered { $0[15] = 33 }) }
        let otherPurpose = try f.tampered { $0[16] ^= 0xff }
        #expect(throws: MessageFileError.purposeMismatch(path: p, found: ([f.purpose.digest[0] ^ 0xff] + f.purpose.digest.dropFirst()).hexString,
                                                         expected: f.purpose.digest.hexString)) { try f.read(otherPurpose) }
        var otherSession = context.sessionID.bytes
        otherSession[0] ^= 1
        #expect(throws: MessageFileError.sessionMismatch(path: p, found: otherSession.hexString, expected: context.sessionID.description)) {
            try f.read(f.tampered { $0[48] ^= 1 }, context: context)
        }
        #expect(throws: MessageFileError.keyMismatch(path: p, found: "01" + String(repeating: "00", count: 15), expected: String(repeating: "00", count: 16))) {
            try f.read(f.tampered { $0[64] = 1 })
        }
        #expect(throws: MessageFileError.countMismatch(path: f.url.path, found: 12, expected: 13)) { try f.read(f.url, count: 13) }
        #expect(throws: MessageFileError.peerSetTooLarge(path: f.url.path, count: 12, limit: 11)) { try f.read(f.url, maximumCount: 11) }
    }

    @Test("Declared counts that disagree with the file length: truncated or trailing bytes, nothing allocated")
    func lengthRefusals() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let good = 88 + 12 * 32 + 32
        #expect(throws: MessageFileError.truncated(path: p, length: good, expected: good + 32)) { try f.read(f.tampered { $0[87] = 13 }) }
        #expect(throws: MessageFileError.trailingBytes(path: p, length: good, expected: good - 32)) { try f.read(f.tampered { $0[87] = 11 }) }
        // 2^40 elements declared in a 500-byte file: refused from the header, without allocating 32 TiB.
        #expect(throws: MessageFileError.truncated(path: p, length: good, expected: 88 + (1 << 40) * 32 + 32)) {
            try f.read(f.tampered { $0[82] = 1; $0[87] = 0 })
        }
        // A count so large the length overflows.
        #expect(throws: MessageFileError.countTooLarge(path: p, count: UInt64.max, elementSize: 32, length: good)) {
            try f.read(f.tampered { for i in 80..<88 { $0[i] = 0xff } })
        }
        #expect(throws: MessageFileError.trailingBytes(path: p, length: good + 1, expected: good)) { try f.read(f.tampered({ $0.append(0) }, redigest: false)) }
    }

    @Test("Truncation at every header offset and many body and digest offsets is refused, never a crash")
    func truncationEverywhere() throws {
        let f = try MessageFixture(count: 4)
        defer { f.cleanUp() }
        let full = try f.bytes
        let p = f.dir.appendingPathComponent("t.spsi").path
        for length in Array(0..<88) + [88, 89, 100, 120, 150, 200, 215, 216, 230, full.count - 1] {
            let url = try f.tampered({ $0 = Array(full[..<length]) }, redigest: false)
            #expect(throws: MessageFileError.self, "length \(length)") { try f.read(url) }
            do { _ = try f.read(url) } catch let error as MessageFileError {
                if length >= 88 { #expect(error == .truncated(path: p, length: length, expected: full.count)) }
                else if length == 0 { #expect(error == .truncated(path: p, length: 0, expected: 120)) }
            }
        }
    }

    @Test("A flipped byte at any offset is refused: digest mismatch, or the field's own error")
    func flippedBytes() throws {
        let f = try MessageFixture(count: 3)
        defer { f.cleanUp() }
        let full = try f.bytes
        let p = f.dir.appendingPathComponent("t.spsi").path
        for offset in 88..<full.count {
            let url = try f.tampered({ $0[offset] ^= 0x20 }, redigest: false)
            #expect(throws: MessageFileError.digestMismatch(path: p), "offset \(offset)") { try f.read(url) }
        }
        for offset in 0..<88 {
            let url = try f.tampered({ $0[offset] ^= 0x01 }, redigest: false)
            #expect(throws: MessageFileError.self, "offset \(offset)") { try f.read(url, context: f.message.context) }
        }
    }

    @Test("Invalid and repeated elements are refused with their index")
    func elementRefusals() throws {
        let f = try MessageFixture(count: 5)
        defer { f.cleanUp() }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let at = { (i: Int) in 88 + i * 32 }
        #expect(throws: MessageFileError.invalidElement(path: p, index: 2, reason: PSIError.identityElement(index: 2).localizedDescription)) {
            try f.read(f.tampered { for j in at(2)..<at(3) { $0[j] = 0 } })
        }
        #expect(throws: MessageFileError.invalidElement(path: p, index: 3, reason: PSIError.invalidElementEncoding(index: 3).localizedDescription)) {
            try f.read(f.tampered { $0.replaceSubrange(at(3)..<at(4), with: [1] + [UInt8](repeating: 0, count: 31)) })
        }
        #expect(throws: MessageFileError.duplicateElement(path: p, index: 4, firstIndex: 1)) {
            try f.read(f.tampered { $0.replaceSubrange(at(4)..<at(5), with: Array($0[at(1)..<at(2)])) })
        }
    }

    @Test("Writing is atomic: nothing under the final name until commit, no leftovers on failure")
    func atomicWrites() throws {
        let f = try MessageFixture(count: 2)
        defer { f.cleanUp() }
        let target = f.dir.appendingPathComponent("out.spsi")
        let header = f.message.fileHeader
        do {
            let writer = try MessageFileWriter(url: target, header: header)
            try writer.append([f.message.elements[0]])
            #expect(!FileManager.default.fileExists(atPath: target.path))
        }  // dropped without commit
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["1.spsi"])
        let short = try MessageFileWriter(url: target, header: header)
        try short.append([f.message.elements[0]])
        #expect(throws: MessageFileError.writtenCountMismatch(path: target.path, written: 1, declared: 2)) { try short.commit() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["1.spsi"])
        // An existing file is replaced only on commit.
        try Data("old".utf8).write(to: target)
        let writer = try MessageFileWriter(url: target, header: header)
        try writer.append(f.message.elements)
        #expect(try Data(contentsOf: target) == Data("old".utf8))
        try writer.commit()
        #expect(try Data(contentsOf: target) == Data(contentsOf: f.url))
        #expect(try fileMode(target) == 0o644)
    }

    /// The example in Docs/file-format.md, regenerated from fixed inputs.
    @Test("Docs/file-format.md example bytes")
    func documentedExample() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("example.spsi")
        let hasher = HashToGroup(domainSeparationTag: Array("file-format example".utf8))
        let elements = try ["one", "two"].map { try BlindedElement(rawRepresentation: hasher.element(for: Array($0.utf8)).rawRepresentation) }
        let context = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn,
                                      purposeDigest: try PurposeLabel("example").digest,
                                      sessionID: try SessionID(bytes: Array(0..<16)))
        try MutualPSIMessage(kind: .initiatorBlindedSet, context: context, elements: elements).write(to: url)
        #expect(try [UInt8](Data(contentsOf: url)).hexString == Self.exampleHex)
    }

    static let exampleHex = "535053490d0a1a0a000101010101002050d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c000102030405060708090a0b0c0d0e0f000000000000000000000000000000000000000000000002841486c65ffae243ba869fd71bfc11af9776cc706a94b281a0f566097a56083dda927a1132b05db8283ce610a8cd76bd24a9f6f9e418cc79762cf9e059749e25a7b636519122692afd0f7684111ad8ab816038e8c5dc6e951f0f6680379f018b"
}
