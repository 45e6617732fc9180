import Foundation
import Testing
@testable import SodiumPSI

// The examples of Docs/integration.md and README.md, compiled and run here; the tests below
// check that the documents hold exactly this code, so the documented code always compiles.

// BEGIN integration example
func exchange(listA: [String], listB: [String]) async throws -> (MutualPSIResult, MutualPSIResult) {
    let identityA = try PartyIdentity(seed: [UInt8](repeating: 1, count: 32))   // from your key store
    let identityB = try PartyIdentity(seed: [UInt8](repeating: 2, count: 32))
    let purpose = try PurposeLabel("2026 agent phone numbers")
    let phones = IdentifierType(kind: .phoneNumber)
    let configA = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: identityA,
                                         peer: identityB.publicKey, identifierType: phones)
    let configB = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: identityB,
                                         peer: identityA.publicKey, identifierType: phones)
    let executor = PSIExecutor(threads: 2)
    // Records as a database cursor would deliver them.
    func cursor(_ numbers: [String]) -> AsyncThrowingStream<Identifier, any Error> {
        AsyncThrowingStream { continuation in
            for number in numbers {
                do { continuation.yield(try Identifier.phoneNumber(number)) } catch { continuation.finish(throwing: error) }
            }
            continuation.finish()
        }
    }
    // Each message crosses the "network" as bytes only.
    func transmit(_ message: MutualPSIMessage) throws -> MutualPSIMessage {
        try MutualPSIMessage(serializedBytes: message.serializedBytes)
    }

    let a = try await MutualPSIInitiator(items: cursor(listA), configuration: configA, executor: executor)
    var b = try await MutualPSIResponder(items: cursor(listB), configuration: configB, executor: executor)
    let reply = try await b.respond(to: try transmit(a.blindedSet), executor: executor)
    let done = try await a.finish(responderBlindedSet: try transmit(reply.responderBlindedSet),
                                  initiatorSetReblinded: try transmit(reply.initiatorSetReblinded), executor: executor)
    let resultB = try await b.finish(responderSetReblinded: try transmit(done.responderSetReblinded!), executor: executor)
    return (done.result, resultB)
}
// END integration example

/// Messages in flight, taken in the order they were sent (for the README example).
private final class Mailbox {
    var messages: [MutualPSIMessage] = []
    func take() -> MutualPSIMessage { messages.removeFirst() }
}

/// The README's library example, with what it leaves to the reader (identities, lists, a
/// transport) filled in.
private func readmeExample(numbersA: [String], numbersB: [String]) throws -> (MutualPSIResult, MutualPSIResult, [String]) {
    let identityA = TestParties.a, identityB = TestParties.b
    let publicKeyA = identityA.publicKey, publicKeyB = identityB.publicKey
    let mailbox = Mailbox()
    func send(_ message: MutualPSIMessage) { mailbox.messages.append(try! MutualPSIMessage(serializedBytes: message.serializedBytes)) }
    var step1: MutualPSIMessage { mailbox.take() }
    var m2a: MutualPSIMessage { mailbox.take() }
    var m2b: MutualPSIMessage { mailbox.take() }
    var m3: MutualPSIMessage { mailbox.take() }
    var printed = [String]()
    func print(_ value: Any) { printed.append("\(value)") }
    // BEGIN readme example
    // Each institution has an Ed25519 identity (kept in its own key store: PartyIdentity(seed:)) and
    // knows the other's public key.
    let purpose = try PurposeLabel("2026 agent phone numbers")
    let phones = IdentifierType(kind: .phoneNumber)
    // Institution A
    let configA = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn,   // or .initiatorLearns, .cardinalityOnly
                                         identity: identityA, peer: publicKeyB, identifierType: phones)
    let a = try MutualPSIInitiator(items: try numbersA.map(Identifier.phoneNumber), configuration: configA)
    send(a.blindedSet)                             // its bytes: a.blindedSet.serializedBytes; as a file: write(to:)
    // Institution B
    let configB = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn,
                                         identity: identityB, peer: publicKeyA, identifierType: phones)
    var b = try MutualPSIResponder(items: try numbersB.map(Identifier.phoneNumber), configuration: configB)
    let reply = try b.respond(to: step1)          // step1 = try MutualPSIMessage(serializedBytes: received)
    send(reply.responderBlindedSet); send(reply.initiatorSetReblinded)
    // A
    let done = try a.finish(responderBlindedSet: m2a, initiatorSetReblinded: m2b)
    print(done.result)                             // .intersection(...)
    send(done.responderSetReblinded!)              // nil when only the initiator learns
    // B
    let resultB = try b.finish(responderSetReblinded: m3)
    // END readme example
    return (done.result, resultB, printed)
}

@Suite("Documented examples")
struct IntegrationExampleTests {
    static let listA = ["13800138000", "13912345678", "+86 137 0000 0001", "15000000000"]
    static let listB = ["+8613800138000", "15000000000", "18600000000"]
    static var shared: Set<Identifier> {
        Set(try! listA.map(Identifier.phoneNumber)).intersection(try! listB.map(Identifier.phoneNumber))
    }

