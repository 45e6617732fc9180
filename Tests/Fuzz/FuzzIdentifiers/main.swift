// libFuzzer target: identifier parsers must accept or refuse any text, never crash, and
// canonical forms must be fixed points (parsing a canonical form gives it back).
// Built only by scripts/fuzz.sh (SODIUM_PSI_FUZZ=1); see Package.swift.
import Foundation
import FuzzDriver
import SodiumPSI

func check(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    if let phone = try? Identifier.phoneNumber(text) {
        let again = try? Identifier.phoneNumber(phone.canonical)
        precondition(again == phone, "phone canonical form is not a fixed point")
        precondition(phone.canonical.hasPrefix("+") && phone.canonical.dropFirst().allSatisfy(\.isASCII))
    }
    if let digest = try? Identifier.documentFingerprint(hexDigest: text) {
        precondition((try? Identifier.documentFingerprint(hexDigest: digest.canonical)) == digest)
        precondition(digest.canonical.utf8.count == 71)
    }
    for caseInsensitive in [false, true] {
        if let plain = try? Identifier.plain(text, caseInsensitive: caseInsensitive) {
            precondition(!plain.canonical.isEmpty)
            precondition((try? Identifier.plain(plain.canonical, caseInsensitive: caseInsensitive)) == plain,
                         "plain canonical form is not a fixed point")
        }
    }
    _ = Identifier.documentFingerprint(bytes: UnsafeBufferPointer(start: bytes, count: count))
    return 0
}

runFuzzer { check($0, $1) }
