public import Foundation
internal import CSodium

/// The message kinds of unbalanced PSI (header byte 12; see `Docs/file-format.md`).
public enum UnbalancedMessageKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The hub's published setup: its list's PRF values, truncated or in a filter.
    case setup = 1
    /// Entries appended to a published setup; carries the base setup's identifier.
    case setupDelta = 2
    /// A member's blinded items.
    case request = 3
    /// The hub's evaluated elements for one request.
    case response = 4

    /// The kind in words.
    public var description: String {
        switch self {
        case .setup: return "hub setup"
        case .setupDelta: return "hub setup delta"
        case .request: return "member request"
        case .response: return "hub response"
        }
    }

    /// A header's mode byte in words: the answer mode in the low four bits, the setup encoding
    /// (1 truncated tags, 2 Bloom filter; 0 for requests and responses) in the high four.
    static func modeDescription(_ mode: UInt8) -> String {
        let answer = UnbalancedAnswerMode(rawValue: mode & 0x0f)?.description ?? "unknown answer mode \(mode & 0x0f)"
        switch mode >> 4 {
        case 0: return answer
        case 1: return answer + ", truncated tags"
        case 2: return answer + ", Bloom filter"
        default: return answer + ", unknown encoding \(mode >> 4)"
        }
    }
}

/// How a hub encodes its PRF values in a setup.
public enum SetupEncoding: Sendable, Equatable, CustomStringConvertible {
    /// The first `byteCount` bytes (8–32) of each item's 64-byte PRF value, shuffled.
    /// `byteCount` bytes an item; a member item not in the list matches some tag with
    /// probability about `n / 2^(8·byteCount)` for a list of `n` items.
    case truncatedTags(byteCount: Int)
    /// A Bloom filter with false-positive rate ε (2^-40 to 0.25): about
    /// `1.44·log2(1/ε)` bits an item; a member item not in the list matches with probability at most about ε.
    case bloomFilter(falsePositiveRate: Double)

    /// Default tag length: 12 bytes (a list of a million items gives a member item a false
    /// match with probability about 2^-76).
    public static let defaultTagByteCount = 12
    /// Allowed tag lengths.
    public static let tagByteCountRange = 8...32
    /// Default Bloom filter false-positive rate, 2^-20.
    public static let defaultFalsePositiveRate = 0x1p-20

    /// The encoding byte in a setup's mode (high four bits).
    var code: UInt8 {
        switch self {
        case .truncatedTags: return 1
        case .bloomFilter: return 2
        }
    }

    /// Bytes a value is truncated to before it is stored or inserted.
    var keptByteCount: Int {
        switch self {
        case .truncatedTags(let t): return t
        case .bloomFilter: return BloomFilter.valueByteCount
        }
    }

    /// Checks the parameter.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)``.
    public func validate() throws {
        switch self {
        case .truncatedTags(let t):
            guard Self.tagByteCountRange.contains(t) else {
                throw UnbalancedPSIError.invalidEncodingParameter(reason: "tag length \(t) bytes; expected 8 to 32 bytes")
            }
        case .bloomFilter(let ε):
            _ = try BloomFilter.parameters(itemCount: 0, falsePositiveRate: ε)
        }
    }

    /// The encoding in words.
    public var description: String {
        switch self {
        case .truncatedTags(let t): return "truncated tags of \(t) bytes"
        case .bloomFilter(let ε): return "Bloom filter with false-positive rate \(String(format: "%.3g", ε))"
        }
    }

    /// A member item outside the list matches with about this probability, for a list of `itemCount` items.
    public func falsePositiveRate(itemCount: Int) -> Double {
        switch self {
        case .truncatedTags(let t): return Double(itemCount) * pow(2, -8 * Double(t))
        case .bloomFilter(let ε): return ε
        }
    }
}

