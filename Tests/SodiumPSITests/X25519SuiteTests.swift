import Foundation
import Testing
import CSodium
@testable import SodiumPSI

@Suite("Suite x25519-ELL2-SHA512")
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
        let (ra, rb, peerSize) = try runMutualPSI(a, b, outcome: outcome, suite: .x25519ELL2SHA512)
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
    /// `scripts/kat/x25519_ell2_sha512_kat.c` (no code shared with the library), run with the
    /// exchange's hashed-message prefix: `/tmp/x25519_kat 00186b61…` (the prefix printed below).
    @Test("Known answers with fixed secrets")
    func knownAnswers() throws {
        let suite = MutualSuite(.x25519ELL2SHA512)
        let a = try suite.secret(from: (1...32).map { UInt8($0) })
        let b = try suite.secret(from: (0..<32).map { UInt8(0xa0 + $0) })
        let purpose = try PurposeLabel("kat: agent phone numbers")
        let items = try ["+8613800138000", "+8613912345678"].map { try Identifier.phoneNumber($0) }
        let aU = try suite.blind(items, purpose: purpose, secret: a, parallelism: .serial)
        let bU = try suite.blind(items, purpose: purpose, secret: b, parallelism: .serial)
        #expect(aU.map(\.rawRepresentation.hexString) == [
            "86085320d6663d83d20a2c8c044b908f4d81e69c2000aaea898033396ff9f728",
            "cefc8daaa44ff814097ba012a0c8966b44e7b399b9361ed47dad0bb5b8ff5805",
        ])
        #expect(bU.map(\.rawRepresentation.hexString) == [
            "0c2b4443283a50aa60fddda6ee578582b36f9e851ee5c1bc96e406acbdc72666",
            "3834e17c0558b2e96c6c2fd1d613983aa38c0c5b29320412d12f193892ba2210",
        ])
        let baU = try suite.reblind(aU, secret: b, parallelism: .serial)
        let abU = try suite.reblind(bU, secret: a, parallelism: .serial)
        #expect(baU == abU)
        #expect(baU.map(\.rawRepresentation.hexString) == [
            "d82b973ac2b3eebde885d4db3c2af78e4dd43aecb1f6af83d3bf868c0b338d00",
            "1ba7bc4a53f0e794365cf1e3ed6dd6be35b5fe2861a45df765d5c5c76e10f332",
        ])
    }

    /// Issue 13 finding 3: the retired map put about half of all items on the twist, and the
    /// twist survives every multiplication, so each blinded value told one bit of its item.
    /// Every value of this suite must be a point of the curve's prime-order subgroup.
    @Test("Every blinded and re-blinded value is on the curve's prime-order subgroup, never the twist")
    func noTwistValues() throws {
        let suite = MutualSuite(.x25519ELL2SHA512)
        let secret = suite.newSecret()
        let items = plainItems((0..<200).map { "twist\($0)" })
        let blinded = try suite.blind(items, purpose: try PurposeLabel("twist"), secret: secret, parallelism: .serial)
        let reblinded = try suite.reblind(blinded, secret: suite.newSecret(), parallelism: .serial)
        let check = PrimeOrderSubgroupCheck()
        #expect(blinded.allSatisfy { check.contains($0) })
        #expect(reblinded.allSatisfy { check.contains($0) })
        // The check itself tells the two apart: u = 2 is on the twist (2³ + 486662·2² + 2 is
        // not a square mod p), the base point u = 9 is in the prime-order subgroup.
        #expect(!check.contains(try BlindedElement(rawRepresentation: [2] + [UInt8](repeating: 0, count: 31))))
        #expect(check.contains(try BlindedElement(rawRepresentation: [9] + [UInt8](repeating: 0, count: 31))))
    }

    @Test("A message of the retired suite x25519-SHA256 is refused, naming it and why")
    func retiredSuite() throws {
        let a = try MutualPSIInitiator(items: plainItems(["a", "b"]), configuration:
            MutualPSIConfiguration(purpose: try PurposeLabel("retired"), outcome: .bothLearn, suite: .x25519ELL2SHA512))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("1.spsi")
        try a.blindedSet.write(to: url)
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[10] = 2
        try Data(bytes).write(to: url)
        #expect(throws: MessageFileError.suiteMismatch(path: url.path, found: PSISuite.describeUnknown(2),
                                                      expected: "x25519-ELL2-SHA512")) {
            try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .x25519ELL2SHA512,
                                      purposeDigest: a.configuration.purpose.digest, outcome: .bothLearn, sessionID: nil)
        }
        #expect(PSISuite.describeUnknown(2).contains("x25519-SHA256"))
        #expect(PSISuite.describeUnknown(2).contains("leaked"))
        #expect(PSISuite(rawValue: 2) == nil && PSISuite(name: "x25519-sha256") == nil)
    }

    @Test("A message of the other suite is refused, in memory and as a file")
    func mixedSuites() throws {
        let purpose = try PurposeLabel("mixed")
        let items = plainItems(["a", "b", "c"])
        let ristretto = try MutualPSIInitiator(items: items, configuration: MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn))
        var x25519 = try MutualPSIResponder(items: items, configuration:
            MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: .x25519ELL2SHA512))
        #expect(throws: PSIError.suiteMismatch(expected: "x25519-ELL2-SHA512", found: "ristretto255-SHA512")) {
            try x25519.respond(to: ristretto.blindedSet)
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("1.spsi")
        try ristretto.blindedSet.write(to: url)
        #expect(throws: MessageFileError.suiteMismatch(path: url.path, found: "ristretto255-SHA512", expected: "x25519-ELL2-SHA512")) {
            try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .x25519ELL2SHA512, purposeDigest: purpose.digest,
                                      outcome: .bothLearn, sessionID: nil)
        }
    }

    @Test("All-zero, repeated, non-canonical and low-order values are refused, each with its own error")
    func badValues() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("bad values"), outcome: .bothLearn, suite: .x25519ELL2SHA512)
        let a = try MutualPSIInitiator(items: plainItems((0..<6).map { "v\($0)" }), configuration: config)
        func respond(replacing index: Int, with bytes: [UInt8]) throws {
            var elements = a.blindedSet.elements
            elements[index] = try BlindedElement(rawRepresentation: bytes)
            var b = try MutualPSIResponder(items: plainItems(["v1"]), configuration: config)
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
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("state"), outcome: .bothLearn, suite: .x25519ELL2SHA512)
        let items = plainItems((0..<40).map { "s\($0)" })
        let a = try MutualPSIInitiator(items: items, configuration: config)
        try a.save(to: dir.appendingPathComponent("a.state"))
        let restored = try MutualPSIInitiator(restoringFrom: dir.appendingPathComponent("a.state"))
        #expect(restored.configuration.suite == .x25519ELL2SHA512)
        var b = try MutualPSIResponder(items: Array(items[20...]), configuration: config)
        let reply = try b.respond(to: restored.blindedSet)
        let done = try restored.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(sharedItems(done.result) == Set(items[20...]))
    }
}

