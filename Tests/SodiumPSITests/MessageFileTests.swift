import Foundation
import Testing
@testable import SodiumPSI

/// A good step-1 message file (bank A to bank B) and what B expects of it.
struct MessageFixture {
    static let fixed = MessageHeader.fixedByteCount
    static let trailer = MessageHeader.trailerByteCount

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

    /// Writes `bytes` edited to a new file. With `redigest`, the stored SHA-256 is recomputed
    /// (but the signature is left as it was, so it no longer verifies); with `resign`, that
    /// identity also signs the new digest, so that only the edited field is wrong.
    func tampered(_ edit: (inout [UInt8]) -> Void, redigest: Bool = true, resign: PartyIdentity? = nil,
                  name: String = "t.spsi") throws -> URL {
        var b = try bytes
        edit(&b)
        if redigest || resign != nil, b.count >= Self.trailer {
            let digest = sha256(Array(b[..<(b.count - Self.trailer)]))
            b.replaceSubrange((b.count - Self.trailer)..<(b.count - 64), with: digest)
            if let resign {
                b.replaceSubrange((b.count - 64)..., with: resign.signature(of: MessageHeader.signedBytes(digest: digest)))
            }
        }
        let out = dir.appendingPathComponent(name)
        try Data(b).write(to: out)
        return out
    }

    /// Reads as bank B (steps 1 and 3) or bank A (step 2).
    func read(_ url: URL, kind: MutualPSIMessage.Kind = .initiatorBlindedSet, context: ExchangeContext? = nil,
              outcome: MutualPSIOutcome = .bothLearn, maximumCount: Int? = nil, count: Int? = nil,
              identifierType: IdentifierType = .plain) throws -> MutualPSIMessage {
        try MutualPSIMessage.read(from: url, kind: kind, suite: .ristretto255SHA512, purpose: purpose, outcome: outcome,
                                  sessionID: context?.sessionID, maximumCount: maximumCount, count: count,
                                  identifierType: identifierType)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: dir) }
}

/// Replaces bytes at `offset` (header fields in tests).
func put(_ bytes: [UInt8], at offset: Int, in file: inout [UInt8]) {
    file.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
}

