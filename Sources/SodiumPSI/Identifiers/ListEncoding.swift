import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The character encoding an operator's list is read in. Every encoding is turned into UTF-8
/// before the list is split into records, so line numbers, delimiters and quotes mean the same
/// in all of them.
public enum ListEncoding: String, Sendable, CaseIterable {
    /// UTF-8, with or without a byte-order mark (the default).
    case utf8 = "utf-8"
    /// GB18030, of which GBK and GB2312 are subsets (Chinese Excel and banking-system exports).
    case gb18030 = "gb18030"
    /// UTF-16 whose byte-order mark gives the byte order; little-endian (what Windows writes)
    /// when there is none.
    case utf16 = "utf-16"
    /// UTF-16 little-endian; a byte-order mark, if any, must say so.
    case utf16LittleEndian = "utf-16le"
    /// UTF-16 big-endian; a byte-order mark, if any, must say so.
    case utf16BigEndian = "utf-16be"

    /// The encoding's usual name, for messages.
    public var name: String {
        switch self {
        case .utf8: return "UTF-8"
        case .gb18030: return "GB18030"
        case .utf16: return "UTF-16"
        case .utf16LittleEndian: return "UTF-16LE"
        case .utf16BigEndian: return "UTF-16BE"
        }
    }

    /// Whether text in `form` is read by this encoding.
    func accepts(_ form: TextForm) -> Bool {
        switch (self, form) {
        case (.utf8, .utf8), (.gb18030, .gb18030), (.utf16, .utf16LittleEndian), (.utf16, .utf16BigEndian),
             (.utf16LittleEndian, .utf16LittleEndian), (.utf16BigEndian, .utf16BigEndian):
            return true
        default:
            return false
        }
    }
}

/// An encoding a list was found to be in.
public enum TextForm: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// UTF-8.
    case utf8 = "UTF-8"
    /// UTF-16, least significant byte first.
    case utf16LittleEndian = "UTF-16LE"
    /// UTF-16, most significant byte first.
    case utf16BigEndian = "UTF-16BE"
    /// UTF-32, least significant byte first (recognised, not read).
    case utf32LittleEndian = "UTF-32LE"
    /// UTF-32, most significant byte first (recognised, not read).
    case utf32BigEndian = "UTF-32BE"
    /// GB18030 (and its subsets GBK and GB2312).
    case gb18030 = "GB18030"

    /// The form's usual name.
    public var description: String { rawValue }

    /// The byte-order mark (U+FEFF) in this form.
    var byteOrderMark: [UInt8] {
        switch self {
        case .utf8: return [0xEF, 0xBB, 0xBF]
        case .utf16LittleEndian: return [0xFF, 0xFE]
        case .utf16BigEndian: return [0xFE, 0xFF]
        case .utf32LittleEndian: return [0xFF, 0xFE, 0x00, 0x00]
        case .utf32BigEndian: return [0x00, 0x00, 0xFE, 0xFF]
        case .gb18030: return [0x84, 0x31, 0x95, 0x33]
        }
    }

    /// The ``ListEncoding`` that reads this form, if any (UTF-32 is not read).
    var listEncoding: ListEncoding? {
        switch self {
        case .utf8: return .utf8
        case .gb18030: return .gb18030
        case .utf16LittleEndian, .utf16BigEndian: return .utf16
        case .utf32LittleEndian, .utf32BigEndian: return nil
        }
    }
}

/// What a list's bytes showed about its encoding, when they are not in the encoding asked for.
public enum FoundEncoding: Sendable, Equatable, CustomStringConvertible {
    /// The file starts with the byte-order mark of this form.
    case byteOrderMark(TextForm)
    /// No byte-order mark, but NUL bytes where this form holds the zero bytes of ASCII characters.
    case nulPattern(TextForm)
    /// Text that is valid in this form and not in the encoding asked for.
    case validText(TextForm)
    /// Bytes that are not valid text in the encoding asked for, nor in any other this reader knows.
    case unknown

    /// The form found, if one was.
    public var form: TextForm? {
        switch self {
        case .byteOrderMark(let form), .nulPattern(let form), .validText(let form): return form
        case .unknown: return nil
        }
    }

    /// The form and the evidence, for messages.
    public var description: String {
        switch self {
        case .byteOrderMark(let form):
            return "\(form) (it starts with the byte-order mark \(form.byteOrderMark.map { String(format: "%02X", $0) }.joined(separator: " ")))"
        case .nulPattern(let form):
            return "\(form) without a byte-order mark (its first bytes hold NUL bytes where \(form) puts the zero bytes of ASCII characters)"
        case .validText(let form):
            return "\(form) (its bytes are valid \(form) text)"
        case .unknown:
            return "in an unknown encoding (its bytes are not valid text in any encoding this reader knows)"
        }
    }
}