/// An exact test of membership in the prime-order subgroup of Curve25519 from X25519 calls only
/// (no field arithmetic): for clamped scalars c₁, c₂ and c₃ ≡ c₁·c₂ (mod ℓ), also clamped,
/// `X25519(c₁, X25519(c₂, u)) = X25519(c₃, u)` holds for every u of the subgroup of order ℓ;
/// for a twist point it holds only if c₁·c₂ ≡ c₃ modulo the twist's large prime order as well,
/// which fixed random scalars make negligible. Three ladders a value: for tests, not the hot path.
struct PrimeOrderSubgroupCheck {
    let c1: [UInt8], c2: [UInt8], c3: [UInt8]

    init() {
        func clamped() -> [UInt8] {
            var c = [UInt8](repeating: 0, count: 32)
            randombytes_buf(&c, 32)
            c[0] &= 248; c[31] &= 127; c[31] |= 64
            return c
        }
        var eightInverse = [UInt8](repeating: 0, count: 32)
        _ = crypto_core_ed25519_scalar_invert(&eightInverse, [8] + [UInt8](repeating: 0, count: 31))
        while true {
            let a = clamped(), b = clamped()
            var product = [UInt8](repeating: 0, count: 32), m = [UInt8](repeating: 0, count: 32)
            crypto_core_ed25519_scalar_mul(&product, a, b)          // a·b mod ℓ (inputs reduced first)
            crypto_core_ed25519_scalar_mul(&m, product, eightInverse)
            // c₃ = 8·m is clamped exactly when 2^251 ≤ m < 2^252.
            guard m[31] & 0xf0 == 0, m[31] & 0x08 != 0 else { continue }
            var c = [UInt8](repeating: 0, count: 32)
            var carry: UInt8 = 0
            for i in 0..<32 { c[i] = m[i] << 3 | carry; carry = m[i] >> 5 }
            (c1, c2, c3) = (a, b, c)
            return
        }
    }

    func contains(_ element: BlindedElement) -> Bool {
        let u = element.rawRepresentation
        var inner = [UInt8](repeating: 0, count: 32), left = [UInt8](repeating: 0, count: 32), right = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_curve25519(&inner, c2, u) == 0, crypto_scalarmult_curve25519(&left, c1, inner) == 0,
              crypto_scalarmult_curve25519(&right, c3, u) == 0 else { return false }
        return left == right
    }
}
