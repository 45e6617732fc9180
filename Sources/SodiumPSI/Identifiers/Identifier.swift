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
        [kind.rawValue] + Array(canonical.utf8)
    }
}

extension Identifier {
    /// A plain identifier: Unicode NFC, leading and trailing white space removed.
    ///
    /// - Parameters:
    ///   - value: the text as given.
    ///   - caseInsensitive: when true, the value is also lower-cased, so `ABC` and `abc` match.
    /// - Throws: ``IdentifierError`` when the trimmed value is empty.
    public static func plain(_ value: String, caseInsensitive: Bool = false) throws -> Identifier {
        var text = value.precomposedStringWithCanonicalMapping.trimmingCharacters(in: .whitespacesAndNewlines)
        if caseInsensitive { text = text.lowercased() }
        guard !text.isEmpty else { throw IdentifierError.empty }
        return Identifier(kind: .plain, canonical: text)
    }
}

/// Why a value could not be turned into an ``Identifier``. Messages never include the value.
public enum IdentifierError: Error, Sendable, Equatable {
    /// Nothing left after trimming.
    case empty
}

extension IdentifierError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .empty: return "value is empty; expected a non-empty value"
        }
    }
}
