import Foundation
@testable import SodiumPSI

/// Test helpers shared by the test files.
enum Fixtures {
    /// The JSON vectors committed under `Resources/`.
    static func resource(_ name: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try Data(contentsOf: url)
    }
}

/// Hex decoding for test literals; traps on malformed literals.
func hex(_ string: String) -> [UInt8] {
    guard let bytes = [UInt8](hexString: string) else { fatalError("bad hex literal in test: \(string)") }
    return bytes
}

/// A small deterministic generator (SplitMix64) so property tests are reproducible by seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The parties of the tests, from fixed seeds: two banks (A initiates, B responds), a hub and
/// its member, and an outsider nobody trusts.
enum TestParties {
    static let a = try! PartyIdentity(seed: [UInt8](repeating: 0xA1, count: 32))
    static let b = try! PartyIdentity(seed: [UInt8](repeating: 0xB2, count: 32))
    static let hub = try! PartyIdentity(seed: [UInt8](repeating: 0xC3, count: 32))
    static let member = try! PartyIdentity(seed: [UInt8](repeating: 0xD4, count: 32))
    static let outsider = try! PartyIdentity(seed: [UInt8](repeating: 0xE5, count: 32))

    /// The identity whose public key is `key`.
    static func identity(of key: PartyPublicKey) -> PartyIdentity {
        [a, b, hub, member, outsider].first { $0.publicKey == key }!
    }
}

extension IdentifierType {
    static let plain = IdentifierType(kind: .plain)
    static let phone = IdentifierType(kind: .phoneNumber)
}

extension MutualPSIConfiguration {
    /// Party A's configuration (peer B), over plain identifiers unless said otherwise; the
    /// responder uses ``counterpart``.
    init(purpose: PurposeLabel, outcome: MutualPSIOutcome, suite: PSISuite = .ristretto255SHA512,
         identifierType: IdentifierType = .plain, maximumPeerSetSize: Int = defaultMaximumPeerSetSize,
         parallelism: Parallelism = .allCores, progress: ProgressHandler? = nil, streaming: StreamingOptions = .default) {
        self.init(purpose: purpose, outcome: outcome, identity: TestParties.a, peer: TestParties.b.publicKey,
                  identifierType: identifierType, suite: suite, maximumPeerSetSize: maximumPeerSetSize,
                  parallelism: parallelism, progress: progress, streaming: streaming)
    }

    /// The same agreement seen from the peer: identity and peer swapped.
    var counterpart: MutualPSIConfiguration {
        var other = self
        other.identity = TestParties.identity(of: peer)
        other.peer = identity.publicKey
        return other
    }
}

extension ExchangeContext {
    /// A context between the test banks A (initiator) and B, over plain identifiers.
    init(suite: PSISuite, outcome: MutualPSIOutcome, purposeDigest: [UInt8], sessionID: SessionID,
         identifierType: IdentifierType = .plain) {
        self.init(suite: suite, outcome: outcome, purposeDigest: purposeDigest, sessionID: sessionID,
                  initiator: TestParties.a.publicKey, responder: TestParties.b.publicKey, identifierType: identifierType)
    }
}

extension MutualPSIMessage {
    /// Writes the message signed by its sender (one of the test parties).
    func write(to url: URL) throws {
        try write(to: url, signedBy: TestParties.identity(of: sender))
    }
}

// The test banks' steps: identity first, then the library's arguments (A is the initiator, B the responder).
extension MutualPSIInitiator {
    init(identity: PartyIdentity, restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        try self.init(restoringFrom: url, identity: identity, parallelism: parallelism)
    }
}

extension MutualPSIResponder {
    init(identity: PartyIdentity, restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        try self.init(restoringFrom: url, identity: identity, parallelism: parallelism)
    }
}

extension MutualPSIFileExchange {
    static func finishInitiator(identity: PartyIdentity, stateURL: URL, responderSetURL: URL, reblindedURL: URL, replyURL: URL?,
                                parallelism: Parallelism = .allCores, progress: ProgressHandler? = nil,
                                streaming: StreamingOptions = .default) throws -> Outcome {
        try finishInitiator(stateURL: stateURL, identity: identity, peer: TestParties.b.publicKey, responderSetURL: responderSetURL,
                            reblindedURL: reblindedURL, replyURL: replyURL, parallelism: parallelism, progress: progress,
                            streaming: streaming)
    }

    static func finishResponder(identity: PartyIdentity, stateURL: URL, replyURL: URL, parallelism: Parallelism = .allCores,
                                progress: ProgressHandler? = nil, streaming: StreamingOptions = .default) throws -> Outcome {
        try finishResponder(stateURL: stateURL, identity: identity, peer: TestParties.a.publicKey, replyURL: replyURL,
                            parallelism: parallelism, progress: progress, streaming: streaming)
    }
}

