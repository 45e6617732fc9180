import Foundation
import Testing
@testable import SodiumPSI

@Suite("Phone numbers")
struct PhoneNumberTests {
    /// Input and the expected canonical form, or the expected error.
    static let table: [(String, Result<String, IdentifierError>)] = [
        // The five styles the issue names, all the same mobile.
        ("13800138000", .success("+8613800138000")),
        ("+86 138-0013-8000", .success("+8613800138000")),
        ("0086 138 0013 8000", .success("+8613800138000")),
        ("8613800138000", .success("+8613800138000")),
        ("１３８００１３８０００", .success("+8613800138000")),
        // More separators and full-width symbols.
        ("138.0013.8000", .success("+8613800138000")),
        ("(+86) 138 0013 8000", .success("+8613800138000")),
        ("＋８６　１３８－００１３－８０００", .success("+8613800138000")),
        ("  13800138000  ", .success("+8613800138000")),
        ("+86-13912345678", .success("+8613912345678")),
        ("\t15012345678\n", .success("+8615012345678")),
        ("138\u{2013}0013\u{2212}8000", .success("+8613800138000")),  // en dash and minus sign
        ("19912345678", .success("+8619912345678")),
        ("16612345678", .success("+8616612345678")),
        ("013800138000", .success("+8613800138000")),  // mobile dialled with a trunk 0
        // Landlines.
        ("020-8888-1234", .success("+862088881234")),
        ("(0755) 8888 1234", .success("+8675588881234")),
        ("010-6552-1234", .success("+861065521234")),
        ("0571-8765432", .success("+865718765432")),
        ("+86 20 8888 1234", .success("+862088881234")),
        ("+86 (0)20 8888 1234", .success("+862088881234")),
        ("0086 755 8888 1234", .success("+8675588881234")),
        // Other countries, kept as E.164.
        ("+1 415 555 2671", .success("+14155552671")),
        ("0044 20 7946 0958", .success("+442079460958")),
        ("+852 9123 4567", .success("+85291234567")),
        ("+886 912 345 678", .success("+886912345678")),
        // "(0)": the trunk prefix noted in an international number is not part of it.
        ("+886 (0)912 345 678", .success("+886912345678")),
        ("+44 (0)20 7946 0958", .success("+442079460958")),
        ("0044 (0)20 7946 0958", .success("+442079460958")),
        ("+44 ( 0 ) 20 7946 0958", .success("+442079460958")),
        ("＋４４（０）２０ ７９４６ ０９５８", .success("+442079460958")),  // full-width, folded by NFKC first
        ("+44 (0)(0)20 7946 0958", .success("+4402079460958")),  // only the first (0)
        ("+44 (00)20 7946 0958", .success("+44002079460958")),  // not "(0)"
        ("+44 20 (0)7946 0958", .success("+442079460958")),
        ("+(0)44 20 7946 0958", .failure(.invalidCountryCode)),  // no country-code digit before it
        ("(0)20 8888 1234", .success("+862088881234")),  // national: 0 is the trunk prefix anyway
        ("+86 (0)20 8888 1234", .success("+862088881234")),
        // Mainland 400 and 800 service numbers: the same with or without +86.
        ("400-820-8820", .success("+864008208820")),
        ("+86 400 820 8820", .success("+864008208820")),
        ("0086 400-820-8820", .success("+864008208820")),
        ("0400 820 8820", .success("+864008208820")),
        ("800-810-8888", .success("+868008108888")),
        ("400-820-882", .failure(.tooShort(digits: 9, minimum: 10))),
        ("400-820-88201", .failure(.tooLong(digits: 11, maximum: 10))),
        ("+86 400 820 88201", .failure(.tooLong(digits: 11, maximum: 10))),
        // Invalid, with the reason.
        ("", .failure(.empty)),
        ("   ", .failure(.empty)),
        ("- ( ) .", .failure(.empty)),
        ("1380013800a", .failure(.containsLetters)),
        ("tel:13800138000", .failure(.containsLetters)),
        ("138_0013_8000", .failure(.invalidCharacter)),
        ("138/0013/8000", .failure(.invalidCharacter)),
        ("138+00138000", .failure(.misplacedPlus)),
        ("++8613800138000", .failure(.misplacedPlus)),
        ("1380013800", .failure(.tooShort(digits: 10, minimum: 11))),
        ("138001380001", .failure(.tooLong(digits: 12, maximum: 11))),
        ("12800138000", .failure(.invalidMobilePrefix)),
        ("11800138000", .failure(.invalidMobilePrefix)),
        ("+86 12800138000", .failure(.invalidMobilePrefix)),
        ("020-888-123", .failure(.tooShort(digits: 8, minimum: 9))),
        ("020-8888-12345", .failure(.tooLong(digits: 11, maximum: 10))),
        ("0755-8888-12345", .failure(.tooLong(digits: 12, maximum: 11))),
        ("00-0888-1234", .failure(.invalidCountryCode)),
        ("00-8888-1234", .success("+88881234")),  // 00 is an international prefix: kept as E.164
        ("020-0888-1234", .failure(.invalidSubscriberNumber)),
        ("8888-1234", .failure(.missingAreaCode)),
        ("2088881234", .failure(.missingAreaCode)),
        ("323456789012", .failure(.missingInternationalPrefix)),
        ("123456789012", .failure(.tooLong(digits: 12, maximum: 11))),
        ("+1234567", .failure(.tooShort(digits: 7, minimum: 8))),
        ("+1234567890123456", .failure(.tooLong(digits: 16, maximum: 15))),
        ("+0123456789", .failure(.invalidCountryCode)),
        ("+", .failure(.tooShort(digits: 0, minimum: 8))),
        ("+86", .failure(.tooShort(digits: 0, minimum: 9))),
    ]

