import Foundation
import Testing
@testable import SodiumPSI

/// Runs a whole in-memory exchange and returns what each side learned.
func runMutualPSI(_ a: [Identifier], _ b: [Identifier], outcome: MutualPSIOutcome, suite: PSISuite = .ristretto255SHA512,
                  threads: Int = 2, streaming: StreamingOptions = .default)
    throws -> (initiator: MutualPSIResult, responder: MutualPSIResult?, replyPeerSize: Int) {
    let purpose = try PurposeLabel("test: agent phone numbers")
    // The identifier type both declare: that of the lists' items.
    let type = IdentifierType(kind: (a.first ?? b.first)?.kind ?? .plain)
    let config = MutualPSIConfiguration(purpose: purpose, outcome: outcome, suite: suite, identifierType: type,
                                        parallelism: Parallelism(threads: threads), streaming: streaming)
    let initiator = try MutualPSIInitiator(items: a, configuration: config)
    var responder = try MutualPSIResponder(items: b, configuration: config.counterpart)
    let reply = try responder.respond(to: initiator.blindedSet)
    let done = try initiator.finish(responderBlindedSet: reply.responderBlindedSet,
                                    initiatorSetReblinded: reply.initiatorSetReblinded)
    let responderResult = try done.responderSetReblinded.map { try responder.finish(responderSetReblinded: $0) }
    return (done.result, responderResult, reply.peerSetSize)
}

func plainItems(_ values: some Sequence<String>) -> [Identifier] {
    values.map { try! Identifier.plain($0) }
}

/// The shared items as a set, for comparison with `Set.intersection`.
func sharedItems(_ result: MutualPSIResult?) -> Set<Identifier>? {
    guard case .intersection(let i)? = result else { return nil }
    return Set(i.items)
}

@Suite("Mutual PSI in memory")
struct MutualPSITests {
    static let cases: [(String, [String], [String])] = [
        ("both empty", [], []),
        ("initiator empty", [], ["x"]),
        ("responder empty", ["x"], []),
        ("one item, shared", ["13800138000"], ["13800138000"]),
        ("one item, not shared", ["a"], ["b"]),
        ("disjoint", (0..<50).map { "a\($0)" }, (0..<40).map { "b\($0)" }),
        ("identical", (0..<64).map { "x\($0)" }, (0..<64).map { "x\($0)" }),
        ("partial overlap", (0..<100).map { "n\($0)" }, (60..<180).map { "n\($0)" }),
    ]

    @Test("Both learn: each side's result equals Set intersection", arguments: 0..<cases.count)
    func bothLearn(_ index: Int) throws {
        let (_, aValues, bValues) = Self.cases[index]
        let a = plainItems(aValues), b = plainItems(bValues)
        let expected = Set(a).intersection(b)
        let (ra, rb, peerSize) = try runMutualPSI(a, b, outcome: .bothLearn)
        #expect(sharedItems(ra) == expected)
        #expect(sharedItems(rb) == expected)
        #expect(peerSize == Set(a).count)
        guard case .intersection(let ia) = ra, case .intersection(let ib)? = rb else { Issue.record("wrong result kind"); return }
        #expect(ia.peerSetSize == Set(b).count && ia.ownSetSize == Set(a).count)
        #expect(ib.peerSetSize == Set(a).count && ib.ownSetSize == Set(b).count)
        #expect(ia.indices == ia.indices.sorted())
    }

    @Test("One learns: the initiator gets the intersection, the responder gets no step 3", arguments: 0..<cases.count)
    func initiatorLearns(_ index: Int) throws {
        let (_, aValues, bValues) = Self.cases[index]
        let a = plainItems(aValues), b = plainItems(bValues)
        let (ra, rb, peerSize) = try runMutualPSI(a, b, outcome: .initiatorLearns)
        #expect(sharedItems(ra) == Set(a).intersection(b))
        #expect(rb == nil)
        #expect(peerSize == Set(a).count)
    }