/// A hub's published setup, or a delta appended to one: the PRF values of the hub's list under
/// its key, shuffled (tags) or in a Bloom filter, and the hub's public key. Members keep it and
/// query against it many times.
///
/// It reveals the list's size (and, with tags, nothing else without the hub's key).
public struct UnbalancedSetup: Sendable {
    /// Whether this is a delta (entries appended to the setup ``setupID``).
    public let isDelta: Bool
    /// The setup's random identifier; a delta carries its base setup's identifier.
    public let setupID: SessionID
    /// The key the values were made under.
    public let keyID: HubKeyID
    /// SHA-256 of the purpose label.
    public let purposeDigest: [UInt8]
    /// The answer mode the values serve.
    public let answerMode: UnbalancedAnswerMode
    /// How the values are encoded.
    public let encoding: SetupEncoding
    /// Number of list items in this file (a delta: the appended items only).
    public let itemCount: Int
    /// The hub's identity key, which signs the setup.
    public let hub: PartyPublicKey
    /// The identifier type of the hub's list.
    public let identifierType: IdentifierType
    /// The hub's public key `pkS`, against which a member verifies each intersection-mode
    /// response (its key id is ``keyID``).
    public let publicKey: GroupElement
    /// SHA-256 of the setup's file before its digest (header and body): the file's own trailing
    /// digest. A request names the setup it was made against by this digest, and the member
    /// finishes only against that setup.
    public private(set) var digest: [UInt8] = []

    enum Body: Sendable {
        /// `itemCount × t` bytes of tags.
        case tags([UInt8])
        case filter(BloomFilter)
    }
    let body: Body
    /// Where it was read from, for error messages.
    let origin: String
    /// SHA-256 of the file it was read from (for the run's receipt); nil when not read from a file.
    var fileDigest: [UInt8]?

    /// A member item outside the list matches with about this probability: for tags
    /// `n / 2^(8·t)`, for a filter the rate of its actual bits (``BloomFilter/falsePositiveRateFromFill``),
    /// whatever `n` it states.
    public var falsePositiveRate: Double {
        switch body {
        case .tags: return encoding.falsePositiveRate(itemCount: itemCount)
        case .filter(let filter): return filter.falsePositiveRateFromFill
        }
    }

    init(isDelta: Bool, setupID: SessionID, publicKey: GroupElement, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode,
         encoding: SetupEncoding, itemCount: Int, hub: PartyPublicKey, identifierType: IdentifierType, body: Body, origin: String) {
        self.hub = hub
        self.identifierType = identifierType
        self.isDelta = isDelta
        self.setupID = setupID
        self.keyID = HubKeyID(publicKey: publicKey)
        self.publicKey = publicKey
        self.purposeDigest = purposeDigest
        self.answerMode = answerMode
        self.encoding = encoding
        self.itemCount = itemCount
        self.body = body
        self.origin = origin
        self.digest = computeDigest()
    }

    /// The file's stored digest, from the same bytes ``write(to:signedBy:)`` writes.
    private func computeDigest() -> [UInt8] {
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        let header = self.header.encoded()
        crypto_hash_sha256_update(&state, header, UInt64(header.count))
        forEachBodyPart { part in
            if part.count > 0 { crypto_hash_sha256_update(&state, part.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(part.count)) }
        }
        var digest = [UInt8](repeating: 0, count: MessageHeader.digestByteCount)
        crypto_hash_sha256_final(&state, &digest)
        return digest
    }

    /// The body after the header, in order and in pieces of whole elements: the tags (1 MiB at
    /// a time) or the filter. (The public key is in the header's extension block.)
    private func forEachBodyPart(_ consume: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let elementSize = header.elementSize
        switch body {
        case .tags(let tags):
            let step = max(1, (1 << 20) / elementSize) * elementSize
            try tags.withUnsafeBytes { raw in
                for start in stride(from: 0, to: raw.count, by: step) {
                    try consume(UnsafeRawBufferPointer(rebasing: raw[start..<min(raw.count, start + step)]))
                }
            }
        case .filter(let filter):
            try filter.encodedBody().withUnsafeBytes(consume)
        }
    }

    /// The Bloom filter, for a filter setup.
    public var bloomFilter: BloomFilter? {
        if case .filter(let filter) = body { return filter }
        return nil
    }

