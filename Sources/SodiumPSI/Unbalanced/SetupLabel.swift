import Foundation

/// What a hub says about one item of its list: why it is there. Encrypted in a labeled setup
/// under a key only a member holding the item can derive (see <doc:LabelsAndSetupEncodings>), so a member
/// reads the labels of its matches and nothing of any other.
///
/// The plaintext is a sequence of fields, each `id` (1 byte), `length` (2 bytes, big-endian)
/// and value, ids strictly ascending, each at most once, then zero bytes up to the setup's
/// fixed label size (`Docs/unbalanced.md`, "Labels"):
///
/// | id | field | value |
/// | --- | --- | --- |
/// | 1 | categories | UTF-8, the categories in ascending order joined by U+001F |
/// | 2 | first seen | 10 ASCII bytes `YYYY-MM-DD` |
/// | 3 | last seen | 10 ASCII bytes `YYYY-MM-DD` |
/// | 4 | reporter count | 4 bytes, big-endian |
/// | 5 | contributors | UTF-8, the names in ascending order joined by U+001F |
/// | 6 | note | UTF-8 |
///
/// A field that is empty (no categories, no date, no contributors, no note) is left out; the
/// reporter count is always written.
public struct SetupLabel: Sendable, Hashable, Codable {
    /// The categories (e.g. "mass complaints", "forged hardship documents"), distinct, in
    /// ascending order.
    public var categories: [String]
    /// When the item was first reported, `YYYY-MM-DD`.
    public var firstSeen: String?
    /// When the item was last reported, `YYYY-MM-DD`.
    public var lastSeen: String?
    /// How many reporters reported it.
    public var reporterCount: Int
    /// The contributors who reported it (only when the hub publishes their names), ascending.
    public var contributors: [String]
    /// A free note.
    public var note: String?

    /// A label; categories and contributors are sorted and de-duplicated.
    public init(categories: [String] = [], firstSeen: String? = nil, lastSeen: String? = nil, reporterCount: Int = 1,
                contributors: [String] = [], note: String? = nil) {
        self.categories = Array(Set(categories)).sorted()
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.reporterCount = reporterCount
        self.contributors = Array(Set(contributors)).sorted()
        self.note = note
    }

    /// Smallest and largest fixed label size a setup may use (bytes of plaintext; each label
    /// adds the AEAD's 16-byte tag).
    public static let byteCountRange = 8...960
    /// Default fixed label size: 96 bytes (categories, two dates and a count take about 70).
    public static let defaultByteCount = 96

    static let separator = "\u{1F}"

    /// The names of the label's columns in a member's matches file.
    public static let csvHeader = ["categories", "first_seen", "last_seen", "reporter_count", "contributors", "note"]

    /// The label's fields as text, in ``csvHeader`` order (categories and contributors joined by `; `).
    public var csvFields: [String] {
        [categories.joined(separator: "; "), firstSeen ?? "", lastSeen ?? "", String(reporterCount),
         contributors.joined(separator: "; "), note ?? ""]
    }

    enum FieldID: UInt8 {
        case categories = 1, firstSeen, lastSeen, reporterCount, contributors, note
    }

    /// The plaintext, padded with zeros to `size` bytes, or why it cannot be made: a field that
    /// is not valid (a date not `YYYY-MM-DD`, a count out of range, a control character in a
    /// text), or fields that take more than `size` bytes.
    func encoded(size: Int) -> Result<[UInt8], LabelEncodingProblem> {
        if let reason = problem { return .failure(.invalid(reason: reason)) }
        let bytes = fields
        guard bytes.count <= size else { return .failure(.tooLong(length: bytes.count)) }
        return .success(bytes + [UInt8](repeating: 0, count: size - bytes.count))
    }

    /// The bytes the fields take, without padding.
    public var byteCount: Int { fields.count }

    private var fields: [UInt8] {
        var bytes = [UInt8]()
        func field(_ id: FieldID, _ value: [UInt8]) {
            bytes += [id.rawValue] + i2osp2(value.count) + value
        }
        if !categories.isEmpty { field(.categories, Array(categories.joined(separator: Self.separator).utf8)) }
        if let firstSeen { field(.firstSeen, Array(firstSeen.utf8)) }
        if let lastSeen { field(.lastSeen, Array(lastSeen.utf8)) }
        field(.reporterCount, withUnsafeBytes(of: UInt32(reporterCount).bigEndian, Array.init))
        if !contributors.isEmpty { field(.contributors, Array(contributors.joined(separator: Self.separator).utf8)) }
        if let note, !note.isEmpty { field(.note, Array(note.utf8)) }
        return bytes
    }

