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

func check(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    guard (try? data.write(to: path)) != nil else { return 0 }
    // Any header, any expectation: inspect reads the whole file.
    _ = try? MessageFileReader.inspect(url: path)
    // The strict path a responder takes, with and without the encoding checks.
    for checkEncodings in [true, false] {
        if let message = try? MutualPSIMessage.read(from: path, kind: .initiatorBlindedSet, suite: .ristretto255SHA512,
                                                   purposeDigest: purpose.digest, outcome: .bothLearn, sessionID: nil,
                                                   maximumCount: 1 << 16, checkEncodings: checkEncodings) {
            // A message that was accepted must also be usable.
            var responder = try! MutualPSIResponder(items: [try! Identifier.plain("x")],
                                                     configuration: MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn,
                                                                                           parallelism: .serial))
            _ = try? responder.respond(to: message)
        }
    }
    // Unbalanced PSI: a setup (tags or Bloom filter parameters and body) and a request.
    if let setup = try? UnbalancedSetup.read(from: path), let lookup = try? UnbalancedSetupLookup(setup: setup) {
        _ = lookup.itemCount
    }
    if let request = try? UnbalancedRequest.read(from: path, purpose: purpose, key: hubKey, maximumCount: 1 << 16) {
        _ = try? UnbalancedPSIHub(key: hubKey, purpose: purpose, parallelism: .serial).respond(to: request)
    }
    // Chunked reading with a small chunk size.
    if let reader = try? MessageFileReader(url: path, expecting: MessageExpectation()) {
        while let chunk = try? reader.readChunk(maximumElements: 3), chunk != nil {}
    }
    return 0
}

runFuzzer { check($0, $1) }