    /// The header of this setup's file.
    var header: MessageHeader {
        let (elementSize, count): (Int, Int)
        switch body {
        case .tags(let tags):
            guard case .truncatedTags(let t) = encoding else { preconditionFailure("tags with a filter encoding") }
            (elementSize, count) = (t, tags.count / t)
        case .filter(let filter):
            (elementSize, count) = (8, BloomFilter.parameterWords + (filter.bitCount + 63) / 64)
        }
        return MessageHeader(suite: .ristretto255SHA512, protocolID: .unbalanced,
                             kind: (isDelta ? UnbalancedMessageKind.setupDelta : .setup).rawValue,
                             mode: encoding.code << 4 | answerMode.rawValue, elementSize: elementSize,
                             identifierType: identifierType, purposeDigest: purposeDigest, sessionID: setupID,
                             keyID: keyID.bytes, sender: hub, recipient: nil, count: count,
                             extensions: try! UnbalancedFields(publicKey: publicKey).extensions())  // 35 bytes always fit
    }

    /// Size of this setup's file in bytes (header, body, trailer).
    public var fileByteCount: Int {
        let header = self.header
        return header.byteCount + header.count * header.elementSize + MessageHeader.trailerByteCount
    }

    /// Writes the setup as a message file for any reader, signed by the hub (atomically).
    ///
    /// - Precondition: `identity` is the setup's ``hub``.
    public func write(to url: URL, signedBy identity: PartyIdentity) throws {
        let writer = try MessageFileWriter(url: url, header: header, signer: identity)
        try forEachBodyPart { try writer.append(elements: $0) }
        try writer.commit()
    }

    /// Reads and checks a setup or delta file.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - hub: the hub's identity key: the only signer accepted.
    ///   - reader: the reader's own identity key: a setup addressed to another party is refused
    ///     (a published setup is for any reader).
    ///   - purpose: the purpose label the setup must be for (nil: any).
    ///   - keyID: the key the setup must be under (nil: any); another key is refused with
    ///     ``UnbalancedPSIError/setupUnderOtherKey(path:setupKeyID:requestKeyID:)``.
    /// - Throws: ``MessageFileError`` for a file that is not an intact unbalanced setup signed
    ///   by `hub`, and ``UnbalancedPSIError`` for an unknown encoding or bad filter parameters.
    public static func read(from url: URL, hub: PartyPublicKey, reader: PartyPublicKey, purpose: PurposeLabel? = nil,
                            keyID: HubKeyID? = nil) throws -> UnbalancedSetup {
        let file = try openSetup(url, hub: hub, reader: reader, purpose: purpose, keyID: keyID)
        var setup = try read(file, url: url)
        setup.fileDigest = file.fileDigest
        return setup
    }

    private static func read(_ file: MessageFileReader, url: URL) throws -> UnbalancedSetup {
        let header = file.header
        let (mode, encodingCode) = try setupMode(header, path: url.path)
        let isDelta = header.kind == UnbalancedMessageKind.setupDelta.rawValue
        guard let identifierType = header.identifierType else {
            throw UnbalancedPSIError.invalidSetup(path: url.path, reason: "it names no identifier type; expected the type of the hub's list")
        }
        let publicKey = try readPublicKey(file)
        var body = [UInt8]()
        body.reserveCapacity(header.count * header.elementSize)
        while let chunk = try file.readChunk(maximumElements: max(1, (1 << 20) / header.elementSize)) { body += chunk }
        switch encodingCode {
        case 1:
            guard SetupEncoding.tagByteCountRange.contains(header.elementSize) else {
                throw UnbalancedPSIError.invalidSetup(path: url.path, reason: "tags are \(header.elementSize) bytes; expected 8 to 32")
            }
            return UnbalancedSetup(isDelta: isDelta, setupID: header.sessionID, publicKey: publicKey, purposeDigest: header.purposeDigest,
                                   answerMode: mode, encoding: .truncatedTags(byteCount: header.elementSize),
                                   itemCount: body.count / header.elementSize, hub: header.sender, identifierType: identifierType,
                                   body: .tags(body), origin: url.path)
        default:
            guard header.elementSize == 8 else {
                throw UnbalancedPSIError.invalidSetup(path: url.path, reason: "a Bloom filter's elements are \(header.elementSize) bytes; expected 8")
            }
            switch BloomFilter.decode(body: body) {
            case .success(let filter):
                return UnbalancedSetup(isDelta: isDelta, setupID: header.sessionID, publicKey: publicKey, purposeDigest: header.purposeDigest,
                                       answerMode: mode, encoding: .bloomFilter(falsePositiveRate: filter.falsePositiveRate),
                                       itemCount: filter.itemCount, hub: header.sender, identifierType: identifierType,
                                       body: .filter(filter), origin: url.path)
            case .failure(.invalidSetup(_, let reason)):
                throw UnbalancedPSIError.invalidSetup(path: url.path, reason: reason)
            case .failure(let error):
                throw error
            }
        }
    }