    /// What is wrong with a field, if anything: a date not `YYYY-MM-DD`, a count out of range, a control character in a text.
    public var problem: String? {
        for date in [firstSeen, lastSeen].compactMap({ $0 }) where !Self.isDate(date) {
            return "date \"\(date)\" is not a calendar date YYYY-MM-DD"
        }
        if let firstSeen, let lastSeen, lastSeen < firstSeen {
            return "last seen \(lastSeen) is before first seen \(firstSeen)"
        }
        guard (0...Int(UInt32.max)).contains(reporterCount) else {
            return "reporter count \(reporterCount) is out of range; expected 0 to \(UInt32.max)"
        }
        for (what, texts) in [("category", categories), ("contributor", contributors), ("note", note.map { [$0] } ?? [])] {
            for text in texts where text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                return "a \(what) holds a control character"
            }
            if what != "note", texts.contains("") { return "a \(what) is empty" }
        }
        return nil
    }

    /// Decodes a decrypted plaintext, or says why it breaks the layout (the caller names the
    /// setup and entry).
    static func decode(_ bytes: some Collection<UInt8>) -> Result<SetupLabel, LabelDecodingProblem> {
        let b = Array(bytes)
        var label = SetupLabel(reporterCount: 0)
        var offset = 0
        var previous: UInt8 = 0
        var sawCount = false
        while offset < b.count, b[offset] != 0 {
            guard b.count - offset >= 3 else { return .failure(.init("field at byte \(offset) is cut off")) }
            let id = b[offset], length = Int(b[offset + 1]) << 8 | Int(b[offset + 2])
            guard id > previous else { return .failure(.init("field \(id) at byte \(offset) follows field \(previous); expected ascending ids")) }
            guard length <= b.count - offset - 3 else { return .failure(.init("field \(id) at byte \(offset) runs past the label")) }
            let value = Array(b[(offset + 3)..<(offset + 3 + length)])
            guard let known = FieldID(rawValue: id) else { return .failure(.init("unknown field \(id) at byte \(offset)")) }
            switch known {
            case .reporterCount:
                guard length == 4 else { return .failure(.init("the reporter count is \(length) bytes; expected 4")) }
                label.reporterCount = Int(value.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                sawCount = true
            default:
                guard let text = String(validating: value, as: UTF8.self) else { return .failure(.init("field \(id) is not UTF-8")) }
                switch known {
                case .categories: label.categories = text.components(separatedBy: separator)
                case .firstSeen: label.firstSeen = text
                case .lastSeen: label.lastSeen = text
                case .contributors: label.contributors = text.components(separatedBy: separator)
                case .note: label.note = text
                case .reporterCount: break
                }
            }
            previous = id
            offset += 3 + length
        }
        guard b[offset...].allSatisfy({ $0 == 0 }) else { return .failure(.init("the padding after byte \(offset) is not zero")) }
        guard sawCount else { return .failure(.init("it holds no reporter count")) }
        if let reason = label.problem { return .failure(.init(reason)) }
        return .success(label)
    }

    /// Whether `text` is `YYYY-MM-DD`, a real calendar date (Gregorian, years 1000–9999).
    static func isDate(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), year >= 1000,
              (1...12).contains(month) else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}

/// Why a label cannot be encoded.
enum LabelEncodingProblem: Error, Equatable {
    case invalid(reason: String)
    case tooLong(length: Int)
}

/// Why a decrypted label does not decode.
struct LabelDecodingProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The label encryption of a labeled setup, in one place for the hub and the member.
///
/// For an item with OPRF output `F` (64 bytes; the tag is `F[0..<t]`):
///
/// - key `K = crypto_kdf_derive_from_key(32, subkey_id = 1, ctx = "SPSIlabl", master = F[32..<64])`
///   (libsodium's BLAKE2b KDF): the tag never uses these bytes, and the KDF context separates
///   the key from any other use of them;
/// - nonce: the setup id (16 bytes) then the file's delta number as a big-endian 64-bit
///   integer (0 for the full setup), so an item's key never meets one nonce twice: an item
///   appears once in a file, and each file of a setup has its own number;
/// - associated data: the setup id (16 bytes) then the tag (`t` bytes);
/// - `crypto_aead_xchacha20poly1305_ietf_encrypt` of the padded plaintext (``SetupLabel``):
///   ciphertext then the 16-byte authentication tag.
enum LabelCipher {
    static let context = Array("SPSIlabl".utf8)
    static let subkeyID: UInt64 = 1
    static let overhead = XChaCha20Poly1305.tagByteCount
    static let nonceByteCount = XChaCha20Poly1305.nonceByteCount

    /// The label key of a 64-byte OPRF output at `value`, into 32 bytes at `key`.
    static func deriveKey(value: UnsafeRawPointer, into key: UnsafeMutableRawPointer) {
        XChaCha20Poly1305.deriveKey(into: key, count: 32, subkeyID: subkeyID, context: context, masterKey: value.advanced(by: 32))
    }

    static func nonce(setupID: SessionID, deltaNumber: Int) -> [UInt8] {
        setupID.bytes + withUnsafeBytes(of: UInt64(deltaNumber).bigEndian, Array.init)
    }

    /// Encrypts `plaintext` for the item whose OPRF output is at `value`, into
    /// `plaintext.count + 16` bytes at `output`.
    static func seal(_ plaintext: [UInt8], value: UnsafeRawPointer, tag: UnsafeRawBufferPointer, setupID: SessionID,
                     nonce: [UInt8], into output: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { key in
            defer { wipe(key) }
            deriveKey(value: value, into: key.baseAddress!)
            XChaCha20Poly1305.seal(plaintext, additionalData: setupID.bytes + Array(tag), nonce: nonce, key: key.baseAddress!, into: output)
        }
    }

    /// Decrypts a sealed label; nil when it does not authenticate under this item's key.
    static func open(_ sealed: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, setupID: SessionID,
                     nonce: [UInt8]) -> [UInt8]? {
        precondition(value.count >= 64 && sealed.count >= overhead)
        return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { key in
            defer { wipe(key) }
            deriveKey(value: value.baseAddress!, into: key.baseAddress!)
            return XChaCha20Poly1305.open(sealed, additionalData: setupID.bytes + Array(tag), nonce: nonce, key: key.baseAddress!)
        }
    }
}
