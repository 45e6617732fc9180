import Foundation
import Testing
@testable import SodiumPSI

/// Findings 4 and 6 of issue 13, the hashed part: every item is hashed under both parties'
/// identity keys, the initiator's session and the identifier type, so that values relayed from
/// another exchange, or declared under another type, match nothing.
@Suite("Hashed context: parties, session and identifier type bound into every item")
struct HashedContextTests {
    static let purpose = try! PurposeLabel("hashed context tests")
    static let items = plainItems((0..<40).map { "h\($0)" })
    static let relay = TestParties.outsider

    /// A's configuration towards `peer`, and B's towards `peer` (both hold ``items``).
    static func bank(_ identity: PartyIdentity, peer: PartyIdentity, outcome: MutualPSIOutcome = .bothLearn,
                     identifierType: IdentifierType = .plain) -> MutualPSIConfiguration {
        MutualPSIConfiguration(purpose: purpose, outcome: outcome, identity: identity, peer: peer.publicKey,
                               identifierType: identifierType)
    }

    /// A finishes with step 2's values re-labelled as B's messages in A's own exchange (as a
    /// relay, or a party that lied about its header, would hand them over).
    static func finish(_ a: MutualPSIInitiator, withRelabelled reply: MutualPSIResponder.Reply) throws -> MutualPSIInitiator.Completion {
        try a.finish(
            responderBlindedSet: MutualPSIMessage(kind: .responderBlindedSet, context: a.context, elements: reply.responderBlindedSet.elements),
            initiatorSetReblinded: MutualPSIMessage(kind: .initiatorSetReblinded, context: a.context, elements: reply.initiatorSetReblinded.elements,
                                                    valueLength: reply.initiatorSetReblinded.valueLength))
    }