    @Test("Cardinality only: both get the right count and no items", arguments: 0..<cases.count)
    func cardinality(_ index: Int) throws {
        let (_, aValues, bValues) = Self.cases[index]
        let a = plainItems(aValues), b = plainItems(bValues)
        let expected = Set(a).intersection(b).count
        let (ra, rb, _) = try runMutualPSI(a, b, outcome: .cardinalityOnly)
        #expect(ra == .cardinality(.init(count: expected, ownSetSize: Set(a).count, peerSetSize: Set(b).count)))
        #expect(rb == .cardinality(.init(count: expected, ownSetSize: Set(b).count, peerSetSize: Set(a).count)))
    }

    @Test("Random sets up to 2,500 items equal Set intersection", arguments: [
        (UInt64(1), 10, 7), (2, 500, 900), (3, 1_100, 1_000), (4, 2_500, 2_500),
    ])
    func randomSets(seed: UInt64, sizeA: Int, sizeB: Int) throws {
        var rng = SplitMix64(seed: seed)
        // Draw from a universe about 1.5× the larger set so the overlap is substantial but partial.
        let universe = UInt64(max(sizeA, sizeB) * 3 / 2)
        let a = plainItems((0..<sizeA).map { _ in "v\(rng.next() % universe)" })
        let b = plainItems((0..<sizeB).map { _ in "v\(rng.next() % universe)" })
        let expected = Set(a).intersection(b)
        for outcome in MutualPSIOutcome.allCases where sizeA <= 1_100 || outcome == .bothLearn {
            let (ra, rb, _) = try runMutualPSI(a, b, outcome: outcome)
            switch outcome {
            case .bothLearn:
                #expect(sharedItems(ra) == expected)
                #expect(sharedItems(rb) == expected)
            case .initiatorLearns:
                #expect(sharedItems(ra) == expected)
            case .cardinalityOnly:
                #expect(ra.count == expected.count)
                #expect(rb?.count == expected.count)
            }
        }
    }

    @Test("Results do not depend on the thread count", arguments: [1, 2, 3, 8])
    func threadCounts(threads: Int) throws {
        let a = plainItems((0..<300).map { "t\($0)" }), b = plainItems((150..<450).map { "t\($0)" })
        let (ra, rb, _) = try runMutualPSI(a, b, outcome: .bothLearn, threads: threads)
        #expect(sharedItems(ra) == Set(a).intersection(b))
        #expect(sharedItems(rb) == Set(a).intersection(b))
    }

    @Test("Repeated own items are collapsed before blinding and counted")
    func duplicatesCollapsed() throws {
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("p"), outcome: .bothLearn)
        let a = try MutualPSIInitiator(items: plainItems(["x", "y", "x", " x ", "z"]), configuration: config)
        #expect(a.inputSummary == InputSummary(given: 5, distinct: 3))
        #expect(a.inputSummary.duplicatesCollapsed == 2)
        #expect(a.blindedSet.elements.count == 3)
        #expect(Set(a.blindedSet.elements).count == 3)
    }

    @Test("Kinds are separated: equal text of two kinds hashes apart, and an item of another type than agreed is refused")
    func kindSeparation() throws {
        let plain = Identifier(kind: .plain, canonical: "+8613800138000")
        let phone = Identifier(kind: .phoneNumber, canonical: "+8613800138000")
        #expect(plain.psiEncoding != phone.psiEncoding)
        // The responder declared the exchange's type (plain, from A's list) but holds a phone number.
        #expect(throws: PSIError.itemTypeMismatch(index: 0, found: "phone numbers", expected: "plain identifiers")) {
            try runMutualPSI([plain], [phone], outcome: .bothLearn)
        }
        let caseless = MutualPSIConfiguration(purpose: try PurposeLabel("p"), outcome: .bothLearn,
                                              identifierType: IdentifierType(kind: .plain, caseInsensitive: true))
        #expect(throws: PSIError.itemTypeMismatch(index: 1, found: "plain identifiers with upper-case letters",
                                                  expected: "plain identifiers, case-insensitive")) {
            try MutualPSIInitiator(items: [try Identifier.plain("abc"), try Identifier.plain("ABC")], configuration: caseless)
        }
        #expect(try MutualPSIInitiator(items: [try Identifier.plain("ABC", caseInsensitive: true)], configuration: caseless)
            .blindedSet.elements.count == 1)
    }
}

