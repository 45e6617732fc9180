import Foundation
import Testing
@testable import SodiumPSI
import CSodium

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

extension SessionID {
    /// The session of tests that blind outside an exchange: 16 zero bytes.
    static let zero = try! SessionID(bytes: [UInt8](repeating: 0, count: byteCount))
}

extension MutualSuite {
    /// Blinds items in an exchange between the test banks (A initiates) under `purpose`, in
    /// session ``SessionID/zero``.
    func blind(_ items: [Identifier], purpose: PurposeLabel, secret: SecretBytes, parallelism: Parallelism,
               identifierType: IdentifierType = .plain, sessionID: SessionID = .zero) throws -> [BlindedElement] {
        try blind(items, context: ExchangeContext(suite: suite, outcome: .bothLearn, purposeDigest: purpose.digest,
                                                  sessionID: sessionID, identifierType: identifierType),
                  secret: secret, parallelism: parallelism)
    }
}

/// The error a step in memory throws for a bad element of a message of `kind` (as for a file,
/// named by the message).
func elementError(_ kind: MutualPSIMessage.Kind, _ error: PSIError) -> MessageFileError {
    MessageFileError.wrapping(path: kind.nameInMemory, elementError: error) as! MessageFileError
}

extension MutualPSIMessage {
    /// A message signed by its sender (one of the test parties): how a cheating peer makes a
    /// forged message that passes the signature check.
    init(kind: Kind, context: ExchangeContext, elements: [BlindedElement], valueLength: Int = BlindedElement.byteCount) {
        self.init(kind: kind, context: context, elements: elements, valueLength: valueLength,
                  signedBy: TestParties.identity(of: context.parties(of: kind).sender))
    }

    /// Reads a message file as its recipient with every check a step makes before it uses one:
    /// the header against `configuration`, the signature and the digest, and every element
    /// (valid for the suite, not zero, no repeats).
    static func read(from url: URL, kind: Kind, configuration: MutualPSIConfiguration, sessionID: SessionID?,
                     count: Int? = nil) throws -> MutualPSIMessage {
        let compared = kind == .initiatorSetReblinded || kind == .responderSetReblinded
        let reader = try MessageFileReader(url: url, expecting: .mutual(
            kind, configuration: configuration, sessionID: sessionID,
            maximumCount: compared ? nil : configuration.maximumPeerSetSize, count: count,
            elementSize: compared ? nil : BlindedElement.byteCount))
        while try reader.readChunk(maximumElements: 1 << 15) != nil {}
        let message = try MutualPSIMessage.read(from: url)
        var first = [BlindedElement: Int]()
        let suite = MutualSuite(reader.header.suite)
        for (index, element) in message.elements.enumerated() {
            do { try suite.checkNotZero(element, index: index) } catch let error as PSIError {
                throw MessageFileError.wrapping(path: url.path, elementError: error)
            }
            if let earlier = first[element] {
                throw MessageFileError.duplicateElement(path: url.path, index: index, firstIndex: earlier)
            }
            first[element] = index
        }
        if !compared {
            do { try suite.check(message.elements, parallelism: .allCores) } catch let error as PSIError {
                throw MessageFileError.wrapping(path: url.path, elementError: error)
            }
        }
        return message
    }
}

// The test banks' steps: identity first, then the library's arguments (A is the initiator, B the responder).
extension MutualPSIInitiator {
    init(identity: PartyIdentity, restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        try self.init(restoringFrom: url, identity: identity, parallelism: parallelism)
    }
}

extension MutualPSIInitiator {
    /// `sentOrder[position]` is the index of the item sent at `position`, from the kept state.
    var sentOrder: [Int] {
        get throws {
            var order = [Int]()
            try state.reader.forEachSentOrderChunk(1 << 16) { _, chunk in order += chunk.map { Int($0) } }
            return order
        }
    }
}

extension MutualPSIResponder {
    /// After step 2: the hashes of the initiator's set re-blinded that step 3 must match, as kept.
    func keptPeerHashes() throws -> [BlindedElement] {
        var all = [BlindedElement]()
        try #require(state).reader.forEachElementChunk(peer: true, 1 << 16) { _, chunk in all += chunk }
        return all
    }

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

