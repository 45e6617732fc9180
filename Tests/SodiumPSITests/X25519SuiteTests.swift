import CSodium
import Foundation
import Testing
@testable import SodiumPSI

/// Whether `u` is the u-coordinate of a point of Curve25519's prime-order subgroup, decided
/// independently of the library's check (other scalars, two ladders): X25519(k, X25519(2^254, u))
/// with k ≡ −2^-254 (mod ℓ), both multiples of 8 that clamping leaves alone, gives u(−P) = u(P)
/// exactly for P of order ℓ; a small-order component or a twist point changes it.
/// k = 0x58924e43…6ad8 computed with Python integers (CRT of −2^-254 mod ℓ and 0 mod 8).
func inPrimeOrderSubgroup(_ element: BlindedElement) -> Bool {
    var j = [UInt8](repeating: 0, count: 32)
    j[31] = 0x40
    let k = hex("d86a32f241e6f7a27f11bfba4ab520c7052517c0f12ac67af2b90564434e9258")
    var once = [UInt8](repeating: 0, count: 32), twice = [UInt8](repeating: 0, count: 32)
    let u = element.rawRepresentation
    guard crypto_scalarmult_curve25519(&once, j, u) == 0, crypto_scalarmult_curve25519(&twice, k, once) == 0 else { return false }
    return twice == u
}

