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