@Suite("Message files")
struct MessageFileTests {
    @Test("Round trip: header fields, parties, identifier type, elements in order, size, chunked reading, file digest")
    func roundTrip() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let read = try f.read(f.url)
        #expect(read == f.message)
        #expect(read.sender == TestParties.a.publicKey && read.recipient == TestParties.b.publicKey)
        #expect(try f.bytes.count == 156 + 12 * 32 + 96)
        for chunk in [1, 5, 12, 100] {
            let reader = try MessageFileReader(url: f.url, expecting: MessageExpectation())
            var raw = [UInt8]()
            while let part = try reader.readChunk(maximumElements: chunk) { raw += part }
            #expect(raw == f.message.elements.flatMap(\.rawRepresentation))
            #expect(reader.fileDigest == sha256(try f.bytes))
        }
        let inspection = try MessageFileReader.inspect(url: f.url)
        let header = inspection.header
        #expect(inspection.signatureValid && inspection.digestValid)
        #expect(header.version == 3 && header.count == 12 && header.kind == 1 && header.mode == 1 && header.elementSize == 32)
        #expect(header.sessionID == f.message.context.sessionID && header.purposeDigest == f.purpose.digest)
        #expect(header.sender == TestParties.a.publicKey && header.recipient == TestParties.b.publicKey)
        #expect(header.identifierType == .plain && header.extensions.records.isEmpty)
        // The writer's whole-file digest is the file's SHA-256, as `sha256sum` computes it.
        let writer = try MessageFileWriter(url: f.dir.appendingPathComponent("again.spsi"), header: f.message.header, signer: TestParties.a)
        try writer.append(f.message.elements)
        try writer.commit()
        #expect(writer.fileDigest == sha256(try [UInt8](Data(contentsOf: f.dir.appendingPathComponent("again.spsi")))))
    }

    /// Each header field altered (and the file signed again by its sender, so that only the
    /// field is wrong), with the exact refusal.
    /// The refusals of each header field one by one, with their exact errors, are the committed
    /// corpus's (``MalformedCorpusTests``: bad magic, text-mode transfer, versions, suites,
    /// protocols, steps, modes, element sizes, identifier kinds, extension blocks, purpose, key id,
    /// parties, counts, elements). Here: the refusals that need the reader's expectations
    /// (session, count, limit) and the identifier flags of plain identifiers and phone numbers.
    @Test("Header refusals that depend on what the reader expects: session, count, peer-set limit; identifier flags")
    func headerRefusals() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let context = f.message.context
        let a = TestParties.a
        func edited(_ edit: (inout [UInt8]) -> Void) throws -> URL { try f.tampered(edit, resign: a) }
        #expect(throws: MessageFileError.identifierTypeMismatch(path: p, found: "plain identifiers with identifier flags 2",
                                                                expected: "plain identifiers")) { try f.read(edited { $0[17] = 2 }) }
        #expect(throws: MessageFileError.identifierTypeMismatch(path: p, found: "phone numbers with identifier flags 1",
                                                                expected: "plain identifiers")) { try f.read(edited { $0[16] = 1; $0[17] = 1 }) }
        var otherSession = context.sessionID.bytes
        otherSession[0] ^= 1
        #expect(throws: MessageFileError.sessionMismatch(path: p, found: otherSession.hexString, expected: context.sessionID.description)) {
            try f.read(edited { $0[52] ^= 1 }, context: context)
        }
        #expect(throws: MessageFileError.countMismatch(path: f.url.path, found: 12, expected: 13)) { try f.read(f.url, count: 13) }
        #expect(throws: MessageFileError.peerSetTooLarge(path: f.url.path, count: 12, limit: 11)) { try f.read(f.url, maximumCount: 11) }
    }

    @Test("A version 1 file is refused as such, whatever its length, with a clear instruction")
    func versionOne() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The version 1 example of the old Docs/file-format.md (a 184-byte kind-1 message).
        let url = dir.appendingPathComponent("v1.spsi")
        try Data(hex(Self.versionOneExampleHex)).write(to: url)
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("example"), outcome: .bothLearn).counterpart
        let error = MessageFileError.unsupportedVersion(path: url.path, found: 1, supported: 3)
        #expect(throws: error) { try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, configuration: config, sessionID: nil) }
        #expect(throws: error) { try MessageFileReader.inspect(url: url) }
        #expect(error.localizedDescription == "\(url.path): format version 1 is no longer read; re-run the exchange with this version (it writes and reads version 3)")
        // Even an empty version 1 message (120 bytes, shorter than any version 2 file).
        try Data(hex(Self.versionOneExampleHex).prefix(88) + [UInt8](repeating: 0, count: 32)).write(to: url)
        #expect(throws: error) { try MessageFileReader.inspect(url: url) }
    }

    /// Format version 2 hashed items under the purpose label alone: its values must never be
    /// compared with version 3's (they would silently give 0 matches), so the file is refused.
    @Test("A version 2 file (the old hashed context) is refused as such, never read into 0 matches")
    func versionTwo() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The version 2 example of the old Docs/file-format.md, from the identity of seed 01 to that of seed 02.
        let url = dir.appendingPathComponent("v2.spsi")
        try Data(hex(Self.versionTwoExampleHex)).write(to: url)
        let sender = try PartyIdentity(seed: [UInt8](repeating: 0x01, count: 32))
        let recipient = try PartyIdentity(seed: [UInt8](repeating: 0x02, count: 32))
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("example"), outcome: .bothLearn, identity: recipient,
                                            peer: sender.publicKey, identifierType: .phone)
        let error = MessageFileError.unsupportedVersion(path: url.path, found: 2, supported: 3)
        #expect(throws: error) { try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, configuration: config, sessionID: nil) }
        #expect(throws: error) { try MessageFileReader.inspect(url: url) }
        #expect(error.localizedDescription == "\(url.path): format version 2 is no longer read; re-run the exchange with this version (it writes and reads version 3)")
        let records = [ListRecord(identifier: try .phoneNumber("+8613800138000"), original: "+8613800138000", lineNumber: 1)]
        #expect(throws: error) {
            try MutualPSIFileExchange.respond(records: records, configuration: config, requestURL: url, stateURL: dir.appendingPathComponent("b.state"),
                                              responderSetURL: dir.appendingPathComponent("2a.spsi"),
                                              reblindedURL: dir.appendingPathComponent("2b.spsi"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["v2.spsi"])
    }

    static let versionTwoExampleHex = "535053490d0a1a0a00020101010100200100000050d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c000102030405060708090a0b0c0d0e0f000000000000000000000000000000008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940000000000000002841486c65ffae243ba869fd71bfc11af9776cc706a94b281a0f566097a56083dda927a1132b05db8283ce610a8cd76bd24a9f6f9e418cc79762cf9e059749e252eeca227385e991029e5738c7b3dfeaa470d811592e50e76c489ff1af59ed860830d786e23e8ae5a4c8d104289ffdbcda36af89756c4fb3eba2234fedcf26f9555a4133a1caecb9f85f7f3d7ecb88cffa9b9671b6a2130afb3a71c5e090e7d0a"

    static let versionOneExampleHex = "535053490d0a1a0a000101010101002050d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c000102030405060708090a0b0c0d0e0f000000000000000000000000000000000000000000000002841486c65ffae243ba869fd71bfc11af9776cc706a94b281a0f566097a56083dda927a1132b05db8283ce610a8cd76bd24a9f6f9e418cc79762cf9e059749e25a7b636519122692afd0f7684111ad8ab816038e8c5dc6e951f0f6680379f018b"

    @Test("A relay is refused: a third party's signature is untrusted, a message for another party is not for this one")
    func relay() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let outsider = TestParties.outsider
        // The outsider takes bank A's step 1, puts its own key as sender and signs it validly.
        let resigned = try f.tampered({ put(outsider.publicKey.bytes, at: 84, in: &$0) }, resign: outsider)
        #expect(try MessageFileReader.inspect(url: resigned).signatureValid)
        #expect(throws: MessageFileError.untrustedSender(path: resigned.path, sender: outsider.publicKey.fingerprint,
                                                         expected: TestParties.a.publicKey.fingerprint)) { try f.read(resigned) }
        // A's genuine step 1 for B, handed to a third bank that also trusts A: not addressed to it.
        let third = MutualPSIConfiguration(purpose: f.purpose, outcome: .bothLearn, identity: outsider, peer: TestParties.a.publicKey,
                                           identifierType: .plain)
        #expect(throws: MessageFileError.wrongRecipient(path: f.url.path, found: TestParties.b.publicKey.fingerprint,
                                                        expected: outsider.publicKey.fingerprint)) {
            try MutualPSIMessage.read(from: f.url, kind: .initiatorBlindedSet, configuration: third, sessionID: nil)
        }
        // A mutual message for "any reader" is refused: only published setups may be.
        let anyone = try f.tampered({ put([UInt8](repeating: 0, count: 32), at: 116, in: &$0) }, resign: TestParties.a)
        #expect(throws: MessageFileError.wrongRecipient(path: anyone.path, found: "any reader", expected: TestParties.b.publicKey.fingerprint)) {
            try f.read(anyone)
        }
    }

    @Test("A tampered header with its digest recomputed but no valid signature is refused before any element is read")
    func forgedHeader() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let sender = TestParties.a.publicKey.fingerprint
        // The session is adopted by the responder (no expectation), so only the signature can catch this.
        let forged = try f.tampered({ $0[60] ^= 0x01 })
        #expect(throws: MessageFileError.badSignature(path: forged.path, sender: sender)) { try f.read(forged) }
        #expect(throws: MessageFileError.badSignature(path: forged.path, sender: sender)) {
            try MessageFileReader(url: forged, expecting: MessageExpectation())
        }
        let inspection = try MessageFileReader.inspect(url: forged)
        #expect(!inspection.signatureValid && inspection.digestValid)
        // A sender field that is not a valid key: no signature verifies with it.
        let invalidKey = try f.tampered({ put([UInt8](repeating: 0, count: 31) + [1], at: 84, in: &$0) })
        #expect(try !MessageFileReader.inspect(url: invalidKey).signatureValid)
        // Elements altered after a valid signature: the digest catches them after the last element.
        let body = try f.tampered({ $0[200] ^= 0x01 }, redigest: false)
        #expect(throws: MessageFileError.digestMismatch(path: body.path)) { try f.read(body) }
    }

    @Test("An identifier type mismatch is refused, naming both types")
    func identifierTypes() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        #expect(throws: MessageFileError.identifierTypeMismatch(path: f.url.path, found: "plain identifiers", expected: "phone numbers")) {
            try f.read(f.url, identifierType: .phone)
        }
        #expect(throws: MessageFileError.identifierTypeMismatch(path: f.url.path, found: "plain identifiers",
                                                                expected: "plain identifiers, case-insensitive")) {
            try f.read(f.url, identifierType: IdentifierType(kind: .plain, caseInsensitive: true))
        }
        #expect(IdentifierType(kind: .phoneNumber, caseInsensitive: true) == .phone)
        #expect(IdentifierType(kind: .documentFingerprint).description == "document fingerprints")
    }

    @Test("Extension block: typed records round-trip, covered by the signature; malformed blocks are refused exactly")
    func extensionBlock() throws {
        let f = try MessageFixture(count: 2)
        defer { f.cleanUp() }
        var header = f.message.header
        try header.extensions.set([1, 2, 3], for: 9)
        try header.extensions.set([], for: 1)
        try header.extensions.set([7], for: 9)
        #expect(header.extensions.records.map(\.type) == [1, 9] && header.extensions[9] == [7] && header.extensions[2] == nil)
        #expect(header.byteCount == 156 + 3 + 4)
        let url = f.dir.appendingPathComponent("ext.spsi")
        let writer = try MessageFileWriter(url: url, header: header, signer: TestParties.a)
        try writer.append(f.message.elements)
        try writer.commit()
        let reader = try MessageFileReader(url: url, expecting: MessageExpectation(trustedSenders: [TestParties.a.publicKey]))
        #expect(reader.header == header)
        #expect(try f.read(url).elements == f.message.elements)
        #expect(throws: PSIError.inputTooLong(what: "extension block", length: 16_390, maximum: 16_384)) {
            try header.extensions.set([UInt8](repeating: 0, count: 16_380), for: 2)
        }
        header.extensions.removeValue(for: 9)
        #expect(header.extensions.records.map(\.type) == [1])

        /// The fixture's file with `block` as its extension block, signed by A.
        func withBlock(_ block: [UInt8]) throws -> URL {
            try f.tampered({ bytes in
                bytes.insert(contentsOf: block, at: 156)
                put([UInt8(block.count >> 8), UInt8(block.count & 0xff)], at: 18, in: &bytes)
            }, resign: TestParties.a)
        }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let cases: [([UInt8], ExtensionBlockProblem)] = [
            ([5, 0, 1, 0xaa, 3, 0, 0], .unsortedType(type: 3, offset: 4, previous: 5)),
            ([5, 0, 0, 5, 0, 0], .repeatedType(type: 5, offset: 3)),
            ([1, 0, 9, 0, 0], .valueOverrun(type: 1, offset: 0, length: 9, remaining: 2)),
            ([1, 0, 0, 2, 0], .truncatedRecord(offset: 3, remaining: 2)),
        ]
        for (block, problem) in cases {
            #expect(throws: MessageFileError.badExtensionBlock(path: p, problem: problem)) { try f.read(withBlock(block)) }
        }
        #expect(try f.read(withBlock([2, 0, 1, 0xbb, 3, 0, 0])).elements == f.message.elements)
        #expect(ExtensionBlockProblem.unsortedType(type: 3, offset: 4, previous: 5).description
            == "record type 3 at block offset 4 follows type 5; expected strictly ascending types")
    }

    /// (Counts one more or one less than the file holds, and 2^40 in a small file: the corpus.)
    @Test("Declared lengths that disagree with the file: a count whose length overflows, an extension block with no room, a trailing byte")
    func lengthRefusals() throws {
        let f = try MessageFixture()
        defer { f.cleanUp() }
        let p = f.dir.appendingPathComponent("t.spsi").path
        let good = 156 + 12 * 32 + 96
        // A count so large the length overflows.
        #expect(throws: MessageFileError.countTooLarge(path: p, count: UInt64.max, elementSize: 32, length: good)) {
            try f.read(f.tampered { for i in 148..<156 { $0[i] = 0xff } })
        }
        // An extension block the file has no room for.
        #expect(throws: MessageFileError.truncated(path: p, length: good, expected: good + 20)) { try f.read(f.tampered { $0[19] = 20 }) }
        #expect(throws: MessageFileError.trailingBytes(path: p, length: good + 1, expected: good)) { try f.read(f.tampered({ $0.append(0) }, redigest: false)) }
    }

    @Test("Truncation at every header offset and many body and trailer offsets is refused, never a crash")
    func truncationEverywhere() throws {
        let f = try MessageFixture(count: 4)
        defer { f.cleanUp() }
        let full = try f.bytes
        let p = f.dir.appendingPathComponent("t.spsi").path
        for length in Array(0..<156) + [156, 157, 200, 251, 252, 253, 284, 300, 311, 312, 379] {
            let url = try f.tampered({ $0 = Array(full[..<length]) }, redigest: false)
            #expect(throws: MessageFileError.truncated(path: p, length: length, expected: length < 156 ? 252 : full.count),
                    "length \(length)") { try f.read(url) }
        }
    }

    @Test("A flipped byte at any offset is refused: digest mismatch, bad signature, or the field's own error")
    func flippedBytes() throws {
        let f = try MessageFixture(count: 3)
        defer { f.cleanUp() }
        let full = try f.bytes
        let p = f.dir.appendingPathComponent("t.spsi").path
        let sender = TestParties.a.publicKey.fingerprint
        for offset in 156..<(full.count - 96) {
            let url = try f.tampered({ $0[offset] ^= 0x20 }, redigest: false)
            #expect(throws: MessageFileError.digestMismatch(path: p), "offset \(offset)") { try f.read(url) }
        }
        for offset in (full.count - 96)..<full.count {
            let url = try f.tampered({ $0[offset] ^= 0x20 }, redigest: false)
            #expect(throws: MessageFileError.badSignature(path: p, sender: sender), "offset \(offset)") { try f.read(url) }
        }
        for offset in 0..<156 {
            let url = try f.tampered({ $0[offset] ^= 0x01 }, redigest: false)
            #expect(throws: MessageFileError.self, "offset \(offset)") { try f.read(url, context: f.message.context) }
        }
    }

    // Invalid and repeated elements with their index: the corpus (identity, non-canonical, top-bit, duplicated element).

    @Test("Writing is atomic: nothing under the final name until commit, no leftovers on failure")
    func atomicWrites() throws {
        let f = try MessageFixture(count: 2)
        defer { f.cleanUp() }
        let target = f.dir.appendingPathComponent("out.spsi")
        let header = f.message.header
        do {
            let writer = try MessageFileWriter(url: target, header: header, signer: TestParties.a)
            try writer.append([f.message.elements[0]])
            #expect(!FileManager.default.fileExists(atPath: target.path))
        }  // dropped without commit
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["1.spsi"])
        let short = try MessageFileWriter(url: target, header: header, signer: TestParties.a)
        try short.append([f.message.elements[0]])
        #expect(throws: MessageFileError.writtenCountMismatch(path: target.path, written: 1, declared: 2)) { try short.commit() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["1.spsi"])
        // An existing file is replaced only on commit.
        try Data("old".utf8).write(to: target)
        let writer = try MessageFileWriter(url: target, header: header, signer: TestParties.a)
        try writer.append(f.message.elements)
        #expect(try Data(contentsOf: target) == Data("old".utf8))
        try writer.commit()
        #expect(try Data(contentsOf: target) == Data(contentsOf: f.url))
        #expect(try fileMode(target) == 0o644)
    }

    /// The example in Docs/file-format.md, regenerated from fixed inputs (Ed25519 signatures
    /// are deterministic).
    @Test("Docs/file-format.md example bytes")
    func documentedExample() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("example.spsi")
        let hasher = HashToGroup(domainSeparationTag: Array("file-format example".utf8))
        let elements = try ["one", "two"].map { try BlindedElement(rawRepresentation: hasher.element(for: Array($0.utf8)).rawRepresentation) }
        let sender = try PartyIdentity(seed: [UInt8](repeating: 0x01, count: 32))
        let recipient = try PartyIdentity(seed: [UInt8](repeating: 0x02, count: 32))
        let context = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn,
                                      purposeDigest: try PurposeLabel("example").digest,
                                      sessionID: try SessionID(bytes: Array(0..<16)), initiator: sender.publicKey,
                                      responder: recipient.publicKey, identifierType: .phone)
        try MutualPSIMessage(kind: .initiatorBlindedSet, context: context, elements: elements, signedBy: sender).write(to: url)
        let bytes = try [UInt8](Data(contentsOf: url))
        #expect(bytes.hexString == Self.exampleHex, "\(bytes.hexString)")
    }

    static let exampleHex = "535053490d0a1a0a00030101010100200100000050d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c000102030405060708090a0b0c0d0e0f000000000000000000000000000000008a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940000000000000002841486c65ffae243ba869fd71bfc11af9776cc706a94b281a0f566097a56083dda927a1132b05db8283ce610a8cd76bd24a9f6f9e418cc79762cf9e059749e25e727da4f583fcbca51df83f5bb9a9d722e5248eac0d97ebce5c53fe514e4fe562cef67b832d661cc077c4b49982697da403979609dd5e0ce1fd8ef01dedf50af8b34299adb6c97724f1b9faf4d05560f370f4c0b2fb7c18b7f857b2919098701"
}

