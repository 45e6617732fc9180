import Foundation
import Testing
@testable import SodiumPSI

/// A hub and a member working over files in one folder.
struct HubAndMember {
    let folder: URL
    let mode: UnbalancedAnswerMode
    var hub: UnbalancedPSIHub

    init(mode: UnbalancedAnswerMode = .intersection, limit: Int = 1_000) throws {
        folder = try Unbalanced.folder()
        self.mode = mode
        try UnbalancedPSIFileExchange.generateKey(at: folder.appendingPathComponent("hub.key"), answerMode: mode, rotate: false)
        hub = UnbalancedPSIHub(key: try HubKey.load(from: folder.appendingPathComponent("hub.key")), purpose: Unbalanced.purpose,
                               maximumRequestSize: limit, parallelism: Parallelism(threads: 2))
    }

    func url(_ name: String) -> URL { folder.appendingPathComponent(name) }
    func path(_ name: String) -> String { url(name).path }
    func cleanUp() { try? FileManager.default.removeItem(at: folder) }

    static func records(_ values: [String]) -> [ListRecord] {
        values.enumerated().map { ListRecord(identifier: try! Identifier.plain($0.element), original: $0.element, lineNumber: $0.offset + 1) }
    }

    @discardableResult
    func setup(_ values: [String], encoding: SetupEncoding = .truncatedTags(byteCount: 12), to name: String = "setup.spsi") throws -> UnbalancedSetup {
        try UnbalancedPSIFileExchange.publishSetup(records: Self.records(values), hub: hub, encoding: encoding, setupURL: url(name))
    }

    @discardableResult
    func request(_ values: [String], setup: String = "setup.spsi", state: String = "member.state", to name: String = "request.spsi") throws -> UnbalancedPSIMember {
        try UnbalancedPSIFileExchange.request(records: Self.records(values), purpose: Unbalanced.purpose, setupURL: url(setup),
                                              stateURL: url(state), requestURL: url(name), parallelism: Parallelism(threads: 2))
    }

    func respond(_ request: String = "request.spsi", to name: String = "response.spsi") throws {
        try UnbalancedPSIFileExchange.respond(hub: hub, requestURL: url(request), responseURL: url(name))
    }

    func finish(setup: String = "setup.spsi", deltas: [String] = [], response: String = "response.spsi") throws -> UnbalancedPSIFileExchange.Outcome {
        try UnbalancedPSIFileExchange.finish(stateURL: url("member.state"), responseURL: url(response), setupURL: url(setup),
                                             deltaURLs: deltas.map(url), parallelism: Parallelism(threads: 2))
    }

    /// Rotates the hub's key: a new key file over the old one, and the hub reloads it.
    mutating func rotate() throws {
        try UnbalancedPSIFileExchange.generateKey(at: url("hub.key"), answerMode: mode, rotate: true)
        hub = UnbalancedPSIHub(key: try HubKey.load(from: url("hub.key")), purpose: hub.purpose, maximumRequestSize: hub.maximumRequestSize,
                               parallelism: hub.parallelism)
    }
}

@Suite("Unbalanced PSI over files")
struct UnbalancedFileTests {
    static let hubList = (0..<80).map { "agent-\($0)" }
    static let memberList = ["agent-3", "nobody", "agent-79", "agent-3", "someone", "agent-40"]

    @Test("Setup, delta, request, response, finish: the matches as the member wrote them",
          arguments: [UnbalancedAnswerMode.intersection, .cardinalityOnly], Unbalanced.encodings)
    func roundTrip(mode: UnbalancedAnswerMode, encoding: SetupEncoding) throws {
        let files = try HubAndMember(mode: mode)
        defer { files.cleanUp() }
        let setup = try files.setup(Self.hubList, encoding: encoding)
        try UnbalancedPSIFileExchange.publishDelta(records: HubAndMember.records(["late-1", "late-2"]), hub: files.hub,
                                                   baseURL: files.url("setup.spsi"), deltaURL: files.url("delta.spsi"))
        let readBack = try UnbalancedSetup.read(from: files.url("setup.spsi"), purpose: Unbalanced.purpose, keyID: files.hub.key.keyID)
        #expect(readBack.setupID == setup.setupID && readBack.encoding == encoding && readBack.itemCount == 80)
        #expect(readBack.fileByteCount == (try FileManager.default.attributesOfItem(atPath: files.path("setup.spsi"))[.size] as! NSNumber).intValue)
        try files.request(Self.memberList + ["late-2"])
        #expect(try FileManager.default.attributesOfItem(atPath: files.path("member.state"))[.posixPermissions] as? NSNumber == 0o600)
        try files.respond()
        let outcome = try files.finish(deltas: ["delta.spsi"])
        #expect(outcome.requestSize == 6)
        #expect(outcome.setupItemCount == 82)
        #expect(outcome.result.count == 4)
        if mode == .intersection {
            #expect(outcome.matches.map(\.lineNumber) == [1, 3, 6, 7])
            #expect(outcome.matches.map(\.original) == ["agent-3", "agent-79", "agent-40", "late-2"])
        } else {
            #expect(outcome.matches.isEmpty)
        }
        // Without the delta, the late entry is not found.
        #expect(try files.finish().result.count == 3)
        // Headers name the protocol, step and mode.
        let header = try MessageFileReader.inspect(url: files.url("delta.spsi")).header
        #expect(header.kindDescription == "hub setup delta")
        #expect(header.modeDescription.hasPrefix(mode.description))
        #expect(header.keyID == files.hub.key.keyID.bytes)
        #expect(header.sessionID == setup.setupID)
    }

