import Foundation

/// What a list's values are: an identifier kind and, for plain identifiers, whether they were
/// lower-cased. Both sides of an exchange must declare the same type, or equal real-world
/// values turn into different bytes and nothing matches; every message header carries it
/// (bytes 16–17, see `Docs/file-format.md`) so that a mismatch is refused, naming both types.
public struct IdentifierType: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The identifier kind.
    public let kind: Identifier.Kind
    /// Whether plain identifiers are lower-cased before matching (always false for phone
    /// numbers and document fingerprints, which have one canonical case).
    public let caseInsensitive: Bool

    /// A type.
    ///
    /// - Parameters:
    ///   - kind: the identifier kind.
    ///   - caseInsensitive: plain identifiers are lower-cased; ignored for the other kinds.
    public init(kind: Identifier.Kind, caseInsensitive: Bool = false) {
        self.kind = kind
        self.caseInsensitive = caseInsensitive && kind == .plain
    }

    private enum CodingKeys: String, CodingKey { case kind, caseInsensitive }

    /// Decodes a type (a state file's) through ``init(kind:caseInsensitive:)``, so that only
    /// plain identifiers can be case-insensitive.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try c.decode(Identifier.Kind.self, forKey: .kind), caseInsensitive: try c.decode(Bool.self, forKey: .caseInsensitive))
    }

    /// The header's identifier-flags byte: bit 0 for case-insensitive plain identifiers.
    var flags: UInt8 { caseInsensitive ? 0x01 : 0x00 }

    /// Decodes header bytes 16–17; nil when they are not a known type.
    init?(kindByte: UInt8, flags: UInt8) {
        guard let kind = Identifier.Kind(rawValue: kindByte), flags & ~0x01 == 0, flags == 0 || kind == .plain else { return nil }
        self.init(kind: kind, caseInsensitive: flags == 0x01)
    }

    /// The type in words, as errors name it: "phone numbers", "plain identifiers, case-insensitive".
    public var description: String {
        switch kind {
        case .phoneNumber: return "phone numbers"
        case .documentFingerprint: return "document fingerprints"
        case .plain: return caseInsensitive ? "plain identifiers, case-insensitive" : "plain identifiers"
        }
    }

    /// The type with this ``description``, if any.
    init?(description: String) {
        let all = Identifier.Kind.allCases.map { IdentifierType(kind: $0) } + [IdentifierType(kind: .plain, caseInsensitive: true)]
        guard let type = all.first(where: { $0.description == description }) else { return nil }
        self = type
    }

    /// Refuses an item that this type would not have produced: another kind, or a plain
    /// identifier with upper-case letters under a case-insensitive type.
    ///
    /// - Throws: ``PSIError/itemTypeMismatch(index:found:expected:)``.
    func check(_ identifier: Identifier, index: Int) throws {
        guard identifier.kind == kind else {
            throw PSIError.itemTypeMismatch(index: index, found: IdentifierType(kind: identifier.kind).description,
                                            expected: description)
        }
        if caseInsensitive, identifier.canonical.lowercased() != identifier.canonical {
            throw PSIError.itemTypeMismatch(index: index, found: "plain identifiers with upper-case letters", expected: description)
        }
    }

    /// Checks every item (see ``check(_:index:)``).
    func check(_ identifiers: [Identifier]) throws {
        for (index, identifier) in identifiers.enumerated() { try check(identifier, index: index) }
    }
}
