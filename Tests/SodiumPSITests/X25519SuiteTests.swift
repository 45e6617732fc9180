import Foundation
import Testing
@testable import SodiumPSI

@Suite("Suite x25519-SHA256")
struct X25519SuiteTests {
    @Test("Results equal Set intersection for every outcome and several sizes", arguments: MutualPSIOutcome.allCases, [
        (0, 5, 0), (1, 1, 1), (50, 40, 0), (300, 200, 120), (2_000, 2_500, 700),
    ])
    func intersections(outcome: MutualPSIOutcome, sizes: (Int, Int, Int)) throws {
        let (sizeA, sizeB, shared) = sizes
        let a = plainItems((0..<sizeA).map { "x\($0)" })
        let b = plainItems((sizeA - shared..<(sizeA - shared + sizeB)).map { "x\($0)" })
        let expected = Set(a).intersection(b)
        #expect(expected.count == shared)
        let (ra, rb, peerSize) = try runMutualPSI(a, b, outcome: outcome, suite: .x25519SHA256)
        #expect(peerSize == sizeA)
        switch outcome {
        case .bothLearn:
            #expect(sharedItems(ra) == expected)
            #expect(sharedItems(rb) == expected)
        case .initiatorLearns:
            #expect(sharedItems(ra) == expected)
            #expect(rb == nil)
        case .cardinalityOnly:
            #expect(ra == .cardinality(.init(count: shared, ownSetSize: sizeA, peerSetSize: sizeB)))
            #expect(rb == .cardinality(.init(count: shared, ownSetSize: sizeB, peerSetSize: sizeA)))
        }
    }

    /// Expected values computed independently with libsodium's C API by
    /// `scripts/kat/x25519_sha256_kat.c` (no code shared with the library).
    @Test("Known answers with fixed secrets")
    func knownAnswers() throws {
        let suite = MutualSuite(.x25519SHA256)
        let a = try suite.secret(from: (1...32).map { UInt8($0) })
        let b = try suite.secret(from: (0..<32).map { UInt8(0xa0 + $0) })
        let purpose = try PurposeLabel("kat: agent phone numbers")
        let items = try ["+8613800138000", "+8613912345678"].map { try Identifier.phoneNumber($0) }
        let aU = try suite.blind(items, purpose: purpose, secret: a, parallelism: .serial)
        let bU = try suite.blind(items, purpose: purpose, secret: b, parallelism: .serial)
        #expect(aU.map(\.rawRepresentation.hexString) == [
            "56a40b9a7796176b9125ccd9b73d89398f69859328bb30af252aa25a5694873a",
            "c637b12d75195ad1618b9a27e7ed2663bece95f258155321891d588a251c7376",
        ])
        #expect(bU.map(\.rawRepresentation.hexString) == [
            "9f82ef7def7efc88d8ce9b24247ad8499376bdcec837495a4884fdf851d62c70",
            "d91393a7480b002b1f514a90e3129c922306a8c136fa07e71413e3242fd23b2f",
        ])
        let baU = try suite.reblind(aU, secret: b, parallelism: .serial)
        let abU = try suite.reblind(bU, secret: a, parallelism: .serial)
        #expect(baU == abU)
        #expect(baU.map(\.rawRepresentation.hexString) == [
            "a6f00dcdb135eb39152224bfb510518e446eddbe6c7c710b3bfeeadd9393266b",
            "a8bfc2f9adb378aedde0edda2c1ba68399189055e665093b1c0a8e2a82d0624c",
        ])
    }

    @Test("A message of the other suite is refused, in memory and as a file")
    func mixedSuites() throws {
        let purpose = try PurposeLabel("mixed")
        let items = plainItems(["a", "b", "c"])
        let ristretto = try MutualPSIInitiator(items: items, configuration: MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn))
        var x25519 = try MutualPSIResponder(items: items, configuration:
            MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: .x25519SHA256).counterpart)
        #expect(throws: PSIError.suiteMismatch(expected: "x25519-SHA256", found: "ristretto255-SHA512")) {
            try x25519.respond(to: ristretto.blindedSet)
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("1.spsi")
        try ristretto.blindedSet.write(to: url)
        #expect(throws: MessageFileError.suiteMismatch(path: url.path, found: "ristretto255-SHA512", expected: "x25519-SHA256")) {
            try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .x25519SHA256, purpose: purpose,
                                      outcome: .bothLearn, sessionID: nil)
        }
    }

    @Test("All-zero, repeated, non-canonical and low-order values are refused, each with its own error")
    func badValues() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("bad values"), outcome: .bothLearn, suite: .x25519SHA256)
        let a = try MutualPSIInitiator(items: plainItems((0..<6).map { "v\($0)" }), configuration: config)
        func respond(replacing index: Int, with bytes: [UInt8]) throws {
            var elements = a.blindedSet.elements
            elements[index] = try BlindedElement(rawRepresentation: bytes)
            var b = try MutualPSIResponder(items: plainItems(["v1"]), configuration: config.counterpart)
            _ = try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: elements))
        }
        #expect(throws: PSIError.zeroValue(index: 2)) { try respond(replacing: 2, with: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: PSIError.duplicateElement(index: 4, firstIndex: 1)) { try respond(replacing: 4, with: a.blindedSet.elements[1].rawRepresentation) }
        // p = 2^255 − 19 itself, and a value with the top bit set: not canonical.
        let p = [0xed] + [UInt8](repeating: 0xff, count: 30) + [0x7f]
        #expect(throws: PSIError.invalidElementEncoding(index: 3)) { try respond(replacing: 3, with: p) }
        #expect(throws: PSIError.invalidElementEncoding(index: 0)) { try respond(replacing: 0, with: [UInt8](repeating: 0x11, count: 31) + [0x80]) }
        // u = 1 has order 4: every clamped secret maps it to zero.
        #expect(throws: PSIError.lowOrderElement(index: 5)) { try respond(replacing: 5, with: [1] + [UInt8](repeating: 0, count: 31)) }
        // p − 1 is canonical (the largest canonical value) and of low order (order 2).
        #expect(throws: PSIError.lowOrderElement(index: 1)) { try respond(replacing: 1, with: [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f]) }
    }

    @Test("State files keep the suite and the 32-byte x25519 secret")
    func stateRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("state"), outcome: .bothLearn, suite: .x25519SHA256)
        let items = plainItems((0..<40).map { "s\($0)" })
        let a = try MutualPSIInitiator(items: items, configuration: config)
        try a.save(to: dir.appendingPathComponent("a.state"))
        let restored = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: dir.appendingPathComponent("a.state"))
        #expect(restored.configuration.suite == .x25519SHA256)
        var b = try MutualPSIResponder(items: Array(items[20...]), configuration: config.counterpart)
        let reply = try b.respond(to: restored.blindedSet)
        let done = try restored.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(sharedItems(done.result) == Set(items[20...]))
    }
}