/// Recognises encodings from a list's first bytes.
enum EncodingDetector {
    /// The byte-order mark `bytes` start with, if any (UTF-32LE is tested before UTF-16LE,
    /// whose mark it starts with).
    static func byteOrderMark(_ bytes: [UInt8]) -> TextForm? {
        let order: [TextForm] = [.utf32LittleEndian, .utf32BigEndian, .utf8, .utf16LittleEndian, .utf16BigEndian, .gb18030]
        return order.first { bytes.starts(with: $0.byteOrderMark) }
    }

    /// The wide form whose pattern of zero bytes `sample` shows (ASCII characters in UTF-16 or
    /// UTF-32 have zero high bytes), or nil if it has no NUL byte or no clear pattern.
    static func nulPattern(_ sample: [UInt8]) -> TextForm? {
        let length = sample.count / 4 * 4
        // Too few bytes make no pattern: their NUL bytes are reported as such.
        guard length >= 16, sample.prefix(length).contains(0) else { return nil }
        var zeros = [0, 0, 0, 0]
        for i in 0..<length where sample[i] == 0 { zeros[i & 3] += 1 }
        let quarter = length / 4
        let most = (quarter * 9 + 9) / 10
        if zeros[2] >= most && zeros[3] >= most && zeros[0] * 2 < quarter { return .utf32LittleEndian }
        if zeros[0] >= most && zeros[1] >= most && zeros[3] * 2 < quarter { return .utf32BigEndian }
        let even = zeros[0] + zeros[2], odd = zeros[1] + zeros[3]
        if odd >= 2 && odd >= 4 * even { return .utf16LittleEndian }
        if even >= 2 && even >= 4 * odd { return .utf16BigEndian }
        return nil
    }

    /// For bytes that are not in the encoding asked for: the 8-bit form they read as (UTF-8,
    /// else GB18030), allowing a sequence cut off at the end of the sample.
    static func eightBitForm(_ sample: [UInt8]) -> TextForm? {
        if isUTF8(sample, allowingCutEnd: true) { return .utf8 }
        if let decoder = try? Transcoder(from: .gb18030), decoder.decodesCleanly(sample) { return .gb18030 }
        return nil
    }

    /// Whether `bytes` are valid UTF-8; with `allowingCutEnd`, a sequence cut off by the end is accepted.
    static func isUTF8(_ bytes: [UInt8], allowingCutEnd: Bool) -> Bool {
        if String(validating: bytes, as: UTF8.self) != nil { return true }
        guard allowingCutEnd else { return false }
        // A UTF-8 sequence is at most 4 bytes: drop up to 3 trailing bytes of an unfinished one.
        for cut in 1...3 where cut < bytes.count {
            let lead = bytes[bytes.count - cut]
            if lead >= 0xC0, String(validating: bytes.dropLast(cut), as: UTF8.self) != nil { return true }
        }
        return false
    }
}

/// Streaming conversion to UTF-8 with the C library's iconv (glibc, or libiconv on macOS).
///
/// Foundation on Linux decodes GB18030 (`String(data:encoding:)` with the CoreFoundation
/// encoding 0x80000632), but only whole buffers: it has no incremental decoder, and a 64 KiB
/// chunk of a GB18030 or UTF-16 file usually ends inside a character. iconv keeps the cut
/// sequence for the next chunk, so memory stays one chunk whatever the file's size.
///
/// A byte sequence that is not valid in the source encoding becomes the byte 0xFF, which never
/// occurs in UTF-8: the value holding it is then refused as not valid text, with its line,
/// while the records around it are read as usual.
final class Transcoder {
    private let converter: iconv_t
    /// Bytes skipped past an invalid sequence: one for GB18030, a code unit for UTF-16.
    private let invalidStride: Int
    /// A sequence cut off at the end of the last chunk.
    private var pending: [UInt8] = []

    /// The byte that marks an invalid sequence in the output.
    static let invalidMarker: UInt8 = 0xFF

    init(from encoding: TextForm) throws {
        let name: String
        switch encoding {
        case .gb18030: name = "GB18030"; invalidStride = 1
        case .utf16LittleEndian: name = "UTF-16LE"; invalidStride = 2
        case .utf16BigEndian: name = "UTF-16BE"; invalidStride = 2
        case .utf8, .utf32LittleEndian, .utf32BigEndian: preconditionFailure("no transcoder for \(encoding)")
        }
        let handle = iconv_open("UTF-8", name)
        guard handle != iconv_t(bitPattern: -1) else {
            throw IdentifierListError.unsupportedEncoding(name: name, reason: String(cString: strerror(errno)))
        }
        converter = handle!
    }

    deinit { iconv_close(converter) }