    /// The hub's public key from a setup's extension block, checked against the header's key id.
    ///
    /// - Throws: ``MessageFileError/badExtensionRecord(path:type:reason:)`` when the record is
    ///   missing or of the wrong length, and ``UnbalancedPSIError/invalidSetup(path:reason:)``
    ///   when it is not a valid element of that key id.
    static func readPublicKey(_ reader: MessageFileReader) throws -> GroupElement {
        try UnbalancedFields.decode(reader.header.extensions, kind: .setup, answerMode: .intersection, itemCount: 0,
                                    keyID: HubKeyID(bytes: reader.header.keyID), path: reader.url.path).publicKey!
    }

    /// Opens a setup file and checks its header (nothing of the body is read).
    static func openSetup(_ url: URL, hub: PartyPublicKey, reader: PartyPublicKey, purpose: PurposeLabel?,
                          keyID: HubKeyID?) throws -> MessageFileReader {
        do {
            return try MessageFileReader(url: url, expecting: MessageExpectation(
                suite: .ristretto255SHA512, protocolID: .unbalanced,
                kinds: [UnbalancedMessageKind.setup.rawValue, UnbalancedMessageKind.setupDelta.rawValue],
                purposeDigest: purpose?.digest, keyID: keyID?.bytes, trustedSenders: [hub], recipient: reader,
                acceptsAnyReader: true))
        } catch MessageFileError.keyMismatch(let path, let found, let expected) {
            throw UnbalancedPSIError.setupUnderOtherKey(path: path, setupKeyID: found, requestKeyID: expected)
        }
    }

    /// The answer mode and encoding code of a setup header.
    static func setupMode(_ header: MessageHeader, path: String) throws -> (UnbalancedAnswerMode, UInt8) {
        guard let mode = UnbalancedAnswerMode(rawValue: header.mode & 0x0f), [1, 2].contains(header.mode >> 4) else {
            throw UnbalancedPSIError.invalidSetup(path: path, reason: "unknown mode byte \(header.mode) (\(header.modeDescription)); expected 0x11, 0x12, 0x21 or 0x22")
        }
        return (mode, header.mode >> 4)
    }
}

/// A tag, up to 32 bytes, stored inline (zero-padded) so a set of tags needs no heap object per tag.
///
/// Hashed whole with Swift's per-process seeded hasher: a hostile setup whose tags share their
/// first bytes cannot make every lookup walk one long collision chain.
struct Tag: Hashable {
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    init(_ bytes: UnsafeRawPointer, count: Int) {
        Swift.withUnsafeMutableBytes(of: &self) { $0.baseAddress!.copyMemory(from: bytes, byteCount: count) }
    }
}

/// A setup and its deltas, ready for many lookups: the tags in one hash set, or the filters.
///
/// Build it once per published setup and share it: it is immutable and `Sendable`.
public struct UnbalancedSetupLookup: Sendable {
    /// The base setup's identifier.
    public let setupID: SessionID
    /// The base setup's digest (``UnbalancedSetup/digest``), which a request names.
    public let setupDigest: [UInt8]
    /// The key of the setup.
    public let keyID: HubKeyID
    /// The hub's public key, from the setup.
    public let publicKey: GroupElement
    /// SHA-256 of the purpose label.
    public let purposeDigest: [UInt8]
    /// The answer mode the setup serves.
    public let answerMode: UnbalancedAnswerMode
    /// The hub's identity key, which signed the setup and its deltas.
    public let hub: PartyPublicKey
    /// The identifier type of the hub's list.
    public let identifierType: IdentifierType
    /// List items in the setup and its deltas.
    public let itemCount: Int
    /// A member item outside the list matches with at most about this probability (the sum
    /// over the setup and its deltas of ``UnbalancedSetup/falsePositiveRate``: a filter's from
    /// its actual bits).
    public let falsePositiveRate: Double

    private let tagByteCount: Int
    private let tags: Set<Tag>
    private let filters: [BloomFilter]
    let origin: String