@Suite("Mutual PSI: purpose labels, shuffling and refusals")
struct MutualPSIRefusalTests {
    let purpose = try! PurposeLabel("alliance 2026 agent numbers")
    var config: MutualPSIConfiguration { MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn) }
    let items = plainItems((0..<20).map { "i\($0)" })

    @Test("The same items under different purpose labels never match", arguments: PSISuite.allCases)
    func differentPurposesNeverMatch(suite: PSISuite) throws {
        let mutual = MutualSuite(suite)
        let secret = mutual.newSecret()
        let values = plainItems((0..<200).map { "same\($0)" })
        let one = try mutual.blind(values, purpose: PurposeLabel("purpose one"), secret: secret, parallelism: .serial)
        let two = try mutual.blind(values, purpose: PurposeLabel("purpose two"), secret: secret, parallelism: .serial)
        let again = try mutual.blind(values, purpose: PurposeLabel("purpose one"), secret: secret, parallelism: .serial)
        #expect(Set(one).isDisjoint(with: two))
        #expect(one == again)
        // And an exchange under different labels is refused, naming both digests.
        let a = try MutualPSIInitiator(items: values, configuration: config)
        var b = try MutualPSIResponder(items: values, configuration: MutualPSIConfiguration(purpose: PurposeLabel("other"), outcome: .bothLearn).counterpart)
        #expect(throws: MessageFileError.purposeMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, found: purpose.digest.hexString, expected: try PurposeLabel("other").digest.hexString)) {
            try b.respond(to: a.blindedSet)
        }
    }

    @Test("Purpose labels: empty, too long and control characters are refused")
    func purposeLabelValidation() {
        #expect(throws: PSIError.invalidPurposeLabel(reason: "it is empty; expected 1 to 255 bytes of text")) { try PurposeLabel("") }
        #expect(throws: PSIError.invalidPurposeLabel(reason: "it is 256 UTF-8 bytes long; expected at most 255")) {
            try PurposeLabel(String(repeating: "a", count: 256))
        }
        #expect(throws: PSIError.invalidPurposeLabel(reason: "it contains control characters; expected printable text")) {
            try PurposeLabel("a\nb")
        }
        #expect((try? PurposeLabel("e\u{301}"))?.value == "\u{e9}")
    }

    @Test("The blinded set is shuffled: two runs with the same secret send different orders")
    func blindedSetIsShuffled() throws {
        let secret = MutualSuite(.ristretto255SHA512).newSecret()
        let many = plainItems((0..<64).map { "s\($0)" })
        let one = try MutualPSIInitiator(items: many, configuration: config, secret: secret, sessionID: .zero)
        let two = try MutualPSIInitiator(items: many, configuration: config, secret: secret, sessionID: .zero)
        #expect(Set(one.blindedSet.elements) == Set(two.blindedSet.elements))
        #expect(one.blindedSet.elements != two.blindedSet.elements)
        let unshuffled = try MutualSuite(.ristretto255SHA512).blind(many, purpose: purpose, secret: secret, parallelism: .serial)
        #expect(one.blindedSet.elements != unshuffled)
    }

    @Test("Cardinality only: the re-blinded set comes back shuffled, not in the sent order")
    func cardinalityReturnsShuffled() throws {
        let secret = MutualSuite(.ristretto255SHA512).newSecret()
        let many = plainItems((0..<64).map { "c\($0)" })
        let cfg = MutualPSIConfiguration(purpose: purpose, outcome: .cardinalityOnly)
        let a = try MutualPSIInitiator(items: many, configuration: cfg)
        var b = try MutualPSIResponder(items: many, configuration: cfg.counterpart, secret: secret)
        let reply = try b.respond(to: a.blindedSet)
        let points = try MutualSuite(.ristretto255SHA512).reblind(a.blindedSet.elements, secret: secret, parallelism: .serial)
        let inOrder = try ComparisonHash(.initiatorSetReblinded, initiatorCount: 64, responderCount: 64)
            .values(of: points, parallelism: .serial)
        #expect(Set(reply.initiatorSetReblinded.elements) == Set(inOrder))
        #expect(reply.initiatorSetReblinded.elements != inOrder)
    }

    @Test("A repeated element in the peer's set is refused")
    func duplicateElement() throws {
        let a = try MutualPSIInitiator(items: items, configuration: config)
        var tampered = a.blindedSet.elements
        tampered[7] = tampered[2]
        var b = try MutualPSIResponder(items: items, configuration: config.counterpart)
        #expect(throws: MessageFileError.duplicateElement(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, index: 7, firstIndex: 2)) {
            try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: tampered))
        }
    }

    @Test("A peer set over the policy limit is refused before any work")
    func peerSetTooLarge() throws {
        let a = try MutualPSIInitiator(items: items, configuration: config)
        var small = config
        small.maximumPeerSetSize = 19
        var b = try MutualPSIResponder(items: items, configuration: small.counterpart)
        #expect(throws: MessageFileError.peerSetTooLarge(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, count: 20, limit: 19)) { try b.respond(to: a.blindedSet) }
    }

    @Test("Wrong step, other session, other outcome and wrong count are refused")
    func protocolRefusals() throws {
        let a = try MutualPSIInitiator(items: items, configuration: config)
        var b = try MutualPSIResponder(items: items, configuration: config.counterpart)
        let reply = try b.respond(to: a.blindedSet)
        // Wrong step: the reply's two messages swapped.
        #expect(throws: MessageFileError.wrongStep(path: MutualPSIMessage.Kind.responderBlindedSet.nameInMemory, found: "initiator set re-blinded by the responder", expected: "responder blinded set")) {
            try a.finish(responderBlindedSet: reply.initiatorSetReblinded, initiatorSetReblinded: reply.responderBlindedSet)
        }
        // Another session: a second initiator receives this reply.
        let other = try MutualPSIInitiator(items: items, configuration: config)
        #expect(throws: MessageFileError.sessionMismatch(path: MutualPSIMessage.Kind.responderBlindedSet.nameInMemory, found: a.context.sessionID.description, expected: other.context.sessionID.description)) {
            try other.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        }
        // Another outcome.
        var cardinalityB = try MutualPSIResponder(items: items, configuration: MutualPSIConfiguration(purpose: purpose, outcome: .cardinalityOnly).counterpart)
        #expect(throws: MessageFileError.modeMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory, found: "both-learn", expected: "cardinality-only")) { try cardinalityB.respond(to: a.blindedSet) }
        // Wrong count: one element dropped from the re-blinded set.
        let short = MutualPSIMessage(kind: .initiatorSetReblinded, context: a.context, elements: Array(reply.initiatorSetReblinded.elements.dropLast()),
                                     valueLength: reply.initiatorSetReblinded.valueLength)
        #expect(throws: MessageFileError.countMismatch(path: MutualPSIMessage.Kind.initiatorSetReblinded.nameInMemory, found: 19, expected: 20)) {
            try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: short)
        }
        // Step 3 before step 1 on a fresh responder.
        let fresh = try MutualPSIResponder(items: items, configuration: config.counterpart)
        #expect(throws: PSIError.unexpectedMessage(expected: "initiator blinded set", found: "responder blinded set")) {
            try fresh.finish(responderSetReblinded: reply.responderBlindedSet)
        }
    }
}