@Suite("Messages as bytes and streams")
struct MessageStreamTests {
    static let purpose = try! PurposeLabel("bytes and streams")
    static var config: MutualPSIConfiguration { MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn) }

    /// Step 1 of a fresh exchange, and what B expects of it.
    static func step1() throws -> (MutualPSIMessage, MessageExpectation) {
        let a = try MutualPSIInitiator(items: plainItems((0..<300).map { "s\($0)" }), configuration: config)
        return (a.blindedSet, .mutual(.initiatorBlindedSet, configuration: config.counterpart, sessionID: nil))
    }

    /// Reads every chunk (of 7 elements) and returns the elements' bytes.
    static func drain(_ reader: MessageFileReader) throws -> [UInt8] {
        var all = [UInt8]()
        while let chunk = try reader.readChunk(maximumElements: 7) { all += chunk }
        return all
    }

    @Test("The bytes of a message are the bytes of its file, and round-trip through init(serializedBytes:)")
    func bytesAreTheFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (message, expectation) = try Self.step1()
        let url = dir.appendingPathComponent("1.spsi")
        try message.write(to: url)
        #expect([UInt8](try Data(contentsOf: url)) == message.serializedBytes)
        let rebuilt = try MutualPSIMessage(serializedBytes: message.serializedBytes)
        #expect(rebuilt == message && rebuilt.context == message.context && rebuilt.elements == message.elements)
        let fromFile = try Self.drain(MessageFileReader(url: url, expecting: expectation))
        let fromBytes = try Self.drain(MessageFileReader(serializedBytes: message.serializedBytes, expecting: expectation))
        #expect(fromFile == fromBytes && fromBytes.count == 300 * 32)
    }

    @Test("A stream (a pipe) is read in order with the file checks, and never past the message's end")
    func pipe() throws {
        let (message, expectation) = try Self.step1()
        let pipe = Pipe()
        // The message, then the next bytes on the connection, which the reader must leave.
        let next: [UInt8] = [1, 2, 3]
        let writer = Thread {
            try? pipe.fileHandleForWriting.write(contentsOf: Data(message.serializedBytes + next))
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        let reader = try MessageFileReader(fileHandle: pipe.fileHandleForReading, name: "connection", expecting: expectation)
        let elements = try Self.drain(reader)
        #expect(elements == Array(message.serializedBytes[reader.header.byteCount..<(reader.header.byteCount + 300 * 32)]))
        #expect(reader.fileDigest == sha256(message.serializedBytes))
        #expect([UInt8](try pipe.fileHandleForReading.readToEnd() ?? Data()) == next)
    }

    @Test("A stream that ends early, an altered byte and a forged signature are refused, naming the stream")
    func streamRefusals() throws {
        let (message, expectation) = try Self.step1()
        let bytes = message.serializedBytes
        func read(_ bytes: [UInt8]) throws {
            let pipe = Pipe()
            try pipe.fileHandleForWriting.write(contentsOf: Data(bytes))
            try pipe.fileHandleForWriting.close()
            _ = try Self.drain(MessageFileReader(fileHandle: pipe.fileHandleForReading, name: "connection", expecting: expectation))
        }
        let length = bytes.count
        #expect(throws: MessageFileError.truncated(path: "connection", length: length - 10, expected: length)) {
            try read(Array(bytes.dropLast(10)))
        }
        #expect(throws: MessageFileError.truncated(path: "connection", length: 200, expected: length)) {
            try read(Array(bytes.prefix(200)))
        }
        var altered = bytes
        altered[300] ^= 1
        #expect(throws: MessageFileError.digestMismatch(path: "connection")) { try read(altered) }
        // The digest recomputed: the signature no longer matches it.
        var forged = altered
        let trailer = length - MessageHeader.trailerByteCount
        forged.replaceSubrange(trailer..<(trailer + 32), with: sha256(Array(forged[..<trailer])))
        #expect(throws: MessageFileError.badSignature(path: "connection", sender: TestParties.a.publicKey.fingerprint)) { try read(forged) }
        // The same bytes in memory: refused the same way, the signature before any element.
        #expect(throws: MessageFileError.badSignature(path: "in memory", sender: TestParties.a.publicKey.fingerprint)) {
            _ = try MessageFileReader(serializedBytes: forged, name: "in memory", expecting: expectation)
        }
        #expect(throws: MessageFileError.truncated(path: "in memory", length: length - 1, expected: length)) {
            _ = try MessageFileReader(serializedBytes: Array(bytes.dropLast()), name: "in memory", expecting: expectation)
        }
    }

    @Test("A message written to a FileHandle is the message written to memory")
    func writeToHandle() throws {
        let (message, _) = try Self.step1()
        let header = message.header
        let pipe = Pipe()
        let writer = try MessageFileWriter(fileHandle: pipe.fileHandleForWriting, header: header, signer: TestParties.a)
        try message.elements.withUnsafeBytes { try writer.append(elements: $0) }
        try writer.commit()
        try pipe.fileHandleForWriting.close()
        #expect([UInt8](try pipe.fileHandleForReading.readToEnd() ?? Data()) == message.serializedBytes)
        #expect(writer.fileDigest == sha256(message.serializedBytes))
    }
}
