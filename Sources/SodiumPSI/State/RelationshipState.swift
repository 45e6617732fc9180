public import Foundation

/// A 16-byte value of the incremental protocol: an item fingerprint or a comparison value.
/// Ordered as bytes (big-endian words), so sorted sections are sorted bytewise.
struct Value16: Hashable, Comparable, Sendable {
    var high: UInt64
    var low: UInt64

    static let byteCount = 16
    static let zero = Value16(high: 0, low: 0)

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The value of 16 bytes at `offset` of `bytes`.
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
    }

    init(_ bytes: [UInt8], at offset: Int = 0) {
        self = bytes.withUnsafeBytes { Value16($0, at: offset) }
    }

    func append(to bytes: inout [UInt8]) {
        var pair = (high.bigEndian, low.bigEndian)
        withUnsafeBytes(of: &pair) { bytes.append(contentsOf: $0) }
    }

    var bytes: [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(16)
        append(to: &b)
        return b
    }

    static func < (a: Value16, b: Value16) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// Which side of a relationship a state belongs to.
public enum RelationshipRole: UInt8, Sendable, CustomStringConvertible {
    /// Sends message 1 and message 3 of each run.
    case initiator = 1
    /// Sends message 2 of each run.
    case responder = 2

    public var description: String { self == .initiator ? "initiator" : "responder" }
}

/// One own item in a relationship state: its fingerprint (the key), its comparison value as the
/// peer made it, and its canonical form (reported when it matches).
struct OwnEntry: Sendable {
    var value: Value16
    var canonical: String
}

/// The long-lived state of one side of an incremental relationship (see `Docs/file-format.md`,
/// "Relationship state"): the epoch's scalar, the fingerprint key, this side's items with their
/// comparison values, and the peer's items as (removal key, comparison value) pairs.
struct RelationshipState {
    static let bodyHeaderByteCount = 1 + 1 + 2 + 32 + 32 + 32 + 8 + 16 + 8 + 16 + 16 + 8 + 8

    var role: RelationshipRole
    var suite: PSISuite
    var identifierType: IdentifierType
    var purposeDigest: [UInt8]
    var me: PartyPublicKey
    var peer: PartyPublicKey
    /// The epoch number (1, 2, …) and its identifier, chosen by the initiator.
    var epoch: UInt64
    var epochID: SessionID
    /// The last finished run (day), counted over the relationship's life; 0 before the first.
    var day: UInt64
    /// Random, new at every write: a pending run names the state it was made from.
    var generation: Value16
    /// The session of the last finished run (a finish re-run with its messages is recognised).
    var lastSession: Value16
    /// 32-byte scalar of the epoch, then the 32-byte fingerprint key.
    var secret: SecretBytes
    var own: [Value16: OwnEntry]
    var peerItems: [Value16: Value16]