@Suite("Group layer: decoding and scalars")
struct GroupLayerTests {
    @Test("The identity is refused")
    func identity() {
        #expect(throws: PSIError.identityElement(index: nil)) { try GroupElement(validating: [UInt8](repeating: 0, count: 32)) }
    }

    @Test("Non-canonical encodings are refused", arguments: [
        // s = 1 is odd ("negative"), which the canonical encoding forbids.
        "0100000000000000000000000000000000000000000000000000000000000000",
        // s = p = 2^255 − 19, not reduced.
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        // top bit set
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ])
    func nonCanonical(_ encoding: String) {
        #expect(throws: PSIError.invalidElementEncoding(index: nil)) { try GroupElement(validating: hex(encoding)) }
    }

    @Test("A valid element with the top bit set is refused, not taken as an alias (libsodium 1.0.18 ignores that bit)")
    func topBitAlias() throws {
        let point = HashToGroup(domainSeparationTag: Array("alias".utf8)).element(for: Array("x".utf8))
        var alias = point.rawRepresentation
        alias[31] |= 0x80
        #expect(throws: PSIError.invalidElementEncoding(index: nil)) { try GroupElement(validating: alias) }
        // In a peer's set, the alias of an element already present would otherwise re-blind to a duplicate.
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("alias"), outcome: .bothLearn)
        let a = try MutualPSIInitiator(items: plainItems(["a", "b", "c"]), configuration: config)
        var elements = a.blindedSet.elements
        var bytes = elements[0].rawRepresentation
        bytes[31] |= 0x80
        elements.append(try BlindedElement(rawRepresentation: bytes))
        var b = try MutualPSIResponder(items: plainItems(["a"]), configuration: config.counterpart)
        #expect(throws: elementError(.initiatorBlindedSet, .invalidElementEncoding(index: 3))) {
            try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: a.context, elements: elements))
        }
    }

    @Test("Random 32-byte strings that are not ristretto255 encodings are refused")
    func randomBytes() throws {
        var rng = SplitMix64(seed: 99)
        var refused = 0
        for _ in 0..<64 {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do { _ = try GroupElement(validating: bytes) } catch let error as PSIError {
                #expect(error == .invalidElementEncoding(index: nil))
                refused += 1
            }
        }
        // At most about one in eight random strings decodes (sign, top bit and square-root checks).
        #expect(refused >= 48)
    }

    @Test("Wrong lengths are refused", arguments: [0, 31, 33, 64])
    func wrongLength(_ length: Int) {
        #expect(throws: PSIError.invalidLength(what: "group element", length: length, expected: 32)) {
            try GroupElement(validating: [UInt8](repeating: 1, count: length))
        }
    }

    @Test("A valid element round-trips; multiplication commutes; inversion undoes")
    func arithmetic() throws {
        let point = HashToGroup(domainSeparationTag: Array("test".utf8)).element(for: Array("x".utf8))
        #expect(try GroupElement(validating: point.rawRepresentation) == point)
        let a = Scalar.random(), b = Scalar.random()
        #expect(try point.multiplied(by: a).multiplied(by: b) == point.multiplied(by: b).multiplied(by: a))
        #expect(try point.multiplied(by: a).multiplied(by: a.inverted()) == point)
        #expect(try point.multiplied(by: a * b) == point.multiplied(by: a).multiplied(by: b))
    }

    @Test("Scalars: zero, non-canonical and wrong length are refused; description hides the value")
    func scalars() throws {
        #expect(throws: PSIError.zeroScalar) { try Scalar(rawRepresentation: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: PSIError.nonCanonicalScalar) { try Scalar(rawRepresentation: [UInt8](repeating: 0xff, count: 32)) }
        // ℓ itself is not canonical.
        #expect(throws: PSIError.nonCanonicalScalar) {
            try Scalar(rawRepresentation: hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"))
        }
        #expect(throws: PSIError.invalidLength(what: "scalar", length: 16, expected: 32)) { try Scalar(rawRepresentation: [UInt8](repeating: 1, count: 16)) }
        let s = Scalar.random()
        #expect(try Scalar(rawRepresentation: s.rawRepresentation) == s)
        #expect("\(s)" == "Scalar(<secret>)")
        #expect(PSIError.zeroScalar.localizedDescription == "scalar is zero; expected a non-zero scalar")
    }
}