@Suite("Suite x25519-ELL2-SHA512")
struct X25519SuiteTests {
    @Test("Results equal Set intersection for every outcome and several sizes", arguments: MutualPSIOutcome.allCases, [
        (0, 5, 0), (1, 1, 1), (50, 40, 0), (300, 200, 120), (500, 600, 200),
    ])
    func intersections(outcome: MutualPSIOutcome, sizes: (Int, Int, Int)) throws {
        let (sizeA, sizeB, shared) = sizes
        let a = plainItems((0..<sizeA).map { "x\($0)" })
        let b = plainItems((sizeA - shared..<(sizeA - shared + sizeB)).map { "x\($0)" })
        let expected = Set(a).intersection(b)
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

    /// RFC 9380 Appendix J.4.2 (`curve25519_XMD:SHA-512_ELL2_NU_`): P.x for each message,
    /// big-endian as the RFC prints it. The suite's map is this one under its own DST.
    @Test("The item-to-point map reproduces RFC 9380's curve25519_XMD:SHA-512_ELL2_NU_ vectors")
    func rfc9380Vectors() throws {
        let vectors = [
            ("", "1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08"),
            ("abc", "7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026"),
            ("abcdef0123456789", "31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52"),
            ("q128_" + String(repeating: "q", count: 128), "027877759d155b1997d0d84683a313eb78bdb493271d935b622900459d52ceaa"),
            ("a512_" + String(repeating: "a", count: 512), "5fd892c0958d1a75f54c3182a18d286efab784e774d1e017ba2fb252998b5dc1"),
        ]
        let hasher = HashToGroup(domainSeparationTag: Array("QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_".utf8))
        for (message, px) in vectors {
            var u = [UInt8](repeating: 0, count: 32)
            let mapped = Array(message.utf8).withUnsafeBytes { hasher.curve25519U(for: $0, into: &u) }
            #expect(mapped)
            #expect(u.reversed().hexString == px, "message \(message.prefix(16))")
        }
    }

    /// Expected values computed independently with libsodium's C API by
    /// `scripts/kat/x25519_ell2_sha512_kat.c` (no code shared with the library; it builds the
    /// hashed context from its fields, reproduces RFC 9380 J.4.2 and proves every value a
    /// prime-order point by a second route):
    ///
    ///     cc -O2 -o /tmp/x25519_kat scripts/kat/x25519_ell2_sha512_kat.c -lsodium
    ///     /tmp/x25519_kat "kat: agent phone numbers" 000102030405060708090a0b0c0d0e0f \
    ///         a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 \
    ///         b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 1 0 \
    ///         012b38363133383030313338303030 012b38363133393132333435363738
    ///
    /// The arguments are the purpose label, the session, the Ed25519 seeds of the initiator
    /// (`TestParties.a`) and the responder (`TestParties.b`), the identifier kind and flags
    /// (phone numbers) and the two item encodings; when the hashed context changes, run it
    /// again and paste the output here.
    @Test("Known answers with fixed secrets")
    func knownAnswers() throws {
        let suite = MutualSuite(.x25519ELL2SHA512)
        let a = try suite.secret(from: (1...32).map { UInt8($0) })
        let b = try suite.secret(from: (0..<32).map { UInt8(0xa0 + $0) })
        let purpose = try PurposeLabel("kat: agent phone numbers")
        let items = try ["+8613800138000", "+8613912345678"].map { try Identifier.phoneNumber($0) }
        let session = try SessionID(bytes: Array(0..<16))
        let context = ExchangeContext(suite: .x25519ELL2SHA512, outcome: .bothLearn, purposeDigest: purpose.digest,
                                      sessionID: session, identifierType: .phone)
        #expect(HashedContext(mutual: context).bytes.hexString == "0018536f6469756d5053492d6d757475616c2d636f6e7465787400010100010300207ab932b827fc1e85b1a2de6a004f02e5bd08b61f97ef0d7d29af08f38d7c98f00020bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5002055154f42065ea5a1bea05463826be2684eb92df92c100027aabaae57ca5542070010000102030405060708090a0b0c0d0e0f00020100")
        #expect(items.map { var e = [UInt8](); $0.writePSIEncoding(into: &e); return e.hexString }
                == ["012b38363133383030313338303030", "012b38363133393132333435363738"])
        let hasher = suite.hasher(for: context)
        var mapped = [String]()
        for item in items {
            var u = [UInt8](repeating: 0, count: 32)
            #expect(item.psiEncoding.withUnsafeBytes { hasher.curve25519U(for: $0, into: &u) })
            mapped.append(u.hexString)
        }
        #expect(mapped == ["118b19187f8f33a5903a4ec024131e27c4e6caa5adae50bb662fb8a96365e524",
              "475b708ab3b2adbefb520083a7abc4ce7fc908a6bfa170b756e6b97c8fc59a49"])
        let aU = try suite.blind(items, context: context, secret: a, parallelism: .serial)
        let bU = try suite.blind(items, context: context, secret: b, parallelism: .serial)
        #expect(aU.map(\.rawRepresentation.hexString) == [
            "569fde72c9099f4ae21e0a732e009298fab17bcbb6607b44a552a18f432ed34d",
            "d762f99c9c5979b7f350779a8244ca7d539bbb661c6c84593c448a540c22ee30",
        ])
        #expect(bU.map(\.rawRepresentation.hexString) == [
            "2abb8c3b4ab335894af69cafdc56549c779235f9611e751a3c712424bbc9362c",
            "9f84e456e114dd63fe744ea80a7df5f397910341df9227767314e831d66d0c7d",
        ])
        let baU = try suite.reblind(aU, secret: b, parallelism: .serial)
        let abU = try suite.reblind(bU, secret: a, parallelism: .serial)
        #expect(baU == abU)
        #expect(baU.map(\.rawRepresentation.hexString) == [
            "c85e603dd9fa14d1c73f36c31adaad0d79b1d533008dafb86faef4c349b1e464",
            "265788ff11e4b83858cfbee3c59dbb26c2a1050eeab4b919e68c985e9b426b30",
        ])
    }

    /// The finding this suite fixes: with SHA-256 as the map about half of all blinded values
    /// lay on the twist, so each revealed a bit of its item.
    @Test("Every blinded and re-blinded value lies in the prime-order subgroup")
    func honestValuesInSubgroup() throws {
        let suite = MutualSuite(.x25519ELL2SHA512)
        let purpose = try PurposeLabel("subgroup")
        let items = plainItems((0..<400).map { "s\($0)" })
        let blinded = try suite.blind(items, purpose: purpose, secret: suite.newSecret(), parallelism: .allCores)
        let reblinded = try suite.reblind(blinded, secret: suite.newSecret(), parallelism: .allCores)
        #expect(blinded.filter { !inPrimeOrderSubgroup($0) }.isEmpty)
        #expect(reblinded.filter { !inPrimeOrderSubgroup($0) }.isEmpty)
        // The criterion catches the retired map: u = SHA-256(item) with the top bit cleared, then
        // X25519, lands outside for the half of the items whose u lay on the twist.
        var secret = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&secret, 32)
        let retired = try (0..<400).map { i -> BlindedElement in
            var u = sha256(Array("s\(i)".utf8)), out = [UInt8](repeating: 0, count: 32)
            u[31] &= 0x7f
            #expect(crypto_scalarmult_curve25519(&out, secret, u) == 0)
            return try BlindedElement(rawRepresentation: out)
        }
        #expect((150...250).contains(retired.filter { !inPrimeOrderSubgroup($0) }.count))
        // And the bad points below are outside, while the base point u = 9 is inside.
        #expect(inPrimeOrderSubgroup(try BlindedElement(rawRepresentation: [9] + [UInt8](repeating: 0, count: 31))))
        #expect(!inPrimeOrderSubgroup(try BlindedElement(rawRepresentation: Self.twistPoint)))
        #expect(!inPrimeOrderSubgroup(try BlindedElement(rawRepresentation: Self.torsionPoint)))
    }

    @Test("A message of the other suite is refused, in memory and as a file")
    func mixedSuites() throws {
        let purpose = try PurposeLabel("mixed")
        let items = plainItems(["a", "b", "c"])
        let ristretto = try MutualPSIInitiator(items: items, configuration: MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn))
        var x25519 = try MutualPSIResponder(items: items, configuration:
            MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: .x25519ELL2SHA512).counterpart)
        #expect(throws: MessageFileError.suiteMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, found: "ristretto255-SHA512", expected: "x25519-ELL2-SHA512")) {
            try x25519.respond(to: ristretto.blindedSet)
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("1.spsi")
        try ristretto.blindedSet.write(to: url)
        #expect(throws: MessageFileError.suiteMismatch(path: url.path, found: "ristretto255-SHA512", expected: "x25519-ELL2-SHA512")) {
            try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .x25519ELL2SHA512, purpose: purpose,
                                      outcome: .bothLearn, sessionID: nil)
        }
    }

    @Test("The retired suite x25519-SHA256 is refused by name, as a stored suite id and in a message file, with why")
    func retiredSuite() throws {
        #expect(PSISuite.allCases.map(\.rawValue) == [1, 3])
        #expect(PSIError.retiredSuite(id: 2).localizedDescription == "refused the retired suite x25519-SHA256 (2), which leaked one bit of every item; use x25519-ELL2-SHA512 or ristretto255-SHA512")
        #expect(throws: PSIError.retiredSuite(id: 2)) {
            try PSISuite(validatingName: "x25519-sha256")
        }
        #expect(throws: PSIError.unknownSuite(name: "p256", known: ["ristretto255-sha512", "x25519-ell2-sha512"])) {
            try PSISuite(validatingName: "p256")
        }
        #expect(throws: PSIError.retiredSuite(id: 2)) {
            try JSONDecoder().decode([PSISuite].self, from: Data("[2]".utf8))
        }
        #expect(try JSONDecoder().decode([PSISuite].self, from: Data("[1,3]".utf8)) == [.ristretto255SHA512, .x25519ELL2SHA512])

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let purpose = try PurposeLabel("retired")
        let a = try MutualPSIInitiator(items: plainItems(["a", "b"]), configuration:
            MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: .x25519ELL2SHA512))
        let url = dir.appendingPathComponent("1.spsi")
        try a.blindedSet.write(to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[10] = 2
        // A file an old version wrote: the digest matches, only the suite is retired.
        try Data(bytes.dropLast(32) + sha256(Array(bytes.dropLast(32)))).write(to: url)
        let found = "the retired suite x25519-SHA256 (2), which leaked one bit of every item; use x25519-ELL2-SHA512 or ristretto255-SHA512"
        #expect(throws: MessageFileError.suiteMismatch(path: url.path, found: found, expected: "x25519-ELL2-SHA512")) {
            try MutualPSIMessage.read(from: url, kind: .initiatorBlindedSet, suite: .x25519ELL2SHA512, purpose: purpose,
                                      outcome: .bothLearn, sessionID: nil)
        }
    }

    /// From `scripts/kat/x25519_bad_points.py` (Python integers, run once): u = 2, on the twist
    /// with a component of large order; and the known answer `a*u` of the first item plus the
    /// point of order 2 (u′ = 1/u), on the curve but outside the prime-order subgroup.
    static let twistPoint = hex("0200000000000000000000000000000000000000000000000000000000000000")
    static let torsionPoint = hex("2bb50c2fb4d5630500b5598c755351c4431f503604ee483a494009be9866962c")

    @Test("All-zero, repeated, non-canonical, low-order, twist and torsion values are refused, each with its own error")
    func badValues() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("bad values"), outcome: .bothLearn, suite: .x25519ELL2SHA512)
        let a = try MutualPSIInitiator(items: plainItems((0..<6).map { "v\($0)" }), configuration: config)
        func respond(replacing index: Int, with bytes: [UInt8]) throws {
            var elements = a.blindedSet.elements
            elements[index] = try BlindedElement(rawRepresentation: bytes)
            var b = try MutualPSIResponder(items: plainItems(["v1"]), configuration: config.counterpart)
            _ = try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: elements))
        }
        #expect(throws: elementError(.initiatorBlindedSet, .zeroValue(index: 2))) { try respond(replacing: 2, with: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: MessageFileError.duplicateElement(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, index: 4, firstIndex: 1)) { try respond(replacing: 4, with: a.blindedSet.elements[1].rawRepresentation) }
        // p = 2^255 − 19 itself, and a value with the top bit set: not canonical.
        let p = [0xed] + [UInt8](repeating: 0xff, count: 30) + [0x7f]
        #expect(throws: elementError(.initiatorBlindedSet, .invalidElementEncoding(index: 3))) { try respond(replacing: 3, with: p) }
        #expect(throws: elementError(.initiatorBlindedSet, .invalidElementEncoding(index: 0))) { try respond(replacing: 0, with: [UInt8](repeating: 0x11, count: 31) + [0x80]) }
        // u = 1 has order 4: every clamped scalar maps it to zero.
        #expect(throws: elementError(.initiatorBlindedSet, .lowOrderElement(index: 5))) { try respond(replacing: 5, with: [1] + [UInt8](repeating: 0, count: 31)) }
        // p − 1 is canonical (the largest canonical value) and of low order (order 2).
        #expect(throws: elementError(.initiatorBlindedSet, .lowOrderElement(index: 1))) { try respond(replacing: 1, with: [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f]) }
        // The finding: a twist value, and a curve value with a small-order component.
        #expect(throws: elementError(.initiatorBlindedSet, .outsidePrimeOrderSubgroup(index: 2))) { try respond(replacing: 2, with: Self.twistPoint) }
        #expect(throws: elementError(.initiatorBlindedSet, .outsidePrimeOrderSubgroup(index: 4))) { try respond(replacing: 4, with: Self.torsionPoint) }
    }

    @Test("A twist value in the responder's set is refused by the initiator with its position")
    func twistValueFromResponder() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("twist"), outcome: .bothLearn, suite: .x25519ELL2SHA512)
        let a = try MutualPSIInitiator(items: plainItems((0..<5).map { "t\($0)" }), configuration: config)
        var b = try MutualPSIResponder(items: plainItems((0..<7).map { "t\($0)" }), configuration: config.counterpart)
        let reply = try b.respond(to: a.blindedSet)
        var elements = reply.responderBlindedSet.elements
        elements[6] = try BlindedElement(rawRepresentation: Self.twistPoint)
        #expect(throws: elementError(.responderBlindedSet, .outsidePrimeOrderSubgroup(index: 6))) {
            try a.finish(responderBlindedSet: MutualPSIMessage(kind: .responderBlindedSet, context: a.context, elements: elements),
                         initiatorSetReblinded: reply.initiatorSetReblinded)
        }
    }

    @Test("Streaming: a twist value in a later chunk is refused with its position in the file")
    func twistValueStreaming() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let purpose = try PurposeLabel("twist streaming")
        let streaming = StreamingOptions(chunkSize: 9, inMemoryLimit: 5, bucketCount: 3)
        let config = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: .x25519ELL2SHA512, streaming: streaming)
        let a = try MutualPSIInitiator(items: plainItems((0..<40).map { "w\($0)" }), configuration: config)
        var elements = a.blindedSet.elements
        elements[31] = try BlindedElement(rawRepresentation: Self.twistPoint)
        let request = dir.appendingPathComponent("1.spsi")
        try MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: elements).write(to: request)
        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(throws: MessageFileError.invalidElement(path: request.path, index: 31,
                                                        reason: PSIError.outsidePrimeOrderSubgroup(index: 31).localizedDescription)) {
            try MutualPSIFileExchange.respond(records: StreamingTests.records(["w1"]), configuration: config.counterpart, requestURL: request,
                                              stateURL: out.appendingPathComponent("b.state"),
                                              responderSetURL: out.appendingPathComponent("2a.spsi"),
                                              reblindedURL: out.appendingPathComponent("2b.spsi"))
        }
    }

    @Test("State files keep the suite and the 32-byte x25519 secret")
    func stateRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("state"), outcome: .bothLearn, suite: .x25519ELL2SHA512)
        let items = plainItems((0..<40).map { "s\($0)" })
        let a = try MutualPSIInitiator(items: items, configuration: config)
        try a.save(to: dir.appendingPathComponent("a.state"))
        let restored = try MutualPSIInitiator(identity: TestParties.a, restoringFrom: dir.appendingPathComponent("a.state"))
        #expect(restored.configuration.suite == .x25519ELL2SHA512)
        var b = try MutualPSIResponder(items: Array(items[20...]), configuration: config.counterpart)
        let reply = try b.respond(to: restored.blindedSet)
        let done = try restored.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(sharedItems(done.result) == Set(items[20...]))
    }
}
