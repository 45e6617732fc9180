import Foundation
import Testing
@testable import SodiumPSI

/// Mutual PSI over ristretto255-SHA512 against values computed outside Swift.
@Suite("Suite ristretto255-SHA512: known answers")
struct RistrettoMutualKATTests {
    static let purpose = try! PurposeLabel("kat: agent phone numbers")
    static let session = try! SessionID(bytes: Array(0..<16))
    static let itemsA = try! ["+8613800138000", "+8613912345678"].map { try Identifier.phoneNumber($0) }
    static let itemsB = try! ["+8613800138000", "+8615012345678"].map { try Identifier.phoneNumber($0) }

    /// Per item encoding: H, a·H, b·H, a·b·H, C₃(a·b·H) and C₄(a·b·H) (64 bytes; messages keep
    /// the first L). Computed with libsodium's C API alone by `scripts/kat/ristretto255_mutual_kat.c`,
    /// which builds the hashed context from its fields (and reproduces RFC 9380 K.3 first):
    ///
    ///     cc -O2 -o /tmp/ristretto255_kat scripts/kat/ristretto255_mutual_kat.c -lsodium
    ///     /tmp/ristretto255_kat "kat: agent phone numbers" 000102030405060708090a0b0c0d0e0f \
    ///         a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 \
    ///         b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 1 0 \
    ///         012b38363133383030313338303030 012b38363133393132333435363738 012b38363135303132333435363738
    ///
    /// (the seeds are those of `TestParties.a` and `TestParties.b`; kind 1 and flags 0: phone
    /// numbers). When the hashed context changes, run it again and paste the output here.
    static let context = "0018536f6469756d5053492d6d757475616c2d636f6e7465787400010100010100207ab932b827fc1e85b1a2de6a004f02e5bd08b61f97ef0d7d29af08f38d7c98f00020bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5002055154f42065ea5a1bea05463826be2684eb92df92c100027aabaae57ca5542070010000102030405060708090a0b0c0d0e0f00020100"
    static let expected: [String: (h: String, a: String, b: String, ab: String, c3: String, c4: String)] = [
        "012b38363133383030313338303030": (
            "746317680fd8f9e2ea9f61169b332a0a18e2a64d7e4ce24d3c708623141ae117",
            "887c50c5dd623f94469e87030c7916aeb315b756e658462da2d9cebf4c592e70",
            "70533e866c6ab93d5db6a828f98a23ee18a7b8362b75950f6136f0e53bc12543",
            "7240d1750427d86c675e01503bdf18ab7cc66502761723fd1cf57e33e0b3e467",
            "5b8e3c6fbcd89286211f9cad0c6079e23e9dbd7ff5f585ec2b1d75dc84b74b007e1ed5ab3173b14f75f290e0ce5bde9fc188592fd104d700e41c92c751296e9f",
            "e6a6f691ef781cf4ea2c8045869f91667b6ddaf24abe50b7e0bf7b55db99375142af10229446d758e53c1a620ee1a06213ace64696866b714ba6f182475604a0"),
        "012b38363133393132333435363738": (
            "d4d7e904bb541b868170f917b51b4ceeb59f4c4554dc101937ab8d0a9fc8ac52",
            "dc7b760cb87f55aaf2e3096d4bcff3ca5ac17c33945e8b243b5b5d7d5bc76479",
            "bce696eb5da773c8edcdd43f382dcca7fd0a1dea3297fda607669b6328709e0d",
            "6444adccf9a90abe7b5fca8167c95fed6ed49b1a4939300d01bfb767846c2130",
            "fcac3167792ea4c075ba6181f8f709b6bdf7d5f45994f7fdc0867553eb2802f5aa783ce9a1f6b8cadfaf3be2dd90254d645f98dda6bc28521109e0a9802c789c",
            "9da75a91659b42ca26f94e168c6083a2c440c32111d248f37200299730e3f7b8387587a195c454ae1e96e2118190cb6159ea4c38c8320ae3ed1f408338a9a7e4"),
        "012b38363135303132333435363738": (
            "d63ef6fb0df68a09519d54717d64ba6db490937bc732bb869c391ad8dd3ea469",
            "1e5fc973fcffa82f69412da0f6d3335adf30400ec7bd2e8b48ff83bc26dc1911",
            "d60baa80ac99a00da6122ee32de425746d5ce1e7b00957dfabb51668daa6ef07",
            "563442abe46a7e361bf82c815f1288579148b139b6262b4cf72ddc45a1275133",
            "8543880f91cf88841973b0969e8123a928ff4750b4db8683425f280fbc5c7973753c2e1b996d691187e29a5fe3698855082e861c9f615aa629d9218230800ea9",
            "0c97ea9140e362b527456f3b7681f71f332654dcca659132e5a0550c3ea2bcd2bfc03f2b5be31ddf4a118c48d9ab8d1ec3ee189a81b5624f304c1a15d890da1a"),
    ]

    @Test("The hashed context, H(e), every message and both results equal the C program's values")
    func knownAnswers() throws {
        let suite = MutualSuite(.ristretto255SHA512)
        let a = try suite.secret(from: (1...31).map { UInt8($0) } + [0])
        let b = try suite.secret(from: (0..<31).map { UInt8(0xa0 + $0) } + [0])
        let config = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn, identifierType: .phone)
        let initiator = try MutualPSIInitiator(items: Self.itemsA, configuration: config, secret: a, sessionID: Self.session)
        #expect(HashedContext(mutual: initiator.context).bytes.hexString == Self.context)
        let expected = { (item: Identifier) in Self.expected[item.psiEncoding.hexString]! }
        let hasher = suite.hasher(for: initiator.context)
        for item in Self.itemsA + Self.itemsB {
            #expect(hasher.element(for: item.psiEncoding).hexString == expected(item).h)
        }
        var responder = try MutualPSIResponder(items: Self.itemsB, configuration: config.counterpart, secret: b)
        let reply = try responder.respond(to: initiator.blindedSet)
        let length = ComparisonHash.length(initiatorCount: 2, responderCount: 2)
        #expect(length == 6 && reply.initiatorSetReblinded.valueLength == 6)
        func values(_ message: MutualPSIMessage) -> Set<String> {
            Set(message.elements.map { $0.rawRepresentation.prefix(message.valueLength).hexString })
        }
        #expect(values(initiator.blindedSet) == Set(Self.itemsA.map { expected($0).a }))
        #expect(values(reply.responderBlindedSet) == Set(Self.itemsB.map { expected($0).b }))
        #expect(values(reply.initiatorSetReblinded) == Set(Self.itemsA.map { String(expected($0).c3.prefix(2 * length)) }))
        let done = try initiator.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        let step3 = try #require(done.responderSetReblinded)
        #expect(values(step3) == Set(Self.itemsB.map { String(expected($0).c4.prefix(2 * length)) }))
        let shared = Set(Self.itemsA).intersection(Self.itemsB)
        #expect(sharedItems(done.result) == shared)
        #expect(sharedItems(try responder.finish(responderSetReblinded: step3)) == shared)
        // The shared item's doubly-blinded point is the same from both sides (the C program checks a·b·H = b·a·H).
        #expect(expected(Self.itemsA[0]).ab == expected(Self.itemsB[0]).ab)
    }
}