    var scalar: SecretBytes { secret.withUnsafeBytes { s in SecretBytes(count: 32) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[0..<32])) } } }
    var fingerprintKey: SecretBytes { secret.withUnsafeBytes { s in SecretBytes(count: 32) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: s[32..<64])) } } }

    /// The own items whose comparison value the peer also holds: the intersection.
    func matches(peerValues: Set<Value16>) -> [Value16: String] {
        var result = [Value16: String]()
        for (fingerprint, entry) in own where peerValues.contains(entry.value) { result[fingerprint] = entry.canonical }
        return result
    }

    /// The peer's comparison values.
    var peerValueSet: Set<Value16> { Set(peerItems.values) }

    static func secretBytes(scalar: SecretBytes, fingerprintKey: SecretBytes) -> SecretBytes {
        SecretBytes(count: 64) { out in
            scalar.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[0..<32]).copyMemory(from: $0) }
            fingerprintKey.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[32..<64]).copyMemory(from: $0) }
        }
    }

    // MARK: File

    /// Writes the state atomically (mode 0600), replacing the previous one.
    func write(to url: URL) throws {
        let writer = try secret.withUnsafeBytes { try SecretContainer.Writer(url: url, content: .relationshipState, secret: $0) }
        var header = [UInt8]()
        header.reserveCapacity(Self.bodyHeaderByteCount)
        header += [role.rawValue, suite.rawValue] + identifierType.headerBytes + purposeDigest + me.bytes + peer.bytes
        header += bigEndian(epoch) + epochID.bytes + bigEndian(day)
        generation.append(to: &header)
        lastSession.append(to: &header)
        header += bigEndian(UInt64(own.count)) + bigEndian(UInt64(peerItems.count))
        precondition(header.count == Self.bodyHeaderByteCount)
        try writer.write(header)
        var chunk = [UInt8]()
        chunk.reserveCapacity(1 << 20)
        // Sorted as (key, value) pairs: no second lookup of each key.
        for (fingerprint, entry) in own.sorted(by: { $0.key < $1.key }) {
            fingerprint.append(to: &chunk)
            entry.value.append(to: &chunk)
            var text = entry.canonical
            text.withUTF8 { utf8 in
                chunk.append(UInt8(utf8.count >> 8))
                chunk.append(UInt8(utf8.count & 0xff))
                chunk.append(contentsOf: utf8)
            }
            if chunk.count >= 1 << 20 { try writer.write(chunk); chunk.removeAll(keepingCapacity: true) }
        }
        for (key, value) in peerItems.sorted(by: { $0.key < $1.key }) {
            key.append(to: &chunk)
            value.append(to: &chunk)
            if chunk.count >= 1 << 20 { try writer.write(chunk); chunk.removeAll(keepingCapacity: true) }
        }
        try writer.write(chunk)
        chunk.withUnsafeMutableBytes { wipe($0) }
        try writer.seal(description: [])
        try writer.commit(replacing: true)
    }

    /// Reads and checks a state; nil when there is no file (a relationship not started yet).
    /// - Parameter includePeer: false to skip the peer section (message 1 needs only this side's items).
    static func read(from url: URL, includePeer: Bool = true) throws -> RelationshipState? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let path = url.path
        let invalid = { (reason: String) -> any Error in StateFileError.invalidStateFile(path: path, reason: reason) }
        let reader = try SecretContainer.Reader(url: url, content: .relationshipState, invalid: invalid)
        guard reader.bodyByteCount >= bodyHeaderByteCount else { throw invalid("its body is shorter than a relationship header") }
        let body = try reader.bodyBytes(at: 0, count: reader.bodyByteCount)
        var fields = BodyCursor(body, invalid: invalid)
        func take(_ n: Int) throws -> ArraySlice<UInt8> { try fields.take(n) }
        func u64() throws -> UInt64 { try fields.u64() }
        func v16() throws -> Value16 { try fields.v16() }
        guard let role = RelationshipRole(rawValue: try take(1).first!) else { throw invalid("unknown role") }
        guard let suite = PSISuite(rawValue: try take(1).first!) else { throw invalid("unknown suite") }
        let typeBytes = Array(try take(2))
        guard let kind = Identifier.Kind(rawValue: typeBytes[0]) else { throw invalid("unknown identifier kind \(typeBytes[0])") }
        let identifierType = IdentifierType(kind: kind, caseInsensitive: typeBytes[1] & 1 != 0)
        let purpose = Array(try take(32))
        let me = try PartyPublicKey(bytes: Array(try take(32)))
        let peer = try PartyPublicKey(bytes: Array(try take(32)))
        let epoch = try u64()
        let epochID = try SessionID(bytes: Array(try take(16)))
        let day = try u64()
        let generation = try v16()
        let lastSession = try v16()
        let ownCount = try u64()
        let peerCount = try u64()
        guard ownCount <= UInt64(body.count), peerCount <= UInt64(body.count / 32) else { throw invalid("its counts exceed its length") }
        var own = [Value16: OwnEntry](minimumCapacity: Int(ownCount))
        var peerItems = [Value16: Value16](minimumCapacity: includePeer ? Int(peerCount) : 0)
        var cursor = fields.offset
        try body.withUnsafeBytes { raw in
            for _ in 0..<ownCount {
                guard raw.count - cursor >= 34 else { throw invalid("it ends inside a section; the file is damaged") }
                let fingerprint = Value16(raw, at: cursor), value = Value16(raw, at: cursor + 16)
                let length = Int(raw[cursor + 32]) << 8 | Int(raw[cursor + 33])
                cursor += 34
                guard raw.count - cursor >= length else { throw invalid("it ends inside a section; the file is damaged") }
                guard let text = String(validating: UnsafeRawBufferPointer(rebasing: raw[cursor..<(cursor + length)]), as: UTF8.self) else {
                    throw invalid("an own item is not UTF-8")
                }
                cursor += length
                own[fingerprint] = OwnEntry(value: value, canonical: text)
            }
            guard UInt64(raw.count - cursor) == peerCount * 32 else {
                throw invalid("its peer section is \(raw.count - cursor) bytes; expected \(peerCount) entries of 32 bytes; the file is damaged")
            }
            if includePeer {
                for _ in 0..<peerCount {
                    peerItems[Value16(raw, at: cursor)] = Value16(raw, at: cursor + 16)
                    cursor += 32
                }
            } else {
                cursor = raw.count
            }
        }
        guard cursor == body.count else { throw invalid("\(body.count - cursor) bytes follow its last section; the file is damaged") }
        guard reader.secret.count == 64 else { throw invalid("its secret is \(reader.secret.count) bytes; expected 64") }
        return RelationshipState(role: role, suite: suite, identifierType: identifierType, purposeDigest: purpose, me: me, peer: peer,
                                 epoch: epoch, epochID: epochID, day: day, generation: generation, lastSession: lastSession,
                                 secret: reader.secret, own: own, peerItems: peerItems)
    }
}

/// The 8 big-endian bytes of `value`.
func bigEndian(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// Reads the fields of a state body in order (integers big-endian), refusing a body that ends
/// inside one with `invalid`'s error.
struct BodyCursor {
    let body: [UInt8]
    /// Bytes read so far.
    private(set) var offset = 0
    let invalid: (String) -> any Error

    init(_ body: [UInt8], invalid: @escaping (String) -> any Error) {
        self.body = body
        self.invalid = invalid
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n <= body.count - offset else { throw invalid("it ends inside a section; the file is damaged") }
        defer { offset += n }
        return body[offset..<offset + n]
    }

    mutating func u64() throws -> UInt64 { try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }

    mutating func v16() throws -> Value16 { Value16(Array(try take(16))) }
}