extension MutualPSIMessage {
    /// Reads a message as its recipient among the test banks (B for steps 1 and 3, A for step 2).
    static func read(from url: URL, kind: Kind, suite: PSISuite, purpose: PurposeLabel, outcome: MutualPSIOutcome,
                     sessionID: SessionID?, maximumCount: Int? = nil, count: Int? = nil,
                     identifierType: IdentifierType = .plain) throws -> MutualPSIMessage {
        var configuration = MutualPSIConfiguration(purpose: purpose, outcome: outcome, suite: suite, identifierType: identifierType,
                                                   maximumPeerSetSize: maximumCount ?? Int.max)
        if kind.isSentByInitiator { configuration = configuration.counterpart }
        return try read(from: url, kind: kind, configuration: configuration, sessionID: sessionID, count: count)
    }
}

// The test hub (TestParties.hub) and its one member (TestParties.member), over plain identifiers.
extension UnbalancedPSIHub {
    init(key: HubKey, purpose: PurposeLabel, maximumRequestSize: Int = defaultMaximumRequestSize, parallelism: Parallelism = .allCores) {
        self.init(key: key, identity: TestParties.hub, purpose: purpose, identifierType: .plain,
                  members: [TestParties.member.publicKey], maximumRequestSize: maximumRequestSize, parallelism: parallelism)
    }
}

extension UnbalancedPSIMember {
    init(items: [Identifier], purpose: PurposeLabel, setup: UnbalancedSetup, parallelism: Parallelism = .allCores) throws {
        try self.init(items: items, purpose: purpose, identifierType: .plain, setup: setup, identity: TestParties.member,
                      parallelism: parallelism)
    }

    init(items: [Identifier], purpose: PurposeLabel, keyID: HubKeyID, answerMode: UnbalancedAnswerMode,
         parallelism: Parallelism = .allCores) throws {
        try self.init(items: items, purpose: purpose, identifierType: .plain, keyID: keyID, answerMode: answerMode,
                      identity: TestParties.member, hub: TestParties.hub.publicKey, parallelism: parallelism)
    }

    init(restoringFrom url: URL) throws {
        try self.init(restoringFrom: url, identity: TestParties.member)
    }
}

extension UnbalancedQueryContext {
    init(sessionID: SessionID, keyID: HubKeyID, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode) {
        self.init(sessionID: sessionID, keyID: keyID, purposeDigest: purposeDigest, answerMode: answerMode,
                  member: TestParties.member.publicKey, hub: TestParties.hub.publicKey, identifierType: .plain)
    }
}

extension UnbalancedSetup {
    /// Reads a setup of the test hub as its member.
    static func read(from url: URL, purpose: PurposeLabel? = nil, keyID: HubKeyID? = nil) throws -> UnbalancedSetup {
        try read(from: url, hub: TestParties.hub.publicKey, reader: TestParties.member.publicKey, purpose: purpose, keyID: keyID)
    }

    func write(to url: URL) throws { try write(to: url, signedBy: TestParties.identity(of: hub)) }
}

extension UnbalancedRequest {
    func write(to url: URL) throws { try write(to: url, signedBy: TestParties.identity(of: context.member)) }

    static func read(from url: URL, purpose: PurposeLabel, key: HubKey, maximumCount: Int) throws -> UnbalancedRequest {
        try read(from: url, for: UnbalancedPSIHub(key: key, purpose: purpose, maximumRequestSize: maximumCount))
    }
}

extension UnbalancedResponse {
    func write(to url: URL) throws { try write(to: url, signedBy: TestParties.identity(of: context.hub)) }
}

extension UnbalancedPSIFileExchange {
    static func request(records: [ListRecord], purpose: PurposeLabel, setupURL: URL, stateURL: URL, requestURL: URL,
                        parallelism: Parallelism = .allCores) throws -> UnbalancedPSIMember {
        try request(records: records, purpose: purpose, identifierType: .plain, identity: TestParties.member,
                    hub: TestParties.hub.publicKey, setupURL: setupURL, stateURL: stateURL, requestURL: requestURL,
                    parallelism: parallelism)
    }

    static func finish(stateURL: URL, responseURL: URL, setupURL: URL, deltaURLs: [URL] = [],
                       parallelism: Parallelism = .allCores) throws -> Outcome {
        try finish(stateURL: stateURL, identity: TestParties.member, hub: TestParties.hub.publicKey, responseURL: responseURL,
                   setupURL: setupURL, deltaURLs: deltaURLs, parallelism: parallelism)
    }
}