    @Test("Stale setup after rotation: the hub refuses the request, naming both keys")
    func staleSetupAfterRotation() throws {
        var files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(Self.hubList)
        let oldKey = files.hub.key.keyID
        try files.rotate()
        try files.request(Self.memberList)
        #expect(throws: UnbalancedPSIError.requestUnderOtherKey(path: files.path("request.spsi"), requestKeyID: oldKey.description,
                                                                hubKeyID: files.hub.key.keyID.description)) { try files.respond() }
        #expect(!FileManager.default.fileExists(atPath: files.path("response.spsi")))
        // A delta of the old setup is refused too: the rotated hub publishes a new full setup.
        #expect(throws: MessageFileError.keyMismatch(path: files.path("setup.spsi"), found: oldKey.description,
                                                     expected: files.hub.key.keyID.description)) {
            try UnbalancedPSIFileExchange.publishDelta(records: HubAndMember.records(["x"]), hub: files.hub, baseURL: files.url("setup.spsi"),
                                                       deltaURL: files.url("delta.spsi"))
        }
    }

    @Test("Wrong key id: a setup under another key than the request's, and a response under another key, are refused")
    func wrongKeyID() throws {
        var files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(Self.hubList, to: "old-setup.spsi")
        let oldKey = files.hub.key.keyID
        try files.request(Self.memberList, setup: "old-setup.spsi")
        try files.respond()
        try files.rotate()
        try files.setup(Self.hubList, to: "new-setup.spsi")
        #expect(throws: UnbalancedPSIError.setupUnderOtherKey(path: files.path("new-setup.spsi"), setupKeyID: files.hub.key.keyID.description,
                                                              requestKeyID: oldKey.description)) {
            try files.finish(setup: "new-setup.spsi")
        }
        // A response made under another key than the request's setup.
        let member = try UnbalancedPSIMember(restoringFrom: files.url("member.state"))
        let other = UnbalancedQueryContext(sessionID: member.context.sessionID, setupDigest: member.context.setupDigest, keyID: files.hub.key.keyID,
                                           purposeDigest: member.context.purposeDigest, answerMode: .intersection)
        let forged = try files.hub.respond(to: UnbalancedRequest(context: other, blindedElements: member.request.blindedElements))
        try forged.write(to: files.url("forged.spsi"))
        #expect(throws: UnbalancedPSIError.responseUnderOtherKey(path: files.path("forged.spsi"), responseKeyID: files.hub.key.keyID.description,
                                                                 setupKeyID: oldKey.description)) {
            try files.finish(setup: "old-setup.spsi", response: "forged.spsi")
        }
        #expect(try files.finish(setup: "old-setup.spsi").result.count == 3)
    }

    @Test("Oversize request: refused from its header, before any element is read")
    func oversizeRequest() throws {
        let files = try HubAndMember(limit: 5)
        defer { files.cleanUp() }
        try files.setup(Self.hubList)
        try files.request((0..<6).map { "m\($0)" })
        let error = UnbalancedPSIError.requestTooLarge(path: files.path("request.spsi"), count: 6, limit: 5)
        #expect(throws: error) { try files.respond() }
        // Even with the body cut off: the count alone decides.
        let handle = try FileHandle(forWritingTo: files.url("request.spsi"))
        try handle.truncate(atOffset: UInt64(MessageHeader.fixedByteCount + 10))
        try handle.close()
        #expect(throws: error) { try files.respond() }
        #expect(error.localizedDescription.contains("--max-request-items"))
    }

    @Test("Tampered response: refused by its digest")
    func tamperedResponse() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(Self.hubList)
        try files.request(Self.memberList)
        try files.respond()
        var bytes = [UInt8](try Data(contentsOf: files.url("response.spsi")))
        bytes[MessageHeader.fixedByteCount + 40] ^= 0x01
        try Data(bytes).write(to: files.url("response.spsi"))
        #expect(throws: MessageFileError.digestMismatch(path: files.path("response.spsi"))) { try files.finish() }
    }

    @Test("Wrong answer mode: a cardinality-only request to an intersection hub is refused, and the reverse")
    func wrongMode() throws {
        for (hubMode, requestMode) in [(UnbalancedAnswerMode.intersection, UnbalancedAnswerMode.cardinalityOnly), (.cardinalityOnly, .intersection)] {
            let files = try HubAndMember(mode: hubMode)
            defer { files.cleanUp() }
            let member = try UnbalancedPSIMember(items: Unbalanced.items(Self.memberList), purpose: Unbalanced.purpose,
                                                 setupDigest: Unbalanced.someSetupDigest, keyID: files.hub.key.keyID, answerMode: requestMode)
            try member.request.write(to: files.url("request.spsi"))
            #expect(throws: UnbalancedPSIError.answerModeMismatch(path: files.path("request.spsi"), found: requestMode.description,
                                                                  expected: hubMode.description)) { try files.respond() }
            #expect(throws: UnbalancedPSIError.answerModeMismatch(path: "request", found: requestMode.description, expected: hubMode.description)) {
                try files.hub.respond(to: member.request)
            }
        }
    }

    @Test("Wrong purpose: a request and a setup under another purpose label are refused")
    func wrongPurpose() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        try files.setup(Self.hubList)
        let other = try PurposeLabel("another purpose")
        let member = try UnbalancedPSIMember(items: Unbalanced.items(Self.memberList), purpose: other,
                                             setupDigest: Unbalanced.someSetupDigest, keyID: files.hub.key.keyID, answerMode: .intersection)
        try member.request.write(to: files.url("request.spsi"))
        #expect(throws: MessageFileError.purposeMismatch(path: files.path("request.spsi"), found: other.digest.hexString,
                                                         expected: Unbalanced.purpose.digest.hexString)) { try files.respond() }
        #expect(throws: MessageFileError.purposeMismatch(path: files.path("setup.spsi"), found: Unbalanced.purpose.digest.hexString,
                                                         expected: other.digest.hexString)) {
            try UnbalancedPSIFileExchange.request(records: HubAndMember.records(["a"]), purpose: other, setupURL: files.url("setup.spsi"),
                                                  stateURL: files.url("s"), requestURL: files.url("r"))
        }
    }

    @Test("Invalid request elements (identity, top bit set, repeat) are refused with their position")
    func invalidElements() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let member = try UnbalancedPSIMember(items: Unbalanced.items(["a", "b", "c"]), purpose: Unbalanced.purpose,
                                             setupDigest: Unbalanced.someSetupDigest, keyID: files.hub.key.keyID, answerMode: .intersection)
        var elements = member.request.blindedElements
        elements[1] = .zero
        try UnbalancedRequest(context: member.context, blindedElements: elements).write(to: files.url("request.spsi"))
        #expect(throws: UnbalancedPSIError.invalidElement(path: files.path("request.spsi"), index: 1,
                                                          reason: PSIError.identityElement(index: 1).localizedDescription)) { try files.respond() }
        elements = member.request.blindedElements
        elements[2] = elements[0]
        try UnbalancedRequest(context: member.context, blindedElements: elements).write(to: files.url("request.spsi"))
        #expect(throws: UnbalancedPSIError.invalidElement(path: files.path("request.spsi"), index: 2,
                                                          reason: PSIError.duplicateElement(index: 2, firstIndex: 0).localizedDescription)) { try files.respond() }
        elements = member.request.blindedElements
        elements[0].withUnsafeMutableBytes { $0[31] |= 0x80 }
        try UnbalancedRequest(context: member.context, blindedElements: elements).write(to: files.url("request.spsi"))
        #expect(throws: UnbalancedPSIError.invalidElement(path: files.path("request.spsi"), index: 0,
                                                          reason: PSIError.invalidElementEncoding(index: 0).localizedDescription)) { try files.respond() }
    }

    @Test("A filter setup whose body does not match m is refused")
    func badFilterFile() throws {
        let files = try HubAndMember()
        defer { files.cleanUp() }
        let setup = try files.setup(Self.hubList, encoding: .bloomFilter(falsePositiveRate: 0.01))
        var header = setup.header
        var body = setup.bloomFilter!.encodedBody()
        body.removeLast(8)
        header.count -= 1
        let writer = try MessageFileWriter(url: files.url("short.spsi"), header: header, signer: TestParties.hub)
        try body.withUnsafeBytes { try writer.append(elements: $0) }
        try writer.commit()
        #expect(throws: UnbalancedPSIError.self) { try UnbalancedSetup.read(from: files.url("short.spsi")) }
        do { _ = try UnbalancedSetup.read(from: files.url("short.spsi")) } catch let error as UnbalancedPSIError {
            guard case .invalidSetup(let path, let reason) = error else { Issue.record("\(error)"); return }
            #expect(path == files.path("short.spsi"))
            #expect(reason.contains("for m = \(setup.bloomFilter!.bitCount) bits"))
        }
    }

}

