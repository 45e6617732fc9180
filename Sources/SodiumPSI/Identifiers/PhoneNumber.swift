import Foundation

extension Identifier {
    /// A phone number in canonical E.164 form (`+8613800138000`).
    ///
    /// Rules, in order (Docs/protocol.md §2 states them for other implementations):
    /// 1. Unicode NFKC folds full-width digits and symbols (`１３８` → `138`, `＋` → `+`,
    ///    `（` → `(`). Then these are dropped: white space (the `White_Space` property), `-`,
    ///    `.`, `(`, `)`, the hyphens and dashes U+2010–U+2015, the minus sign U+2212 and U+FEFF.
    ///    The ASCII digits and one leading `+` are kept; any other character is refused.
    /// 2. `+` or `00` starts an international number. In one, a `(0)` after at least one digit
    ///    of the country code (the trunk prefix written as "dial 0 at home", as in
    ///    `+44 (0)20 7946 0958`) is dropped. After country code 86 the rest is read as a
    ///    mainland number (a trunk `0` written after `+86` is dropped). Other countries are kept
    ///    as E.164: 8 to 15 digits, not starting with 0.
    /// 3. Without `+`/`00`: 11 digits starting with `1` are a mainland mobile and must match
    ///    `1[3-9]\d{9}`; 13 digits `86` + mobile are the same mobile; 10 digits starting with
    ///    `400` or `800` are a national service number; a number starting with the trunk `0` is
    ///    a landline (or a mobile dialled with a `0`): the `0` is dropped and the area code
    ///    kept: `10` and `2x` are two-digit area codes, others three digits (first digit 3–9),
    ///    followed by a 7- or 8-digit subscriber number.
    ///
    /// Equivalent inputs: `13800138000`, `+86 138-0013-8000`, `0086 138 0013 8000`,
    /// `8613800138000`, `１３８００１３８０００`; `020-8888-1234` and `(020) 8888 1234` become
    /// `+862088881234`; `400-820-8820` and `+86 400 820 8820` become `+864008208820`.
    ///
    /// - Throws: ``IdentifierError`` with the reason; never with the value.
    public static func phoneNumber(_ text: String) throws -> Identifier {
        Identifier(kind: .phoneNumber, canonical: try PhoneNumberParser.canonical(text))
    }
}

enum PhoneNumberParser {
    static func canonical(_ text: String) throws -> String {
        // NFKC leaves ASCII as it is; skip Foundation's Unicode machinery in the common case.
        let folded = text.utf8.allSatisfy({ $0 < 0x80 }) ? text : text.precomposedStringWithCompatibilityMapping
        var digits = [UInt8]()
        var plus = false
        // Where the digits stood at the last `(`, and the first `(0)` group found, by digit position.
        var openedAt: Int?
        var trunkZeroAt: Int?
        for scalar in folded.unicodeScalars {
            switch scalar {
            case "0"..."9":
                digits.append(UInt8(scalar.value - 48))
            case "+":
                guard digits.isEmpty, !plus else { throw IdentifierError.misplacedPlus }
                plus = true
            case "(":
                openedAt = digits.count
            case ")":
                if let start = openedAt, trunkZeroAt == nil, digits.count == start + 1, digits[start] == 0 { trunkZeroAt = start }
                openedAt = nil
            case "-", ".", "\u{2010}"..."\u{2015}", "\u{2212}", "\u{FEFF}":  // hyphens, dashes and minus from word processors
                continue
            default:
                if scalar.properties.isWhitespace { continue }
                if scalar.properties.isAlphabetic { throw IdentifierError.containsLetters }
                throw IdentifierError.invalidCharacter
            }
        }
        guard !digits.isEmpty else {
            throw plus ? IdentifierError.tooShort(digits: 0, minimum: 8) : IdentifierError.empty
        }
        let internationalPrefix: Int? = plus ? 0 : digits.starts(with: [0, 0]) ? 2 : nil
        if let prefixLength = internationalPrefix {
            // "(0)" after the country code is the trunk prefix, never dialled from abroad.
            if let zero = trunkZeroAt, zero > prefixLength { digits.remove(at: zero) }
            return try international(Array(digits.dropFirst(prefixLength)))
        }
        return try national(digits)
    }

    /// Digits after `+` or `00`.
    private static func international(_ digits: [UInt8]) throws -> String {
        guard let first = digits.first else { throw IdentifierError.tooShort(digits: 0, minimum: 8) }
        guard first != 0 else { throw IdentifierError.invalidCountryCode }
        if digits.starts(with: [8, 6]) {
            var rest = Array(digits.dropFirst(2))
            if rest.first == 0 { rest.removeFirst() }  // "+86 (0)20 …"
            return try mainland(rest)
        }
        guard digits.count >= 8 else { throw IdentifierError.tooShort(digits: digits.count, minimum: 8) }
        guard digits.count <= 15 else { throw IdentifierError.tooLong(digits: digits.count, maximum: 15) }
        return "+" + string(digits)
    }

    /// A number written without an international prefix.
    private static func national(_ digits: [UInt8]) throws -> String {
        if digits.first == 0 { return try mainland(Array(digits.dropFirst())) }
        if digits.count == 13, digits.starts(with: [8, 6]) { return try mainland(Array(digits.dropFirst(2))) }
        if digits.first == 1 || isServiceNumber(digits) { return try mainland(digits) }
        if digits.count <= 11 { throw IdentifierError.missingAreaCode }
        throw IdentifierError.missingInternationalPrefix
    }

    /// A mainland national significant number: a mobile, or an area code and subscriber number.
    private static func mainland(_ nsn: [UInt8]) throws -> String {
        guard let first = nsn.first else { throw IdentifierError.tooShort(digits: 0, minimum: 9) }
        let beijing = first == 1 && nsn.count >= 2 && nsn[1] == 0
        if first == 1 && !beijing {
            guard nsn.count >= 11 else { throw IdentifierError.tooShort(digits: nsn.count, minimum: 11) }
            guard nsn.count == 11 else { throw IdentifierError.tooLong(digits: nsn.count, maximum: 11) }
            guard (3...9).contains(nsn[1]) else { throw IdentifierError.invalidMobilePrefix }
            return "+86" + string(nsn)
        }
        if isServiceNumber(nsn) {
            guard nsn.count >= 10 else { throw IdentifierError.tooShort(digits: nsn.count, minimum: 10) }
            guard nsn.count == 10 else { throw IdentifierError.tooLong(digits: nsn.count, maximum: 10) }
            return "+86" + string(nsn)
        }
        guard first != 0 else { throw IdentifierError.invalidAreaCode }
        let areaLength = (first == 1 || first == 2) ? 2 : 3
        let subscriber = nsn.count - areaLength
        guard subscriber >= 7 else { throw IdentifierError.tooShort(digits: nsn.count, minimum: areaLength + 7) }
        guard subscriber <= 8 else { throw IdentifierError.tooLong(digits: nsn.count, maximum: areaLength + 8) }
        // Subscriber numbers never start with 0 or 1.
        guard nsn[areaLength] >= 2 else { throw IdentifierError.invalidSubscriberNumber }
        return "+86" + string(nsn)
    }

    /// A national service number (400 and 800 numbers: 10 digits, no area code), which is
    /// written the same with or without +86; no area code starts 400 or 800.
    private static func isServiceNumber(_ digits: [UInt8]) -> Bool {
        digits.count >= 3 && (digits[0] == 4 || digits[0] == 8) && digits[1] == 0 && digits[2] == 0
    }

    private static func string(_ digits: [UInt8]) -> String {
        String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
    }
}
