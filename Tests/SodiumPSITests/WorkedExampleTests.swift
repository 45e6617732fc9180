import Foundation
import Testing
@testable import SodiumPSI

/// The worked example of Docs/protocol.md: fixed secrets and inputs, every intermediate value.
///
/// The test recomputes the example with the library and checks that the document contains
/// exactly that text. Run with `SODIUM_PSI_WRITE_WORKED_EXAMPLE=path` to write the block.
@Suite("Docs/protocol.md worked example")
struct WorkedExampleTests {
    static let secretA: [UInt8] = (1...31).map { UInt8($0) } + [0]
    static let secretB: [UInt8] = (0..<31).map { UInt8(0xa0 + $0) } + [0]
    static let purpose = "worked example"
    static let itemsA = ["13800138000", "13912345678"]
    static let itemsB = ["+86 138 0013 8000", "15012345678"]

    static let session = try! SessionID(bytes: Array(0..<16))

    static func block() throws -> String {
        let suite = MutualSuite(.ristretto255SHA512)
        let a = try suite.secret(from: secretA), b = try suite.secret(from: secretB)
        let label = try PurposeLabel(purpose)
        let context = ExchangeContext(suite: .ristretto255SHA512, outcome: .bothLearn, purposeDigest: label.digest,
                                      sessionID: session, identifierType: .phone)
        let prefix = HashedContext(mutual: context).bytes
        let hasher = suite.hasher(for: context)
        var lines = ["```", "purpose label P      = \"\(purpose)\"  (\(label.bytes.hexString))",
                     "SHA-256(P)           = \(label.digest.hexString)",
                     "initiator key (A)    = \(context.initiator.bytes.hexString)",
                     "responder key (B)    = \(context.responder.bytes.hexString)",
                     "session              = \(session.bytes.hexString)",
                     "identifier type      = 0100 (phone numbers, no flags)",
                     "hashed context X     = \(prefix.hexString)",
                     "DST                  = \"\(String(decoding: MutualSuite.ristrettoDST, as: UTF8.self))\"",
                     "secret a (A)         = \(secretA.hexString)",
                     "secret b (B)         = \(secretB.hexString)"]
        func describe(_ side: String, _ raw: String, own: SecretBytes, peer: SecretBytes) throws {
            let id = try Identifier.phoneNumber(raw)
            let message = prefix + id.psiEncoding
            let uniform = HashToGroup(domainSeparationTag: MutualSuite.ristrettoDST).expandMessage(message, length: 64)
            let point = hasher.element(for: id.psiEncoding)
            let once = try suite.blind([id], context: context, secret: own, parallelism: .serial)[0]
            let twice = try suite.reblind([once], secret: peer, parallelism: .serial)[0]
            lines += ["", "\(side) item \"\(raw)\"",
                      "  canonical          = \(id.canonical)",
                      "  encoding e         = \(id.psiEncoding.hexString)",
                      "  hashed message     = \(message.hexString)",
                      "  expand_message_xmd = \(uniform.hexString)",
                      "  H(e)               = \(point.hexString)",
                      "  \(side == "A" ? "a·H(e)            " : "b·H(e)            ") = \(once.rawRepresentation.hexString)",
                      "  a·b·H(e)           = \(twice.rawRepresentation.hexString)"]
        }
        for item in itemsA { try describe("A", item, own: a, peer: b) }
        for item in itemsB { try describe("B", item, own: b, peer: a) }
        lines += ["```"]
        return lines.joined(separator: "\n")
    }

    @Test("The library reproduces every value of the worked example in Docs/protocol.md")
    func workedExample() throws {
        let text = try Self.block()
        if let path = ProcessInfo.processInfo.environment["SODIUM_PSI_WRITE_WORKED_EXAMPLE"] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Docs/protocol.md")
        let contents = try String(contentsOf: doc, encoding: .utf8)
        #expect(contents.contains(text))
        // The shared number is the first of each list, and it matches after double blinding.
        let lines = text.split(separator: "\n")
        let doubly = lines.filter { $0.contains("a·b·H(e)") }.map { $0.split(separator: "=").last! }
        #expect(doubly[0] == doubly[2])
        #expect(Set(doubly).count == 3)
    }
}