    @Test("In memory: a relay that re-labels A's step 1 as its own towards B, and B's step 2 as its own towards A, leaves both with 0 matches")
    func inMemoryRelayMatchesNothing() throws {
        // A exchanges with the relay R; B exchanges with R; both hold the same 40 items.
        let a = try MutualPSIInitiator(items: Self.items, configuration: Self.bank(TestParties.a, peer: Self.relay))
        var b = try MutualPSIResponder(items: Self.items, configuration: Self.bank(TestParties.b, peer: Self.relay))
        let towardsB = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: Self.purpose.digest,
                                       sessionID: a.context.sessionID, initiator: Self.relay.publicKey,
                                       responder: TestParties.b.publicKey, identifierType: .plain)
        // Everything B checks holds: R is its peer, the message is for B, type, purpose and session agree.
        let reply = try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: towardsB, elements: a.blindedSet.elements))
        let done = try Self.finish(a, withRelabelled: reply)
        #expect(done.result.count == 0)
        let step3 = try #require(done.responderSetReblinded)
        let resultB = try b.finish(responderSetReblinded: MutualPSIMessage(kind: .responderSetReblinded, context: towardsB,
                                                                           elements: step3.elements, valueLength: step3.valueLength))
        #expect(resultB.count == 0)
        // The same two banks exchanging directly find all 40.
        let direct = try runMutualPSI(Self.items, Self.items, outcome: .bothLearn)
        #expect(sharedItems(direct.0) == Set(Self.items) && sharedItems(direct.1) == Set(Self.items))
    }

    @Test("Over files: a relay that re-signs each bank's messages with its own identity (signatures valid) leaves both with 0 matches")
    func fileRelayMatchesNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = { (name: String) in dir.appendingPathComponent(name) }
        let records = Self.items.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) }
        let configA = Self.bank(TestParties.a, peer: Self.relay), configB = Self.bank(TestParties.b, peer: Self.relay)
        try MutualPSIFileExchange.initiate(records: records, configuration: configA, stateURL: file("a.state"), messageURL: file("1.spsi"))
        try Self.resign(file("1.spsi"), to: file("1r.spsi"), recipient: TestParties.b.publicKey)
        try MutualPSIFileExchange.respond(records: records, configuration: configB, requestURL: file("1r.spsi"), stateURL: file("b.state"),
                                          responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"))
        try Self.resign(file("2a.spsi"), to: file("2ar.spsi"), recipient: TestParties.a.publicKey)
        try Self.resign(file("2b.spsi"), to: file("2br.spsi"), recipient: TestParties.a.publicKey)
        let outcomeA = try MutualPSIFileExchange.finishInitiator(stateURL: file("a.state"), identity: TestParties.a, peer: Self.relay.publicKey,
                                                                 responderSetURL: file("2ar.spsi"), reblindedURL: file("2br.spsi"),
                                                                 replyURL: file("3.spsi"))
        #expect(outcomeA.result.count == 0 && outcomeA.matches.isEmpty)
        try Self.resign(file("3.spsi"), to: file("3r.spsi"), recipient: TestParties.b.publicKey)
        let outcomeB = try MutualPSIFileExchange.finishResponder(stateURL: file("b.state"), identity: TestParties.b, peer: Self.relay.publicKey,
                                                                 replyURL: file("3r.spsi"))
        #expect(outcomeB.result.count == 0 && outcomeB.matches.isEmpty)
    }

    /// The relay's signature on a file it took from a bank: sender field, recipient field, trailer.
    static func resign(_ source: URL, to target: URL, recipient: PartyPublicKey) throws {
        var bytes = try [UInt8](Data(contentsOf: source))
        put(relay.publicKey.bytes, at: 84, in: &bytes)
        put(recipient.bytes, at: 116, in: &bytes)
        let digest = sha256(Array(bytes.dropLast(96)))
        bytes.replaceSubrange((bytes.count - 96)..., with: digest + relay.signature(of: MessageHeader.signedBytes(digest: digest)))
        try Data(bytes).write(to: target)
        // The relayed file is a valid message of the relay's.
        #expect(try MessageFileReader.inspect(url: target).signatureValid)
    }

    @Test("A step 1 declaring another identifier type than its values were hashed under matches nothing; a mismatch is refused naming both")
    func identifierTypeBound() throws {
        let caseless = IdentifierType(kind: .plain, caseInsensitive: true)
        // The same lower-case items, blinded with one secret in one session, under the two types.
        let suite = MutualSuite(.ristretto255SHA512)
        let secret = suite.newSecret()
        let plain = try suite.blind(Self.items, purpose: Self.purpose, secret: secret, parallelism: .serial, identifierType: .plain)
        let folded = try suite.blind(Self.items, purpose: Self.purpose, secret: secret, parallelism: .serial, identifierType: caseless)
        #expect(Set(plain).isDisjoint(with: folded))
        // A blinds as plain identifiers but its step 1 claims case-insensitive ones: B, which
        // declared case-insensitive, accepts the header and finds nothing.
        let a = try MutualPSIInitiator(items: Self.items, configuration: Self.bank(TestParties.a, peer: TestParties.b))
        var b = try MutualPSIResponder(items: Self.items, configuration: Self.bank(TestParties.b, peer: TestParties.a, identifierType: caseless))
        let claimed = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: Self.purpose.digest,
                                      sessionID: a.context.sessionID, initiator: TestParties.a.publicKey,
                                      responder: TestParties.b.publicKey, identifierType: caseless)
        let reply = try b.respond(to: MutualPSIMessage(kind: .initiatorBlindedSet, context: claimed, elements: a.blindedSet.elements))
        let done = try Self.finish(a, withRelabelled: reply)
        #expect(done.result.count == 0)
        // Declared honestly, the mismatch is refused before any work, naming both types.
        var honest = try MutualPSIResponder(items: Self.items, configuration: Self.bank(TestParties.b, peer: TestParties.a, identifierType: caseless))
        #expect(throws: MessageFileError.identifierTypeMismatch(path: MutualPSIMessage.Kind.initiatorBlindedSet.nameInMemory,
                                                                found: "plain identifiers", expected: "plain identifiers, case-insensitive")) {
            try honest.respond(to: a.blindedSet)
        }
    }

    @Test("Every field of the context changes every hashed value", arguments: 0..<6)
    func everyFieldBinds(field: Int) throws {
        let base = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: Self.purpose.digest,
                                   sessionID: .zero, identifierType: .plain)
        let other: ExchangeContext
        switch field {
        case 0: other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: try PurposeLabel("other").digest,
                                        sessionID: base.sessionID, identifierType: .plain)
        case 1: other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: base.purposeDigest,
                                        sessionID: try SessionID(bytes: [1] + [UInt8](repeating: 0, count: 15)), identifierType: .plain)
        case 2: other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: base.purposeDigest, sessionID: base.sessionID,
                                        initiator: Self.relay.publicKey, responder: base.responder, identifierType: .plain)
        case 3: other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: base.purposeDigest, sessionID: base.sessionID,
                                        initiator: base.initiator, responder: Self.relay.publicKey, identifierType: .plain)
        case 4: // The two parties' roles swapped.
            other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: base.purposeDigest, sessionID: base.sessionID,
                                    initiator: base.responder, responder: base.initiator, identifierType: .plain)
        default: other = ExchangeContext(suite: base.suite, outcome: base.outcome, purposeDigest: base.purposeDigest, sessionID: base.sessionID,
                                         identifierType: IdentifierType(kind: .plain, caseInsensitive: true))
        }
        let suite = MutualSuite(.ristretto255SHA512)
        let secret = suite.newSecret()
        let one = try suite.blind(Self.items, context: base, secret: secret, parallelism: .serial)
        let two = try suite.blind(Self.items, context: other, secret: secret, parallelism: .serial)
        #expect(Set(one).isDisjoint(with: two))
        #expect(try suite.blind(Self.items, context: base, secret: secret, parallelism: .serial) == one)
    }

    @Test("Unbalanced: OPRF inputs bind the identifier type (case folding included) and the purpose")
    func unbalancedInputsBindType() throws {
        let items = Unbalanced.items(["a", "b"])
        let plain = UnbalancedPRF.Inputs(items, purpose: Unbalanced.purpose, identifierType: .plain).arrays
        let folded = UnbalancedPRF.Inputs(items, purpose: Unbalanced.purpose, identifierType: IdentifierType(kind: .plain, caseInsensitive: true)).arrays
        let other = UnbalancedPRF.Inputs(items, purpose: try PurposeLabel("other"), identifierType: .plain).arrays
        #expect(Set(plain).isDisjoint(with: folded) && Set(plain).isDisjoint(with: other))
        let key = HubKey.generate(answerMode: .intersection)
        let values = { (type: IdentifierType) in
            try UnbalancedPRF.evaluate(UnbalancedPRF.Inputs(items, purpose: Unbalanced.purpose, identifierType: type), key: key, keep: 64,
                                       parallelism: .serial, progress: nil)
        }
        #expect(try values(.plain) != values(IdentifierType(kind: .plain, caseInsensitive: true)))
    }
}
