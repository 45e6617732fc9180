import Foundation
import Testing
@testable import SodiumPSI

/// The committed corpus of malformed message files (`Resources/malformed/`), each with the
/// exact refusal it must produce. Run with `SODIUM_PSI_WRITE_MALFORMED_CORPUS=1` from the
/// package root to regenerate it (deterministic: fixed session, fixed elements).
@Suite("Malformed-message corpus")
struct MalformedCorpusTests {
    static let purpose = try! PurposeLabel("malformed corpus")
    static let session = try! SessionID(bytes: Array(100..<116))

    /// A valid step-1 message with `count` elements, from bank A to bank B, of phone numbers.
    static func validBytes(count: Int = 6) throws -> [UInt8] {
        let hasher = HashToGroup(domainSeparationTag: Array("malformed corpus elements".utf8))
        let elements = try (0..<count).map { try BlindedElement(rawRepresentation: hasher.element(for: [UInt8($0)]).rawRepresentation) }
        let message = MutualPSIMessage(kind: .initiatorBlindedSet, context: ExchangeContext(
            suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: purpose.digest, sessionID: session,
            identifierType: .phone), elements: elements)
        var bytes = message.header.encoded()
        for element in elements { bytes += element.rawRepresentation }
        return sign(bytes + [UInt8](repeating: 0, count: 96), by: TestParties.a)
    }

    /// The trailer recomputed and signed by the file's sender (see ``resigned(_:)``).
    static func redigest(_ bytes: [UInt8]) -> [UInt8] { resigned(bytes) }

    /// The trailer recomputed: the digest of everything before it, and (unless `by` is nil,
    /// when the old signature stays and no longer verifies) a signature of it.
    static func sign(_ bytes: [UInt8], by signer: PartyIdentity?) -> [UInt8] {
        var b = bytes
        let digest = sha256(Array(b.dropLast(96)))
        b.replaceSubrange((b.count - 96)..<(b.count - 64), with: digest)
        if let signer { b.replaceSubrange((b.count - 64)..., with: signer.signature(of: MessageHeader.signedBytes(digest: digest))) }
        return b
    }