    /// Combines a setup with the deltas published after it.
    ///
    /// - Throws: ``UnbalancedPSIError/deltaBaseMismatch(path:found:expected:)`` for a delta of
    ///   another setup, ``UnbalancedPSIError/setupUnderOtherKey(path:setupKeyID:requestKeyID:)``
    ///   for a delta under another key, ``UnbalancedPSIError/encodingMismatch(path:found:expected:)``
    ///   and ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)`` for a delta
    ///   encoded differently, ``UnbalancedPSIError/invalidSetup(path:reason:)`` when `setup`
    ///   is itself a delta or a delta is not, and ``MessageFileError/purposeMismatch(path:found:expected:)``.
    public init(setup: UnbalancedSetup, deltas: [UnbalancedSetup] = []) throws {
        guard !setup.isDelta else {
            throw UnbalancedPSIError.invalidSetup(path: setup.origin, reason: "it is a setup delta; expected the full setup it extends")
        }
        for delta in deltas {
            guard delta.isDelta else {
                throw UnbalancedPSIError.invalidSetup(path: delta.origin, reason: "it is a full setup; expected a delta of setup \(setup.setupID)")
            }
            guard delta.setupID == setup.setupID else {
                throw UnbalancedPSIError.deltaBaseMismatch(path: delta.origin, found: delta.setupID.description, expected: setup.setupID.description)
            }
            guard delta.keyID == setup.keyID else {
                throw UnbalancedPSIError.setupUnderOtherKey(path: delta.origin, setupKeyID: delta.keyID.description, requestKeyID: setup.keyID.description)
            }
            guard delta.hub == setup.hub else {
                throw MessageFileError.untrustedSender(path: delta.origin, sender: delta.hub.fingerprint, expected: setup.hub.fingerprint)
            }
            guard delta.identifierType == setup.identifierType else {
                throw MessageFileError.identifierTypeMismatch(path: delta.origin, found: delta.identifierType.description,
                                                              expected: setup.identifierType.description)
            }
            guard delta.purposeDigest == setup.purposeDigest else {
                throw MessageFileError.purposeMismatch(path: delta.origin, found: delta.purposeDigest.hexString, expected: setup.purposeDigest.hexString)
            }
            guard delta.answerMode == setup.answerMode else {
                throw UnbalancedPSIError.answerModeMismatch(path: delta.origin, found: delta.answerMode.description, expected: setup.answerMode.description)
            }
            let sameEncoding: Bool
            switch (delta.encoding, setup.encoding) {
            case let (.truncatedTags(a), .truncatedTags(b)): sameEncoding = a == b
            case (.bloomFilter, .bloomFilter): sameEncoding = true
            default: sameEncoding = false
            }
            guard sameEncoding else {
                throw UnbalancedPSIError.encodingMismatch(path: delta.origin, found: delta.encoding.description, expected: setup.encoding.description)
            }
        }
        let all = [setup] + deltas
        setupID = setup.setupID
        setupDigest = setup.digest
        keyID = setup.keyID
        publicKey = setup.publicKey
        purposeDigest = setup.purposeDigest
        answerMode = setup.answerMode
        hub = setup.hub
        identifierType = setup.identifierType
        itemCount = all.reduce(0) { $0 + $1.itemCount }
        falsePositiveRate = all.reduce(0) { $0 + $1.falsePositiveRate }
        origin = setup.origin
        var tags = Set<Tag>()
        var filters = [BloomFilter]()
        var tagByteCount = 0
        if case .truncatedTags(let t) = setup.encoding {
            tagByteCount = t
            tags.reserveCapacity(itemCount)
        }
        for part in all {
            switch part.body {
            case .tags(let bytes):
                bytes.withUnsafeBytes { raw in
                    for offset in stride(from: 0, to: raw.count, by: tagByteCount) {
                        tags.insert(Tag(raw.baseAddress! + offset, count: tagByteCount))
                    }
                }
            case .filter(let filter):
                filters.append(filter)
            }
        }
        self.tags = tags
        self.filters = filters
        self.tagByteCount = tagByteCount
    }

    /// Whether a 64-byte PRF value is (probably) in the setup.
    func contains(_ value: UnsafeRawBufferPointer) -> Bool {
        if tagByteCount > 0 { return tags.contains(Tag(value.baseAddress!, count: tagByteCount)) }
        return filters.contains { $0.contains(value) }
    }
}
