public import Foundation

/// A value to look for in the other side's list, in canonical form and tagged with its kind.
///
/// Two institutions find a record in common only if both turn it into the same bytes; the
/// library therefore owns canonicalisation. The bytes that are hashed are
/// ``psiEncoding``: the kind's one-byte tag, then the canonical form in UTF-8, so values of
/// different kinds can never match each other.
public struct Identifier: Hashable, Sendable, Codable {
    /// The kind of a value, with the tag byte it contributes to the hashed encoding.
    public enum Kind: UInt8, Sendable, Codable, CaseIterable {
        /// A phone number in E.164 form (`+8613800138000`).
        case phoneNumber = 0x01
        /// A document fingerprint, `sha256:` and 64 lower-case hex digits.
        case documentFingerprint = 0x02
        /// Any other identifier: Unicode NFC text, trimmed.
        case plain = 0x03
    }

    /// The kind of value.
    public let kind: Kind
    /// The canonical form: the same for every way of writing the same value.
    public let canonical: String

    /// Wraps an already canonical value. Parsers are the only callers.
    init(kind: Kind, canonical: String) {
        self.kind = kind
        self.canonical = canonical
    }

    /// The bytes hashed for this identifier: `kind tag || UTF-8(canonical)`.
    public var psiEncoding: [UInt8] {
        var bytes = [UInt8]()
        writePSIEncoding(into: &bytes)
        return bytes
    }

    /// Replaces `buffer`'s contents with ``psiEncoding``, reusing its storage (hot paths hash
    /// millions of items through one buffer instead of allocating an array each).
    func writePSIEncoding(into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(kind.rawValue)
        buffer.append(contentsOf: canonical.utf8)
    }
}

extension Identifier {
    /// A plain identifier: Unicode NFC, leading and trailing white space removed, no control
    /// characters.
    ///
    /// In order: NFC (Unicode canonical composition); leading and trailing white space removed
    /// (code points with the Unicode `White_Space` property; U+FEFF is not white space); refused
    /// if empty, or if a control character remains (general category Cc: U+0000–U+001F and
    /// U+007F–U+009F, including a tab inside the value). With `caseInsensitive`, then: each code
    /// point replaced by its full upper-case mapping, each code point of that by its full
    /// lower-case mapping (UnicodeData and SpecialCasing without their context- and
    /// language-dependent rules, so `Σ` always becomes `σ` and `ς` never remains), and NFC
    /// again. Upper-casing first folds the letters whose lower-case forms differ
    /// (`ς`/`σ`, `ß`/`ss`, `ſ`/`s`), which lower-casing alone does not.
    ///
    /// - Parameters:
    ///   - value: the text as given.
    ///   - caseInsensitive: when true, `ΟΔΟΣ`, `οδος` and `οδοσ` are the same identifier `οδοσ`.
    /// - Throws: ``IdentifierError/empty`` or ``IdentifierError/controlCharacter``.
    public static func plain(_ value: String, caseInsensitive: Bool = false) throws -> Identifier {
        var text: String
        if value.utf8.allSatisfy({ $0 < 0x80 }) {
            // NFC leaves ASCII as it is, its only white space is tab to carriage return and
            // space, and its case mapping is A–Z to a–z: the common case, without Foundation.
            var bytes = Array(value.utf8)
            let isSpace = { (byte: UInt8) in byte == 0x20 || (0x09...0x0D).contains(byte) }
            let start = bytes.firstIndex { !isSpace($0) } ?? bytes.count
            let end = (bytes.lastIndex { !isSpace($0) } ?? -1) + 1
            bytes = start < end ? Array(bytes[start..<end]) : []
            guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw IdentifierError.controlCharacter }
            if caseInsensitive {
                for i in bytes.indices where (0x41...0x5A).contains(bytes[i]) { bytes[i] |= 0x20 }
            }
            text = String(decoding: bytes, as: UTF8.self)
        } else {
            text = String(trimmingWhiteSpace(value.precomposedStringWithCanonicalMapping))
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw IdentifierError.controlCharacter
            }
            if caseInsensitive { text = caseMapped(text) }
        }
        guard !text.isEmpty else { throw IdentifierError.empty }
        return Identifier(kind: .plain, canonical: text)
    }

    /// Full upper-case mapping, then full lower-case mapping, of each code point; then NFC.
    static func caseMapped(_ text: String) -> String {
        var upper = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { upper.append(contentsOf: scalar.properties.uppercaseMapping.unicodeScalars) }
        var lower = String.UnicodeScalarView()
        for scalar in upper { lower.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars) }
        return String(lower).precomposedStringWithCanonicalMapping
    }
}