    /// Every malformed file: name, bytes, and the expected error given the file's path.
    static func cases() throws -> [(name: String, bytes: [UInt8], error: (String) -> MessageFileError)] {
        let good = try validBytes()
        let length = good.count
        let fixed = MessageHeader.fixedByteCount
        var list: [(String, [UInt8], (String) -> MessageFileError)] = []
        /// `resign`: the trailer is recomputed and signed by A, so that only the edit is wrong.
        func edit(_ name: String, resign: Bool = true, _ change: (inout [UInt8]) -> Void, _ error: @escaping (String) -> MessageFileError) {
            var b = good
            change(&b)
            list.append((name, resign ? Self.sign(b, by: TestParties.a) : b, error))
        }
        for cut in [0, 1, 7, 8] {
            list.append(("truncated-header-\(cut)", Array(good.prefix(cut)), { .truncated(path: $0, length: cut, expected: 252) }))
        }
        for cut in [12, 40, 87, 155] {
            list.append(("truncated-header-\(cut)", Array(good.prefix(cut)), { .truncated(path: $0, length: cut, expected: 252) }))
        }
        for cut in [156, 200, 251, 252, 283, length - 96, length - 1] {
            list.append(("truncated-body-\(cut)", Array(good.prefix(cut)), { .truncated(path: $0, length: cut, expected: length) }))
        }
        edit("bad-magic", { $0[1] = 0x51 }, { .badMagic(path: $0) })
        edit("text-mode-transfer", { $0.remove(at: 4) }, { .badMagic(path: $0) })
        edit("version-1", { $0[9] = 1 }, { .unsupportedVersion(path: $0, found: 1, supported: 2) })
        edit("version-3", { $0[9] = 3 }, { .unsupportedVersion(path: $0, found: 3, supported: 2) })
        edit("suite-unknown", { $0[10] = 0xee }, { .suiteMismatch(path: $0, found: "unknown suite 238", expected: "ristretto255-SHA512") })
        edit("suite-x25519", { $0[10] = 2 }, { .suiteMismatch(path: $0, found: PSISuite.describeUnknown(2), expected: "ristretto255-SHA512") })
        edit("protocol-unbalanced", { $0[11] = 2 }, { .protocolMismatch(path: $0, found: "unbalanced", expected: "mutual") })
        edit("protocol-unknown", { $0[11] = 9 }, { .protocolMismatch(path: $0, found: "unknown protocol 9", expected: "mutual") })
        edit("kind-step-3", { $0[12] = 3 }, {
            .wrongStep(path: $0, found: "initiator set re-blinded by the responder", expected: "initiator blinded set") })
        edit("kind-unknown", { $0[12] = 0x7f }, { .wrongStep(path: $0, found: "unknown step 127", expected: "initiator blinded set") })
        edit("mode-cardinality", { $0[13] = 3 }, { .modeMismatch(path: $0, found: "cardinality-only", expected: "both-learn") })
        edit("element-size-16", { $0[15] = 16 }, { .elementSizeMismatch(path: $0, found: 16, expected: 32) })
        edit("element-size-0", { $0[15] = 0 }, { .elementSizeMismatch(path: $0, found: 0, expected: 32) })
        edit("identifier-kind-plain", { $0[16] = 3 }, {
            .identifierTypeMismatch(path: $0, found: "plain identifiers", expected: "phone numbers") })
        edit("identifier-kind-unknown", { $0[16] = 9 }, {
            .identifierTypeMismatch(path: $0, found: "unknown identifier kind 9 with identifier flags 0", expected: "phone numbers") })
        edit("identifier-flags-unknown", { $0[17] = 0x80 }, {
            .identifierTypeMismatch(path: $0, found: "phone numbers with identifier flags 128", expected: "phone numbers") })
        edit("extension-block-too-long", { $0[18] = 0x10; $0[19] = 0x01 }, {
            .badExtensionBlock(path: $0, problem: .tooLong(length: 4097)) })
        edit("extension-block-unsorted", { b in
            b.insert(contentsOf: [4, 0, 0, 2, 0, 0], at: fixed)
            b[19] = 6
        }, { .badExtensionBlock(path: $0, problem: .unsortedType(type: 2, offset: 3, previous: 4)) })
        edit("extension-block-repeated", { b in
            b.insert(contentsOf: [4, 0, 0, 4, 0, 0], at: fixed)
            b[19] = 6
        }, { .badExtensionBlock(path: $0, problem: .repeatedType(type: 4, offset: 3)) })
        edit("extension-block-overrun", { b in
            b.insert(contentsOf: [4, 0, 5, 1, 2], at: fixed)
            b[19] = 5
        }, { .badExtensionBlock(path: $0, problem: .valueOverrun(type: 4, offset: 0, length: 5, remaining: 2)) })
        edit("purpose-other", { $0[24] ^= 0x01 }, { path in
            var other = purpose.digest
            other[4] ^= 0x01
            return .purposeMismatch(path: path, found: other.hexString, expected: purpose.digest.hexString)
        })
        edit("key-id-set", { $0[83] = 0x42 }, {
            .keyMismatch(path: $0, found: String(repeating: "00", count: 15) + "42", expected: String(repeating: "00", count: 16)) })
        let outsider = TestParties.outsider
        list.append(("sender-outsider", Self.sign({ var b = good; put(outsider.publicKey.bytes, at: 84, in: &b); return b }(), by: outsider), {
            .untrustedSender(path: $0, sender: outsider.publicKey.fingerprint, expected: TestParties.a.publicKey.fingerprint) }))
        edit("recipient-other", { put(outsider.publicKey.bytes, at: 116, in: &$0) }, {
            .wrongRecipient(path: $0, found: outsider.publicKey.fingerprint, expected: TestParties.b.publicKey.fingerprint) })
        edit("recipient-any-reader", { put([UInt8](repeating: 0, count: 32), at: 116, in: &$0) }, {
            .wrongRecipient(path: $0, found: "any reader", expected: TestParties.b.publicKey.fingerprint) })
        edit("count-larger-than-file", { $0[155] = 7 }, { .truncated(path: $0, length: length, expected: length + 32) })
        edit("count-smaller-than-file", { $0[155] = 5 }, { .trailingBytes(path: $0, length: length, expected: length - 32) })
        edit("count-huge", { $0[148] = 0x40; $0[155] = 0 }, { .countTooLarge(path: $0, count: 1 << 62, elementSize: 32, length: length) })
        edit("count-2-to-40", { $0[150] = 1; $0[155] = 0 }, { .truncated(path: $0, length: length, expected: 156 + (1 << 40) * 32 + 96) })
        let sender = TestParties.a.publicKey.fingerprint
        list.append(("session-altered-digest-recomputed", Self.sign({ var b = good; b[60] ^= 0x10; return b }(), by: nil), {
            .badSignature(path: $0, sender: sender) }))
        // The stored digest is still the signed one: the content no longer matches it.
        edit("flipped-session-byte", resign: false, { $0[60] ^= 0x10 }, { .digestMismatch(path: $0) })
        edit("flipped-digest-byte", resign: false, { $0[length - 70] ^= 0x80 }, { .badSignature(path: $0, sender: sender) })
        edit("flipped-signature-byte", resign: false, { $0[length - 5] ^= 0x80 }, { .badSignature(path: $0, sender: sender) })
        edit("flipped-body-byte", resign: false, { $0[fixed + 70] ^= 0x04 }, { .digestMismatch(path: $0) })
        edit("identity-element", { for i in 0..<32 { $0[fixed + 2 * 32 + i] = 0 } }, {
            .invalidElement(path: $0, index: 2, reason: PSIError.identityElement(index: 2).localizedDescription) })
        edit("non-canonical-element", { for i in 0..<32 { $0[fixed + 4 * 32 + i] = i == 0 ? 1 : 0 } }, {
            .invalidElement(path: $0, index: 4, reason: PSIError.invalidElementEncoding(index: 4).localizedDescription) })
        edit("top-bit-element", { $0[fixed + 32 + 31] |= 0x80 }, {
            .invalidElement(path: $0, index: 1, reason: PSIError.invalidElementEncoding(index: 1).localizedDescription) })
        edit("duplicated-element", { for i in 0..<32 { $0[fixed + 5 * 32 + i] = $0[fixed + 3 * 32 + i] } }, {
            .duplicateElement(path: $0, index: 5, firstIndex: 3) })
        return list
    }

