// libFuzzer target: the message-file reader must refuse any bytes with an error, never crash.
// Built only by scripts/fuzz.sh (SODIUM_PSI_FUZZ=1); see Package.swift.
import Foundation
import FuzzDriver
import SodiumPSI

let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-message-\(getpid()).spsi")
let purpose = try! PurposeLabel("fuzz")
/// A fixed hub key, so that seed requests made under it pass the header checks.
let hubKey = HubKey(privateKey: try! OPRF.PrivateKey.derive(seed: [UInt8](repeating: 7, count: 32), info: [UInt8]()),
                    answerMode: .intersection)
/// The parties of the seeds (the test suite's fixed seeds): bank A writes to bank B; the hub
/// publishes and answers its member.
let bankA = try! PartyIdentity(seed: [UInt8](repeating: 0xA1, count: 32))
let bankB = try! PartyIdentity(seed: [UInt8](repeating: 0xB2, count: 32))
let hub = try! PartyIdentity(seed: [UInt8](repeating: 0xC3, count: 32))
let member = try! PartyIdentity(seed: [UInt8](repeating: 0xD4, count: 32))
let asB = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: bankB, peer: bankA.publicKey,
                                 identifierType: IdentifierType(kind: .plain), maximumPeerSetSize: 1 << 16, parallelism: .serial)
let hubServer = UnbalancedPSIHub(key: hubKey, identity: hub, purpose: purpose, identifierType: IdentifierType(kind: .plain),
                                 members: [member.publicKey], maximumRequestSize: 1 << 16, parallelism: .serial)

func check(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    guard (try? data.write(to: path)) != nil else { return 0 }
    // Any header, any expectation: inspect reads the whole file.
    _ = try? MessageFileReader.inspect(url: path)
    // The strict path a responder takes: the format and signature checks of any message, then
    // step 2's checks of a step 1 (sender, recipient, purpose, counts, every element).
    if let message = try? MutualPSIMessage.read(from: path) {
        var responder = try! MutualPSIResponder(items: [try! Identifier.plain("x")], configuration: asB)
        _ = try? responder.respond(to: message)
    }
    // Unbalanced PSI: a setup (tags or Bloom filter parameters and body) and a request.
    if let setup = try? UnbalancedSetup.read(from: path, hub: hub.publicKey, reader: member.publicKey),
       let lookup = try? UnbalancedSetupLookup(setup: setup) {
        _ = lookup.itemCount
    }
    if let request = try? UnbalancedRequest.read(from: path, for: hubServer) {
        _ = try? hubServer.respond(to: request)
    }
    // Chunked reading with a small chunk size.
    if let reader = try? MessageFileReader(url: path, expecting: MessageExpectation()) {
        while let chunk = try? reader.readChunk(maximumElements: 3), chunk != nil {}
    }
    return 0
}

runFuzzer { check($0, $1) }