    init(items: [Identifier], purpose: PurposeLabel, setupDigest: [UInt8], keyID: HubKeyID, answerMode: UnbalancedAnswerMode,
         parallelism: Parallelism = .allCores) throws {
        try self.init(items: items, purpose: purpose, identifierType: .plain, setupDigest: setupDigest, keyID: keyID,
                      answerMode: answerMode, identity: TestParties.member, hub: TestParties.hub.publicKey, parallelism: parallelism)
    }

    init(restoringFrom url: URL) throws {
        try self.init(restoringFrom: url, identity: TestParties.member)
    }
}

extension UnbalancedQueryContext {
    init(sessionID: SessionID, setupDigest: [UInt8], keyID: HubKeyID, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode) {
        self.init(sessionID: sessionID, setupDigest: setupDigest, keyID: keyID, purposeDigest: purposeDigest, answerMode: answerMode,
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
                        parallelism: Parallelism = .allCores, replacingState: Bool = false) throws -> UnbalancedPSIMember {
        try request(records: records, purpose: purpose, identifierType: .plain, identity: TestParties.member,
                    hub: TestParties.hub.publicKey, setupURL: setupURL, stateURL: stateURL, requestURL: requestURL,
                    parallelism: parallelism, replacingState: replacingState)
    }

    static func finish(stateURL: URL, responseURL: URL, setupURL: URL, deltaURLs: [URL] = [],
                       parallelism: Parallelism = .allCores) throws -> Outcome {
        try finish(stateURL: stateURL, identity: TestParties.member, hub: TestParties.hub.publicKey, responseURL: responseURL,
                   setupURL: setupURL, deltaURLs: deltaURLs, parallelism: parallelism)
    }
}

/// A secret-file container taken apart, to forge its parts and put it back together with its
/// lengths and BLAKE2b digest recomputed, as anyone who can write the file can.
struct ForgedContainer {
    var header: [UInt8]
    var secret: [UInt8]
    var body: [UInt8]
    var description: [UInt8]

    init(_ bytes: [UInt8]) {
        func uint64(_ offset: Int) -> Int { Int(bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
        header = Array(bytes[0..<11])
        let s = uint64(11), b = uint64(bytes.count - 48), l = uint64(bytes.count - 40)
        secret = Array(bytes[19..<(19 + s)])
        body = Array(bytes[(19 + s)..<(19 + s + b)])
        description = Array(bytes[(19 + s + b)..<(19 + s + b + l)])
    }

    init(contentsOf url: URL) throws { self.init([UInt8](try Data(contentsOf: url))) }

    /// The container's bytes, lengths and digest recomputed.
    var bytes: [UInt8] {
        func le(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(v).littleEndian) { Array($0) } }
        return redigested(header + le(secret.count) + secret + body + description + le(body.count) + le(description.count) + [UInt8](repeating: 0, count: 32))
    }

    /// Edits the description as a JSON object.
    mutating func editDescription(_ change: (inout [String: Any]) -> Void) throws {
        var object = try JSONSerialization.jsonObject(with: Data(description)) as! [String: Any]
        change(&object)
        description = [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// Writes the forged container with mode 0600.
    func write(to url: URL) throws { try SecretFile.write(bytes, to: url) }
}

/// `bytes` with its last 32 bytes replaced by the BLAKE2b-256 of the rest (libsodium's
/// one-shot `crypto_generichash`, independent of the library's streaming digest).
func redigested(_ bytes: [UInt8]) -> [UInt8] {
    var out = Array(bytes.dropLast(32))
    var digest = [UInt8](repeating: 0, count: 32)
    crypto_generichash(&digest, 32, out, UInt64(out.count), nil, 0)
    out += digest
    return out
}

/// A message file's bytes after an edit, with its trailer made valid again: the digest
/// recomputed and signed by the sender its header names (one of the test parties), as a sender
/// forging its own file could, so that only the edit is wrong.
func resigned(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    let digest = sha256(Array(b.dropLast(MessageHeader.trailerByteCount)))
    let sender = TestParties.identity(of: PartyPublicKey(uncheckedBytes: Array(b[84..<116])))
    b.replaceSubrange((b.count - MessageHeader.trailerByteCount)..., with: digest + sender.signature(of: MessageHeader.signedBytes(digest: digest)))
    return b
}