    /// The lines between `// BEGIN name` and `// END name` in this file, without their indent.
    static func compiledExample(_ name: String, indent: Int) throws -> String {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: String(repeating: " ", count: indent) + "// BEGIN \(name)"))
        let end = try #require(lines.firstIndex(of: String(repeating: " ", count: indent) + "// END \(name)"))
        return lines[(start + 1)..<end].map { String($0.dropFirst(min(indent, $0.prefix { $0 == " " }.count))) }
            .joined(separator: "\n")
    }

    /// The repository's file at `path`.
    static func document(_ path: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("Docs/integration.md: two in-process parties stream records from an AsyncSequence and exchange only message bytes")
    func integrationExample() async throws {
        let (resultA, resultB) = try await exchange(listA: Self.listA, listB: Self.listB)
        #expect(sharedItems(resultA) == Self.shared && Self.shared.count == 2)
        #expect(sharedItems(resultB) == Self.shared)
        let code = try Self.compiledExample("integration example", indent: 0)
        #expect(try Self.document("Docs/integration.md").contains("```swift\n" + code + "\n```"))
    }

    @Test("README.md: the library snippet is this compiled code, and finds the shared numbers")
    func readme() throws {
        let (resultA, resultB, printed) = try readmeExample(numbersA: Self.listA, numbersB: Self.listB)
        #expect(sharedItems(resultA) == Self.shared)
        #expect(sharedItems(resultB) == Self.shared)
        #expect(printed.count == 1 && printed[0].hasPrefix("intersection("))
        let code = try Self.compiledExample("readme example", indent: 4)
        #expect(try Self.document("README.md").contains("```swift\nimport SodiumPSI\n\n" + code + "\n```"))
    }
}

@Suite("Async steps: executor, progress, cancellation")
struct AsyncStepTests {
    static let config = MutualPSIConfiguration(purpose: try! PurposeLabel("async"), outcome: .bothLearn,
                                               streaming: StreamingOptions(chunkSize: 64))

    static func stream(_ values: some Sequence<String>) -> AsyncStream<Identifier> {
        let items = plainItems(values)
        return AsyncStream { continuation in
            for item in items { continuation.yield(item) }
            continuation.finish()
        }
    }

    @Test("Progress arrives as an AsyncSequence: every step's reports, in order, ending at each total")
    func progress() async throws {
        let executor = PSIExecutor(threads: 2)
        let a = try await MutualPSIInitiator(items: Self.stream((0..<300).map { "p\($0)" }), configuration: Self.config,
                                             executor: executor)
        var b = try MutualPSIResponder(items: plainItems((0..<100).map { "p\($0)" }), configuration: Self.config.counterpart)
        _ = try await b.respond(to: a.blindedSet, executor: executor)
        var reports = [ProgressReport]()
        for await report in executor.progress {
            reports.append(report)
            if report == ProgressReport(step: "re-blinding the peer's items", completed: 300, total: 300) { break }
        }
        let blinding = reports.filter { $0.step == "blinding own items" }.map(\.completed)
        #expect(blinding.last == 300 && blinding == blinding.sorted())
        #expect(reports.contains(ProgressReport(step: "re-blinding the peer's items", completed: 300, total: 300)))
    }

    @Test("A cancelled step throws CancellationError and changes nothing: the party answers afterwards as if never asked")
    func cancellation() async throws {
        let executor = PSIExecutor(threads: 1)
        // A cursor that never ends: blinding stops at the next item once the task is cancelled.
        let endless = AsyncStream<Identifier> { continuation in
            Task {
                var i = 0
                while !Task.isCancelled {
                    continuation.yield(try! Identifier.plain("e\(i)"))
                    i += 1
                    if i % 100 == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
                }
                continuation.finish()
            }
        }
        let blinding = Task { try await MutualPSIInitiator(items: endless, configuration: Self.config, executor: executor) }
        try await Task.sleep(nanoseconds: 50_000_000)
        blinding.cancel()
        await #expect(throws: CancellationError.self) { try await blinding.value }

        // Re-blinding a large step 1 stops at its next chunk.
        let a = try MutualPSIInitiator(items: plainItems((0..<3_000).map { "c\($0)" }), configuration: Self.config)
        let b = try MutualPSIResponder(items: plainItems((0..<50).map { "c\($0)" }), configuration: Self.config.counterpart)
        let answering = Task {
            var copy = b
            return try await copy.respond(to: a.blindedSet, executor: executor)
        }
        answering.cancel()
        await #expect(throws: CancellationError.self) { try await answering.value }
        var again = b
        let reply = try again.respond(to: a.blindedSet)
        let done = try a.finish(responderBlindedSet: reply.responderBlindedSet, initiatorSetReblinded: reply.initiatorSetReblinded)
        #expect(done.result.count == 50)
    }
}