    /// The UTF-8 for `chunk` (and any sequence left from the previous chunk). With `final`,
    /// a sequence still unfinished becomes the invalid marker.
    func decode(_ chunk: [UInt8], final: Bool) -> [UInt8] {
        var input = pending.isEmpty ? chunk : pending + chunk
        pending.removeAll()
        var output = [UInt8](repeating: 0, count: input.count * 2 + 16)
        var inputOffset = 0, outputOffset = 0
        input.withUnsafeMutableBytes { inputBytes in
            while inputOffset < inputBytes.count {
                if output.count - outputOffset < 8 { output += [UInt8](repeating: 0, count: output.count) }
                var inputLeft = inputBytes.count - inputOffset
                var outputLeft = output.count - outputOffset
                let result: Int = output.withUnsafeMutableBytes { outputBytes in
                    var inputPointer: UnsafeMutablePointer<CChar>? = inputBytes.baseAddress!.advanced(by: inputOffset)
                        .assumingMemoryBound(to: CChar.self)
                    var outputPointer: UnsafeMutablePointer<CChar>? = outputBytes.baseAddress!.advanced(by: outputOffset)
                        .assumingMemoryBound(to: CChar.self)
                    return iconv(converter, &inputPointer, &inputLeft, &outputPointer, &outputLeft)
                }
                let failure = errno
                inputOffset = inputBytes.count - inputLeft
                outputOffset = output.count - outputLeft
                if result != -1 { break }
                switch failure {
                case E2BIG:
                    output += [UInt8](repeating: 0, count: output.count)
                case EINVAL where !final:
                    pending = Array(inputBytes[inputOffset...])
                    inputOffset = inputBytes.count
                default:  // EILSEQ, or a sequence cut off by the end of the file
                    if outputOffset == output.count { output.append(0) }
                    output[outputOffset] = Self.invalidMarker
                    outputOffset += 1
                    inputOffset = min(inputOffset + invalidStride, inputBytes.count)
                }
            }
        }
        output.removeSubrange(outputOffset...)
        return output
    }

    /// Whether `bytes` convert without an invalid sequence (one cut off at the end is allowed).
    func decodesCleanly(_ bytes: [UInt8]) -> Bool {
        !decode(bytes, final: false).contains(Self.invalidMarker)
    }
}

/// A list file as a stream of UTF-8 chunks: the byte-order mark checked and removed, the
/// encoding checked against the first bytes, and the text converted to UTF-8.
struct DecodedChunks {
    static let chunkSize = 1 << 16
    /// Bytes inspected for a pattern of NUL bytes (UTF-16 or UTF-32 without a byte-order mark).
    static let sampleSize = 4096

    private let handle: FileHandle
    private let path: String
    private let transcoder: Transcoder?
    private var first: [UInt8]?
    private var finished = false

    init(handle: FileHandle, path: String, encoding: ListEncoding) throws {
        self.handle = handle
        self.path = path
        var first = [UInt8]()
        // Short reads (pipes) are topped up so that the checks see a full sample.
        while first.count < Self.sampleSize, let more = try Self.read(handle, path: path), !more.isEmpty { first += more }
        var form: TextForm
        switch encoding {
        case .utf8: form = .utf8
        case .gb18030: form = .gb18030
        case .utf16, .utf16LittleEndian: form = .utf16LittleEndian
        case .utf16BigEndian: form = .utf16BigEndian
        }
        let sample = Array(first.prefix(Self.sampleSize))
        if let mark = EncodingDetector.byteOrderMark(first) {
            guard encoding.accepts(mark) else {
                throw IdentifierListError.encodingMismatch(path: path, found: .byteOrderMark(mark), expected: encoding)
            }
            form = mark
            first.removeFirst(mark.byteOrderMark.count)
        } else if form == .utf8 || form == .gb18030 {
            if let wide = EncodingDetector.nulPattern(sample) {
                throw IdentifierListError.encodingMismatch(path: path, found: .nulPattern(wide), expected: encoding)
            }
            // UTF-8 read as GB18030 mostly decodes, into the wrong characters: refuse it. (Chinese
            // text in GB18030 is practically never valid UTF-8.)
            if form == .gb18030, sample.contains(where: { $0 >= 0x80 }), EncodingDetector.isUTF8(sample, allowingCutEnd: true) {
                throw IdentifierListError.encodingMismatch(path: path, found: .validText(.utf8), expected: encoding)
            }
        } else if !sample.contains(0), sample.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            // Every UTF-16 line break has a zero byte; line breaks without one are 8-bit text.
            let found = EncodingDetector.eightBitForm(sample).map(FoundEncoding.validText) ?? .unknown
            throw IdentifierListError.encodingMismatch(path: path, found: found, expected: encoding)
        }
        transcoder = form == .utf8 ? nil : try Transcoder(from: form)
        self.first = first
    }

    /// The next chunk of UTF-8, or nil at the end of the file.
    mutating func next() throws -> [UInt8]? {
        if finished { return nil }
        var bytes: [UInt8]
        if let first {
            self.first = nil
            bytes = first
        } else {
            bytes = try Self.read(handle, path: path) ?? []
        }
        let atEnd = bytes.isEmpty
        if let transcoder {
            bytes = transcoder.decode(bytes, final: atEnd)
        }
        if atEnd {
            finished = true
            return bytes.isEmpty ? nil : bytes
        }
        return bytes
    }

    private static func read(_ handle: FileHandle, path: String) throws -> [UInt8]? {
        do {
            guard let data = try handle.read(upToCount: chunkSize), !data.isEmpty else { return nil }
            return [UInt8](data)
        } catch {
            throw IdentifierListError.unreadable(path: path, reason: describe(error))
        }
    }
}