/// Seeds of the `FuzzMessageFile` libFuzzer target: a mutual step 1 from bank A to bank B (whole,
/// its header alone, and cut short), a tags setup, a Bloom filter setup and a request under the
/// fuzz target's fixed hub key, all signed by the test parties' fixed identities. Run with
/// `SODIUM_PSI_WRITE_FUZZ_SEEDS=1` to rewrite them; otherwise the committed seeds must still be
/// accepted, so that the fuzzer starts from files that reach the deepest checks.
@Suite("Unbalanced fuzz seeds")
struct UnbalancedFuzzSeedTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus/FuzzMessageFile")
    static let purpose = try! PurposeLabel("fuzz")
    /// The key of Tests/Fuzz/FuzzMessageFile/main.swift.
    static let key = HubKey(privateKey: try! OPRF.PrivateKey.derive(seed: [UInt8](repeating: 7, count: 32), info: [UInt8]()),
                            answerMode: .intersection)

    @Test("Seeds are accepted by the unbalanced readers")
    func seeds() throws {
        let hub = UnbalancedPSIHub(key: Self.key, purpose: Self.purpose, parallelism: .serial)
        let tags = Self.corpus.appendingPathComponent("unbalanced-setup-tags.spsi")
        let bloom = Self.corpus.appendingPathComponent("unbalanced-setup-bloom.spsi")
        let request = Self.corpus.appendingPathComponent("unbalanced-request.spsi")
        if ProcessInfo.processInfo.environment["SODIUM_PSI_WRITE_FUZZ_SEEDS"] != nil {
            let items = Unbalanced.items(["a", "b", "c"])
            try hub.makeSetup(items: items, encoding: .truncatedTags(byteCount: 8)).write(to: tags)
            try hub.makeSetup(items: items, encoding: .bloomFilter(falsePositiveRate: 0.01)).write(to: bloom)
            try UnbalancedPSIMember(items: Unbalanced.items(["a", "z"]), purpose: Self.purpose,
                                    setupDigest: try UnbalancedSetup.read(from: tags).digest, keyID: Self.key.keyID,
                                    answerMode: .intersection).request.write(to: request)
            let config = MutualPSIConfiguration(purpose: Self.purpose, outcome: .bothLearn)
            try MutualPSIInitiator(items: Unbalanced.items(["one", "two"]), configuration: config).blindedSet
                .write(to: Self.corpus.appendingPathComponent("example.spsi"))
            let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent("example.spsi")))
            try Data(bytes.prefix(MessageHeader.fixedByteCount)).write(to: Self.corpus.appendingPathComponent("header-only.spsi"))
            try Data(bytes.prefix(MessageHeader.fixedByteCount + 40)).write(to: Self.corpus.appendingPathComponent("truncated.spsi"))
        }
        #expect(try MutualPSIMessage.read(from: Self.corpus.appendingPathComponent("example.spsi"), kind: .initiatorBlindedSet,
                                          suite: .ristretto255SHA512, purpose: Self.purpose, outcome: .bothLearn,
                                          sessionID: nil).elements.count == 2)
        #expect(try UnbalancedSetup.read(from: tags, purpose: Self.purpose, keyID: Self.key.keyID).itemCount == 3)
        #expect(try UnbalancedSetup.read(from: bloom, purpose: Self.purpose, keyID: Self.key.keyID).bloomFilter?.itemCount == 3)
        let read = try UnbalancedRequest.read(from: request, purpose: Self.purpose, key: Self.key, maximumCount: 10)
        #expect(try hub.respond(to: read).evaluatedElements.count == 2)
    }
}