    @Test("Canonical forms and errors", arguments: 0..<table.count)
    func canonical(_ index: Int) {
        let (input, expected) = Self.table[index]
        let result = Result { try Identifier.phoneNumber(input) }.mapError { $0 as! IdentifierError }
        switch (result, expected) {
        case let (.success(id), .success(canonical)):
            #expect(id.canonical == canonical, "input #\(index)")
            #expect(id.kind == .phoneNumber)
        case let (.failure(error), .failure(expectedError)):
            #expect(error == expectedError, "input #\(index)")
        default:
            Issue.record("input #\(index): got \(result), expected \(expected)")
        }
    }

    @Test("Error messages never contain the value")
    func errorsHideTheValue() {
        for input in ["1380013800a", "12800138000", "020-0888-1234", "+1234567890123456"] {
            do { _ = try Identifier.phoneNumber(input); Issue.record("\(input) parsed") } catch {
                let digits = input.filter(\.isNumber)
                #expect(!error.localizedDescription.contains(digits))
            }
        }
    }
}

@Suite("Document fingerprints")
struct DocumentFingerprintTests {
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  // SHA-256("abc")

    @Test("Hex digests: prefix, case and white space are normalised", arguments: [
        abc, abc.uppercased(), "sha256:" + abc, "SHA256:" + abc.uppercased(), "Sha256:" + abc, "  \(abc)\n",
    ])
    func accepted(_ input: String) throws {
        let id = try Identifier.documentFingerprint(hexDigest: input)
        #expect(id.canonical == "sha256:" + Self.abc)
        #expect(id.kind == .documentFingerprint)
    }

    @Test("Bad digests are refused with the reason")
    func refused() {
        #expect(throws: IdentifierError.invalidDigestLength(found: 63, expected: 64)) { try Identifier.documentFingerprint(hexDigest: String(Self.abc.dropLast())) }
        #expect(throws: IdentifierError.invalidDigestLength(found: 66, expected: 64)) { try Identifier.documentFingerprint(hexDigest: Self.abc + "00") }
        #expect(throws: IdentifierError.invalidDigestCharacter) { try Identifier.documentFingerprint(hexDigest: String(Self.abc.dropLast()) + "g") }
        #expect(throws: IdentifierError.invalidDigestCharacter) { try Identifier.documentFingerprint(hexDigest: "sha256: " + Self.abc) }
        #expect(throws: IdentifierError.unsupportedDigestAlgorithm) { try Identifier.documentFingerprint(hexDigest: "md5:" + Self.abc) }
        #expect(throws: IdentifierError.empty) { try Identifier.documentFingerprint(hexDigest: " ") }
    }

