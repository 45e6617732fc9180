// libFuzzer target: the secret files (party state, member state, hub key) must be read or
// refused with an error, never crash, whatever their bytes. Each input is tried as it is, and
// "repaired" the way an attacker who can write the file would: its lengths made to add up and
// its BLAKE2b digest recomputed, so that the checks after the digest are reached too.
// Built only by scripts/fuzz.sh (SODIUM_PSI_FUZZ=1); see Package.swift.
import CSodium
import Foundation
import FuzzDriver
import SodiumPSI

let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-state-\(getpid()).state")

/// Writes `bytes` to the fuzz file with mode 0600 (the readers refuse anything looser).
func write(_ bytes: [UInt8]) -> Bool {
    let descriptor = open(path.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    guard fchmod(descriptor, 0o600) == 0 else { return false }
    return bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
}

/// The container's lengths (secret S at 11, body B and description L before the digest) made
/// consistent with the input's size, and its digest recomputed.
func repaired(_ input: [UInt8]) -> [UInt8]? {
    let header = 19, trailer = 48
    guard input.count >= header + trailer else { return nil }
    var bytes = input
    func uint64(_ offset: Int) -> UInt64 { bytes[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    func put(_ value: Int, at offset: Int) {
        withUnsafeBytes(of: UInt64(value).littleEndian) { for (i, byte) in $0.enumerated() { bytes[offset + i] = byte } }
    }
    let available = input.count - header - trailer
    let secret = Int(min(uint64(11), UInt64(available)))
    let body = Int(min(uint64(input.count - trailer), UInt64(available - secret)))
    put(secret, at: 11)
    put(body, at: input.count - trailer)
    put(available - secret - body, at: input.count - trailer + 8)
    crypto_generichash(&bytes[input.count - 32], 32, bytes, UInt64(input.count - 32), nil, 0)
    return bytes
}

func check(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: count))
    for bytes in [input, repaired(input)].compactMap({ $0 }) {
        guard write(bytes) else { continue }
        // Restoring reads every section: records, the sent order (a permutation), the elements.
        _ = try? MutualPSIInitiator(restoringFrom: path, parallelism: .serial)
        _ = try? MutualPSIResponder(restoringFrom: path, parallelism: .serial)
        _ = try? UnbalancedPSIMember(restoringFrom: path, parallelism: .serial)
        _ = try? HubKey.load(from: path)
    }
    return 0
}

runFuzzer { check($0, $1) }
