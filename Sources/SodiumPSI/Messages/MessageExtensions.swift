import Foundation

/// The extension block of a message header: typed records (`type` u8, `length` u16
/// big-endian, `value`), types strictly ascending, each at most once, at most
/// ``maximumByteCount`` bytes in all. It is covered by the digest and the signature like the
/// rest of the header. Each protocol step says which types it requires (see
/// ``RecordType`` and `Docs/file-format.md`); a reader ignores types it does not use.
public struct MessageExtensions: Sendable, Equatable {
    /// The largest block, in bytes (records with their type and length bytes): room for 255
    /// DLEQ proofs, one per 65,535 elements.
    public static let maximumByteCount = 16_384
    /// Bytes of a record before its value: type and length.
    static let recordOverhead = 3
    /// The largest value of a block's only record.
    static let maximumValueByteCount = maximumByteCount - recordOverhead

    /// The record types this version defines, for every protocol.
    public enum RecordType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        /// Unbalanced setup or delta: the hub's public key `pkS` (32 bytes).
        case hubPublicKey = 1
        /// Unbalanced request: the digest of the setup it is made against (32 bytes).
        case setupDigest = 2
        /// Unbalanced response, intersection mode: one 64-byte DLEQ proof per 65,535 evaluated elements.
        case dleqProofs = 3
        /// Verifiable mutual PSI, step 1: the initiator's commitment `A = a·G` (32 bytes).
        case initiatorCommitment = 4
        /// Verifiable mutual PSI, step 3: one 64-byte DLEQ proof per 65,535 points.
        case reblindingProofs = 5

        /// The record's content, as errors name it.
        public var description: String {
            switch self {
            case .hubPublicKey: return "the hub's public key"
            case .setupDigest: return "the setup digest"
            case .dleqProofs: return "the response's DLEQ proofs"
            case .initiatorCommitment: return "the initiator's commitment a·G"
            case .reblindingProofs: return "the step-3 DLEQ proofs"
            }
        }
    }

    /// One record.
    public struct Record: Sendable, Equatable {
        /// The record type.
        public let type: UInt8
        /// The value.
        public let value: [UInt8]
    }

    /// The records, in ascending type order.
    public private(set) var records: [Record] = []

    /// An empty block.
    public init() {}

    /// The encoded size of the block.
    public var byteCount: Int { records.reduce(0) { $0 + Self.recordOverhead + $1.value.count } }

    /// The value of the record of `type`, if present.
    public subscript(type: UInt8) -> [UInt8]? {
        records.first { $0.type == type }?.value
    }

    /// Sets (adds or replaces) the record of `type`.
    ///
    /// - Throws: ``PSIError/inputTooLong(what:length:maximum:)`` when the block would exceed
    ///   ``maximumByteCount`` bytes.
    public mutating func set(_ value: [UInt8], for type: UInt8) throws {
        let others = records.filter { $0.type != type }
        let total = others.reduce(0) { $0 + Self.recordOverhead + $1.value.count } + Self.recordOverhead + value.count
        guard total <= Self.maximumByteCount else {
            throw PSIError.inputTooLong(what: "extension block", length: total, maximum: Self.maximumByteCount)
        }
        records = (others + [Record(type: type, value: value)]).sorted { $0.type < $1.type }
    }

    /// The value of the record of `type`, if present.
    public subscript(type: RecordType) -> [UInt8]? { self[type.rawValue] }

    /// Sets (adds or replaces) the record of `type`.
    ///
    /// - Throws: ``PSIError/inputTooLong(what:length:maximum:)`` when the block would exceed
    ///   ``maximumByteCount`` bytes.
    public mutating func set(_ value: [UInt8], for type: RecordType) throws { try set(value, for: type.rawValue) }

    /// The value of the record of `type` that a step requires, of exactly `length` bytes.
    ///
    /// - Throws: ``MessageFileError/badExtensionRecord(path:type:reason:)`` naming `path` when
    ///   the record is missing or of another length.
    func required(_ type: RecordType, length: Int, path: String) throws -> [UInt8] {
        guard let value = self[type] else {
            throw MessageFileError.badExtensionRecord(path: path, type: type.rawValue, reason: "is missing; expected \(type) (\(length) bytes)")
        }
        guard value.count == length else {
            throw MessageFileError.badExtensionRecord(path: path, type: type.rawValue,
                                                      reason: "holds \(value.count) bytes; expected \(type) (\(length) bytes)")
        }
        return value
    }

    /// Removes the record of `type`, if present.
    public mutating func removeValue(for type: UInt8) {
        records.removeAll { $0.type == type }
    }

    /// The encoded block.
    func encoded() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(byteCount)
        for record in records {
            bytes += [record.type, UInt8(record.value.count >> 8), UInt8(record.value.count & 0xff)] + record.value
        }
        return bytes
    }

    /// Decodes a block read from a header (at most ``maximumByteCount`` bytes, checked before).
    static func decode(_ bytes: [UInt8]) -> Result<MessageExtensions, ExtensionBlockProblem> {
        var block = MessageExtensions()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= recordOverhead else {
                return .failure(.truncatedRecord(offset: offset, remaining: bytes.count - offset))
            }
            let type = bytes[offset]
            let length = Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let remaining = bytes.count - offset - recordOverhead
            guard length <= remaining else {
                return .failure(.valueOverrun(type: type, offset: offset, length: length, remaining: remaining))
            }
            if let previous = block.records.last {
                if previous.type == type { return .failure(.repeatedType(type: type, offset: offset)) }
                if previous.type > type { return .failure(.unsortedType(type: type, offset: offset, previous: previous.type)) }
            }
            block.records.append(Record(type: type, value: Array(bytes[(offset + recordOverhead)..<(offset + recordOverhead + length)])))
            offset += recordOverhead + length
        }
        return .success(block)
    }
}

/// What is wrong with a message's extension block.
public enum ExtensionBlockProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The header declares a block longer than ``MessageExtensions/maximumByteCount``.
    case tooLong(length: Int)
    /// Fewer bytes remain at `offset` than a record's type and length take.
    case truncatedRecord(offset: Int, remaining: Int)
    /// A record's declared value runs past the end of the block.
    case valueOverrun(type: UInt8, offset: Int, length: Int, remaining: Int)
    /// A record's type is below the type of the record before it.
    case unsortedType(type: UInt8, offset: Int, previous: UInt8)
    /// A record's type equals the type of the record before it.
    case repeatedType(type: UInt8, offset: Int)

    /// The problem in words.
    public var description: String {
        switch self {
        case let .tooLong(length):
            return "the extension block is \(length) bytes long; at most \(MessageExtensions.maximumByteCount) are allowed"
        case let .truncatedRecord(offset, remaining):
            return "the record at block offset \(offset) is cut off: \(remaining) bytes remain of its 3 bytes of type and length"
        case let .valueOverrun(type, offset, length, remaining):
            return "record type \(type) at block offset \(offset) declares \(length) bytes of value, but only \(remaining) remain in the block"
        case let .unsortedType(type, offset, previous):
            return "record type \(type) at block offset \(offset) follows type \(previous); expected strictly ascending types"
        case let .repeatedType(type, offset):
            return "record type \(type) at block offset \(offset) repeats the record before it; expected each type at most once"
        }
    }
}
