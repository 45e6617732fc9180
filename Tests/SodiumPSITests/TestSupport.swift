import Foundation
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