    static var corpusFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/malformed")
    }

    @Test("Every committed malformed file is refused with its exact error, and nothing is written")
    func corpus() throws {
        let cases = try Self.cases()
        if ProcessInfo.processInfo.environment["SODIUM_PSI_WRITE_MALFORMED_CORPUS"] != nil {
            try? FileManager.default.removeItem(at: Self.corpusFolder)
            try FileManager.default.createDirectory(at: Self.corpusFolder, withIntermediateDirectories: true)
            for c in cases { try Data(c.bytes).write(to: Self.corpusFolder.appendingPathComponent(c.name + ".spsi")) }
        }
        let folder = try #require(Bundle.module.url(forResource: "malformed", withExtension: nil, subdirectory: "Resources"))
        let committed = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".spsi") }.sorted()
        #expect(committed == cases.map { $0.name + ".spsi" }.sorted())
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let records = try ["13800138000", "13912345678"].enumerated().map {
            ListRecord(identifier: try Identifier.phoneNumber($1), original: $1, lineNumber: $0 + 1)
        }
        for c in cases {
            let url = folder.appendingPathComponent(c.name + ".spsi")
            #expect(try [UInt8](Data(contentsOf: url)) == c.bytes, "\(c.name) differs from its generator")
            #expect(throws: c.error(url.path), "\(c.name)") {
                try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .ristretto255SHA512,
                                          purpose: Self.purpose, outcome: .bothLearn, sessionID: nil, identifierType: .phone)
            }
            // The responder's whole (streaming) step refuses it with the same error and writes nothing.
            #expect(throws: c.error(url.path), "\(c.name)") {
                try MutualPSIFileExchange.respond(
                    records: records,
                    configuration: MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn, identifierType: .phone).counterpart,
                    requestURL: url, stateURL: work.appendingPathComponent("b.state"),
                    responderSetURL: work.appendingPathComponent("2a.spsi"), reblindedURL: work.appendingPathComponent("2b.spsi"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).isEmpty, "\(c.name) left files behind")
        }
        // The valid file the corpus is made from is accepted.
        let valid = work.appendingPathComponent("valid.spsi")
        try Data(try Self.validBytes()).write(to: valid)
        #expect(try MutualPSIMessage.read(from: valid, kind: .initiatorBlindedSet, suite: .ristretto255SHA512,
                                          purpose: Self.purpose, outcome: .bothLearn, sessionID: nil,
                                          identifierType: .phone).elements.count == 6)
        try FileManager.default.removeItem(at: valid)
    }
}