    @Test("File fingerprints match sha256sum, also across read chunks")
    func fileFingerprint() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("abc.txt")
        try Data("abc".utf8).write(to: small)
        #expect(try Identifier.documentFingerprint(contentsOf: small).canonical == "sha256:" + Self.abc)
        // 3 MiB + 17 bytes of a repeating pattern: several 1 MiB chunks and a short tail.
        // Expected value: `sha256sum` of the same bytes, written once by a script.
        let big = dir.appendingPathComponent("big.bin")
        let bytes = (0..<(3 * 1_048_576 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Data(bytes).write(to: big)
        let id = try Identifier.documentFingerprint(contentsOf: big)
        #expect(id.canonical == "sha256:" + Self.bigDigest)
        #expect(Identifier.documentFingerprint(bytes: bytes) == id)
        #expect(throws: IdentifierListError.unreadable(path: dir.appendingPathComponent("missing").path, reason: "No such file or directory")) {
            try Identifier.documentFingerprint(contentsOf: dir.appendingPathComponent("missing"))
        }
    }

    static let bigDigest = "27f3f0120d4a72b66e7b58152c631644bd689231ebd4487469b59226f1be13af"
}

@Suite("Kinds and plain identifiers")
struct KindTests {
    @Test("Different kinds never share an encoding, even with the same text")
    func kindSeparation() throws {
        let phone = try Identifier.phoneNumber("13800138000")
        let plain = try Identifier.plain("+8613800138000")
        #expect(phone.canonical == plain.canonical)
        #expect(phone.psiEncoding != plain.psiEncoding)
        #expect(phone.psiEncoding == [0x01] + Array("+8613800138000".utf8))
        #expect(plain.psiEncoding.first == 0x03)
        #expect(try Identifier.documentFingerprint(hexDigest: DocumentFingerprintTests.abc).psiEncoding.first == 0x02)
    }

    @Test("Plain identifiers: NFC, trimmed, case kept unless asked")
    func plain() throws {
        #expect(try Identifier.plain("  Cafe\u{301} ").canonical == "Caf\u{e9}")
        #expect(try Identifier.plain("ABC").canonical == "ABC")
        #expect(try Identifier.plain("ABC", caseInsensitive: true).canonical == "abc")
        #expect(throws: IdentifierError.empty) { try Identifier.plain(" \n ") }
    }

    @Test("ASCII values take a fast path that trims, normalises and case-maps exactly as the general path does",
          arguments: [" abc ", "\t\u{0B}\u{0C}a b\r\n", "x", "  +86 138 0013 8000\n", "\u{0B}", "\r\n", "~!@#$%^&*()_+", "MiXeD Case Z@[`{"])
    func asciiFastPath(value: String) throws {
        let trimmed = String(trimmingWhiteSpace(value.precomposedStringWithCanonicalMapping))
        #expect(trimmed == value.trimmingCharacters(in: .whitespacesAndNewlines))
        if trimmed.isEmpty {
            #expect(throws: IdentifierError.empty) { try Identifier.plain(value) }
        } else {
            #expect(try Identifier.plain(value).canonical == trimmed)
            #expect(try Identifier.plain(value, caseInsensitive: true).canonical == Identifier.caseMapped(trimmed))
        }
    }
}