/// `text` without its leading and trailing white space: code points with the Unicode
/// `White_Space` property (U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000). U+FEFF is not white space.
func trimmingWhiteSpace(_ text: String) -> Substring {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
          let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
    return Substring(scalars[first...last])
}

/// Why a value could not be turned into an ``Identifier``. Messages give the reason and what
/// was expected, never the value (it may be a real person's phone number).
public enum IdentifierError: Error, Sendable, Equatable {
    /// Nothing left after trimming.
    case empty
    /// Letters in a phone number.
    case containsLetters
    /// A character that is neither a digit, a leading `+`, nor a separator (space - . ( )).
    case invalidCharacter
    /// A `+` anywhere but at the start, or twice.
    case misplacedPlus
    /// Fewer digits than the number's kind needs.
    case tooShort(digits: Int, minimum: Int)
    /// More digits than the number's kind allows.
    case tooLong(digits: Int, maximum: Int)
    /// An 11-digit mainland mobile whose second digit is not 3–9.
    case invalidMobilePrefix
    /// A landline area code starting with 0 (after the trunk 0).
    case invalidAreaCode
    /// A landline subscriber number starting with 0 or 1.
    case invalidSubscriberNumber
    /// A short number without a trunk 0 and area code, or a landline without its 0.
    case missingAreaCode
    /// A long number without `+` or `00` that is not 86 and a mobile.
    case missingInternationalPrefix
    /// A country code starting with 0.
    case invalidCountryCode
    /// A digest prefix other than `sha256:`.
    case unsupportedDigestAlgorithm
    /// A digest of the wrong length, in hex digits.
    case invalidDigestLength(found: Int, expected: Int)
    /// A digest with a character that is not hexadecimal.
    case invalidDigestCharacter
    /// A value that is not valid text in the list's encoding.
    case invalidText(encoding: ListEncoding)
    /// A plain identifier holding a control character (general category Cc) after trimming.
    case controlCharacter
    /// A CSV record with no field at the chosen column.
    case missingColumn(column: Int, fields: Int)
}

extension IdentifierError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .empty: return "value is empty; expected a non-empty value"
        case .containsLetters: return "phone number contains letters; expected digits, an optional leading +, and separators"
        case .invalidCharacter: return "phone number contains a character other than digits, a leading + and the separators space - . ( )"
        case .misplacedPlus: return "'+' may only start a phone number"
        case let .tooShort(digits, minimum): return "number has \(digits) digits; expected at least \(minimum)"
        case let .tooLong(digits, maximum): return "number has \(digits) digits; expected at most \(maximum)"
        case .invalidMobilePrefix: return "mainland mobile number must match 1[3-9] followed by 9 digits"
        case .invalidAreaCode: return "area code cannot start with 0 after the trunk prefix 0"
        case .invalidSubscriberNumber: return "landline subscriber number cannot start with 0 or 1"
        case .missingAreaCode: return "landline number lacks its area code; expected 0 and an area code (e.g. 020-8888-1234) or +86"
        case .missingInternationalPrefix: return "number is too long for a mainland number; expected + or 00 before a country code"
        case .invalidCountryCode: return "country code cannot start with 0"
        case .unsupportedDigestAlgorithm: return "digest algorithm is not supported; expected SHA-256, written as 64 hex digits with an optional sha256: prefix"
        case let .invalidDigestLength(found, expected): return "digest has \(found) hex digits; expected \(expected)"
        case .invalidDigestCharacter: return "digest contains a character that is not hexadecimal; expected 0-9 and a-f"
        case .invalidText(let encoding):
            return "value is not valid \(encoding.name) text" + (encoding == .utf8 ? "; is the list in GB18030 or GBK? (--input-encoding gb18030)" : "")
        case .controlCharacter: return "value contains a control character (U+0000–U+001F or U+007F–U+009F, a tab included); expected printable text"
        case let .missingColumn(column, fields): return "record has \(fields) fields; expected a value in column \(column)"
        }
    }
}