@Suite("Progress reports")
struct ProgressTests {
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var reports: [ProgressReport] = []
        func add(_ report: ProgressReport) { lock.withLock { reports.append(report) } }
        var all: [ProgressReport] { lock.withLock { reports } }
    }

    @Test("Blinding and re-blinding report increasing progress that ends at the total", arguments: [1, 2, 3])
    func reports(threads: Int) throws {
        let recorder = Recorder()
        let config = MutualPSIConfiguration(purpose: try PurposeLabel("progress"), outcome: .bothLearn,
                                            parallelism: Parallelism(threads: threads), progress: { recorder.add($0) })
        let a = try MutualPSIInitiator(items: plainItems((0..<1_200).map { "p\($0)" }), configuration: config)
        var b = try MutualPSIResponder(items: plainItems((0..<400).map { "p\($0)" }), configuration: config.counterpart)
        _ = try b.respond(to: a.blindedSet)
        let blinding = recorder.all.filter { $0.step == "blinding own items" }
        let reblinding = recorder.all.filter { $0.step == "re-blinding the peer's items" }
        #expect(blinding.count > 2)
        #expect(blinding.filter { $0.total == 1_200 }.map(\.completed).last == 1_200)
        #expect(blinding.filter { $0.total == 400 }.map(\.completed).last == 400)
        #expect(reblinding.map(\.completed) == reblinding.map(\.completed).sorted())
        #expect(reblinding.last == ProgressReport(step: "re-blinding the peer's items", completed: 1_200, total: 1_200))
    }
}

