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

    /// A valid step-1 message with `count` elements.
    static func validBytes(count: Int = 6) throws -> [UInt8] {
        let hasher = HashToGroup(domainSeparationTag: Array("malformed corpus elements".utf8))
        let elements = try (0..<count).map { try BlindedElement(rawRepresentation: hasher.element(for: [UInt8($0)]).rawRepresentation) }
        let message = MutualPSIMessage(kind: .initiatorBlindedSet, context: ExchangeContext(
            suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: purpose.digest, sessionID: session), elements: elements)
        var bytes = message.fileHeader.encoded()
        for element in elements { bytes += element.rawRepresentation }
        return bytes + sha256(bytes)
    }

    static func redigest(_ bytes: [UInt8]) -> [UInt8] {
        let body = Array(bytes.dropLast(32))
        return body + sha256(body)
    }

    /// Every malformed file: name, bytes, and the expected error given the file's path.
    static func cases() throws -> [(name: String, bytes: [UInt8], error: (String) -> MessageFileError)] {
        let good = try validBytes()
        let length = good.count
        var list: [(String, [UInt8], (String) -> MessageFileError)] = []
        func edit(_ name: String, redigest: Bool = true, _ change: (inout [UInt8]) -> Void, _ error: @escaping (String) -> MessageFileError) {
            var b = good
            change(&b)
            list.append((name, redigest ? Self.redigest(b) : b, error))
        }
        for cut in [0, 1, 7, 8, 12, 40, 87] {
            list.append(("truncated-header-\(cut)", Array(good.prefix(cut)),
                         { .truncated(path: $0, length: cut, expected: 120) }))
        }
        for cut in [88, 100, 119, 120, 183, length - 32, length - 1] {
            list.append(("truncated-body-\(cut)", Array(good.prefix(cut)),
                         { .truncated(path: $0, length: cut, expected: length) }))
        }
        edit("bad-magic", { $0[1] = 0x51 }, { .badMagic(path: $0) })
        edit("text-mode-transfer", { $0.remove(at: 4) }, { .badMagic(path: $0) })
        edit("version-2", { $0[9] = 2 }, { .unsupportedVersion(path: $0, found: 2, supported: 1) })
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
        edit("purpose-other", { $0[20] ^= 0x01 }, { path in
            var other = purpose.digest
            other[4] ^= 0x01
            return .purposeMismatch(path: path, found: other.hexString, expected: purpose.digest.hexString)
        })
        edit("key-id-set", { $0[79] = 0x42 }, {
            .keyMismatch(path: $0, found: String(repeating: "00", count: 15) + "42", expected: String(repeating: "00", count: 16)) })
        edit("count-larger-than-file", { $0[87] = 7 }, { .truncated(path: $0, length: length, expected: length + 32) })
        edit("count-smaller-than-file", { $0[87] = 5 }, { .trailingBytes(path: $0, length: length, expected: length - 32) })
        edit("count-huge", { $0[80] = 0x40; $0[87] = 0 }, { .countTooLarge(path: $0, count: 1 << 62, elementSize: 32, length: length) })
        edit("count-2-to-40", { $0[82] = 1; $0[87] = 0 }, { .truncated(path: $0, length: length, expected: 88 + (1 << 40) * 32 + 32) })
        edit("flipped-body-byte", redigest: false, { $0[88 + 70] ^= 0x04 }, { .digestMismatch(path: $0) })
        edit("flipped-digest-byte", redigest: false, { $0[length - 5] ^= 0x80 }, { .digestMismatch(path: $0) })
        edit("flipped-session-byte", redigest: false, { $0[50] ^= 0x10 }, { .digestMismatch(path: $0) })
        edit("identity-element", { for i in 0..<32 { $0[88 + 2 * 32 + i] = 0 } }, {
            .invalidElement(path: $0, index: 2, reason: PSIError.identityElement(index: 2).localizedDescription) })
        edit("non-canonical-element", { for i in 0..<32 { $0[88 + 4 * 32 + i] = i == 0 ? 1 : 0 } }, {
            .invalidElement(path: $0, index: 4, reason: PSIError.invalidElementEncoding(index: 4).localizedDescription) })
        edit("top-bit-element", { $0[88 + 32 + 31] |= 0x80 }, {
            .invalidElement(path: $0, index: 1, reason: PSIError.invalidElementEncoding(index: 1).localizedDescription) })
        edit("duplicated-element", { for i in 0..<32 { $0[88 + 5 * 32 + i] = $0[88 + 3 * 32 + i] } }, {
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
                                          purposeDigest: Self.purpose.digest, outcome: .bothLearn, sessionID: nil)
            }
            // The responder's whole (streaming) step refuses it with the same error and writes nothing.
            #expect(throws: c.error(url.path), "\(c.name)") {
                try MutualPSIFileExchange.respond(
                    records: records, configuration: MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn),
                    requestURL: url, stateURL: work.appendingPathComponent("b.state"),
                    responderSetURL: work.appendingPathComponent("2a.spsi"), reblindedURL: work.appendingPathComponent("2b.spsi"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).isEmpty, "\(c.name) left files behind")
        }
        // The valid file the corpus is made from is accepted.
        let valid = work.appendingPathComponent("valid.spsi")
        try Data(try Self.validBytes()).write(to: valid)
        #expect(try MutualPSIMessage.read(from: valid, kind: .initiatorBlindedSet, suite: .ristretto255SHA512,
                                          purposeDigest: Self.purpose.digest, outcome: .bothLearn, sessionID: nil).elements.count == 6)
        try FileManager.default.removeItem(at: valid)
    }
}