@Suite("Canonicalisation rules as Docs/protocol.md states them")
struct CanonicalisationRuleTests {
    /// The code points with the Unicode White_Space property (Unicode 15), as the docs list them.
    static let whiteSpace: [UInt32] = Array(0x09...0x0D) + [0x20, 0x85, 0xA0, 0x1680] + Array(0x2000...0x200A)
        + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]

    @Test("White space is exactly the White_Space property: trimmed from plain identifiers, dropped from phone numbers; U+FEFF and U+200B are not white space")
    func whiteSpace() throws {
        for value in Self.whiteSpace {
            let space = String(UnicodeScalar(value)!)
            #expect(UnicodeScalar(value)!.properties.isWhitespace)
            #expect(try Identifier.plain(space + "ab" + space).canonical == "ab", "U+\(String(value, radix: 16))")
            #expect(try Identifier.phoneNumber("138" + space + "0013" + space + "8000").canonical == "+8613800138000")
        }
        let others = (0...0x3000).filter { !Self.whiteSpace.contains($0) }.compactMap(UnicodeScalar.init)
        #expect(!others.contains { $0.properties.isWhitespace })
        // U+FEFF (and the zero-width space) are kept by plain identifiers, as any other character.
        #expect(try Identifier.plain("\u{FEFF}ab").canonical == "\u{FEFF}ab")
        #expect(try Identifier.plain("ab\u{200B}").canonical == "ab\u{200B}")
    }

    @Test("Phone separators: exactly - . ( ) U+2010–U+2015 U+2212 U+FEFF and white space, after NFKC (which folds the full-width, small, superscript and vertical forms into them)")
    func phoneSeparators() throws {
        let dropped: [UInt32] = [0x2D, 0x2E, 0x28, 0x29] + Array(0x2010...0x2015) + [0x2212, 0xFEFF]
        // Every code point whose NFKC form is made of separators only (computed over all of Unicode).
        let folded: [UInt32] = [0x2024, 0x2025, 0x2026, 0x207B, 0x207D, 0x207E, 0x208B, 0x208D, 0x208E, 0xFE19, 0xFE30, 0xFE31,
                                0xFE32, 0xFE35, 0xFE36, 0xFE52, 0xFE58, 0xFE59, 0xFE5A, 0xFE63, 0xFF08, 0xFF09, 0xFF0D, 0xFF0E]
        for value in dropped + folded {
            let separator = String(UnicodeScalar(value)!)
            #expect(try Identifier.phoneNumber("138" + separator + "0013" + separator + "8000").canonical == "+8613800138000",
                    "U+\(String(value, radix: 16))")
        }
        // Look-alikes that are not separators.
        let refused: [(UInt32, IdentifierError)] = [(0x00AD, .invalidCharacter), (0x2016, .invalidCharacter), (0x200B, .invalidCharacter),
                                                    (0x2043, .invalidCharacter), (0x2F, .invalidCharacter), (0x5F, .invalidCharacter),
                                                    (0x7E, .invalidCharacter), (0x30FC, .containsLetters), (0x00, .invalidCharacter)]
        for (value, error) in refused {
            #expect(throws: error) { try Identifier.phoneNumber("138" + String(UnicodeScalar(value)!) + "00138000") }
        }
        // Each of the forms NFKC folds into "+" starts an international number.
        for plus: UInt32 in [0x2B, 0x207A, 0x208A, 0xFB29, 0xFE62, 0xFF0B] {
            #expect(try Identifier.phoneNumber(String(UnicodeScalar(plus)!) + "44 20 7946 0958").canonical == "+442079460958")
        }
    }

    @Test("Case-insensitive: NFC, then full upper-case, then full lower-case mapping, then NFC; Greek final sigma folds to σ")
    func caseMapping() throws {
        func folded(_ text: String) throws -> String { try Identifier.plain(text, caseInsensitive: true).canonical }
        // Σ always maps to σ, so a final ς and a capital Σ match.
        #expect(try folded("ΟΔΟΣ") == "οδοσ")
        #expect(try folded("οδος") == "οδοσ")
        #expect(try folded("Οδός") == "οδόσ")
        #expect(try folded("ΟΔΌΣ") == "οδόσ")
        // Lower-casing alone would keep these apart.
        #expect(try folded("Straße") == "strasse" && folded("STRASSE") == "strasse")
        #expect(try folded("ﬁle") == "file")
        #expect(try folded("ſ") == "s")
        // Full mappings (SpecialCasing), no language rules: İ becomes i and a combining dot.
        #expect(try folded("İ") == "i\u{307}")
        #expect(try folded("ı") == "i")
        // NFC before and after: a decomposed Å and the Ångström sign both give U+00E5.
        #expect(try folded("A\u{30A}") == "\u{E5}" && folded("\u{212B}") == "\u{E5}")
        #expect(try folded("ᾳ") == "αι")
        // Case kept without the flag.
        #expect(try Identifier.plain("ΟΔΟΣ").canonical == "ΟΔΟΣ")
        // Canonical forms are fixed points.
        for text in ["ΟΔΟΣ", "Straße", "İstanbul", "ΐ", "ǅ", "ᾼ", "ŉ", "Ǉ", "Cherokee ᏸ Ꭰ"] {
            let once = try folded(text)
            #expect(try folded(once) == once, "\(text)")
        }
    }

    @Test("Control characters are refused in plain identifiers (after trimming), in both paths")
    func controlCharacters() throws {
        for value in ["a\u{0}b", "a\tb", "\u{1}", "x\u{7F}", "é\u{9F}", "中\u{0}", "a\u{85}b", "\u{1B}[31m"] {
            #expect(throws: IdentifierError.controlCharacter, "\(Array(value.unicodeScalars))") { try Identifier.plain(value) }
        }
        // Trailing white-space controls are trimmed, not refused.
        #expect(try Identifier.plain("é\u{85}\t").canonical == "é")
        #expect(try Identifier.plain("ab\r\n").canonical == "ab")
    }
}