@Suite("Batch engine")
struct BatchEngineTests {
    @Test("Blinding and re-blinding give the same elements for every thread count and batch size",
          arguments: PSISuite.allCases, [(1, 1), (2, 7), (3, 32), (5, 48), (2, 100_000)])
    func sameAsSerial(suite: PSISuite, shape: (threads: Int, batch: Int)) throws {
        let mutual = MutualSuite(suite)
        let secret = mutual.newSecret(), other = mutual.newSecret()
        // 300 items: several batches a thread for every shape but the last (one batch larger than the input).
        let items = plainItems((0..<300).map { "e\($0)" })
        let purpose = try PurposeLabel("engine")
        let parallel = Parallelism(threads: shape.threads, batchSize: shape.batch)
        let serial = try mutual.blind(items, purpose: purpose, secret: secret, parallelism: .serial)
        #expect(try mutual.blind(items, purpose: purpose, secret: secret, parallelism: parallel) == serial)
        #expect(try mutual.reblind(serial, secret: other, parallelism: parallel)
                == (try mutual.reblind(serial, secret: other, parallelism: .serial)))
        let config = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, suite: suite, parallelism: parallel)
        let a = try MutualPSIInitiator(items: items, configuration: config)
        var b = try MutualPSIResponder(items: Array(items[140...]), configuration: config.counterpart)
        let reply = try b.respond(to: a.blindedSet)
        let done = try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(sharedItems(done.result) == Set(items[140...]))
    }

    @Test("An error in one batch is reported, with the position of the bad element, whatever the batching")
    func errorsFromWorkers() throws {
        let mutual = MutualSuite(.ristretto255SHA512)
        var elements = try mutual.blind(plainItems((0..<500).map { "w\($0)" }), purpose: PurposeLabel("w"),
                                        secret: mutual.newSecret(), parallelism: .serial)
        elements[417] = try BlindedElement(rawRepresentation: [1] + [UInt8](repeating: 0, count: 31))
        for (threads, batch) in [(1, 1), (2, 3), (2, 1_024), (4, 50)] {
            #expect(throws: PSIError.invalidElementEncoding(index: 417)) {
                try mutual.reblind(elements, secret: mutual.newSecret(), parallelism: Parallelism(threads: threads, batchSize: batch))
            }
        }
    }
}

@Suite("Shuffling")
struct ShuffleTests {
    @Test("Every permutation of three elements is about equally likely, and the permutation returned is the one applied")
    func uniform() {
        var counts = [[Int]: Int]()
        for _ in 0..<6_000 {
            var values = ["a", "b", "c"]
            let permutation = cryptographicShuffle(&values)
            #expect(values == permutation.map { ["a", "b", "c"][$0] })
            counts[permutation, default: 0] += 1
        }
        // Expected 1,000 each with a standard deviation near 29: ±200 is about seven deviations.
        #expect(counts.count == 6)
        #expect(counts.values.allSatisfy { (800...1_200).contains($0) }, "\(counts)")
    }
}
