public import Foundation

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
    /// (1 truncated tags, 2 Bloom filter, 3 truncated tags with encrypted labels; 0 for requests
    /// and responses) in the high four.
    static func modeDescription(_ mode: UInt8) -> String {
        let answer = UnbalancedAnswerMode(rawValue: mode & 0x0f)?.description ?? "unknown answer mode \(mode & 0x0f)"
        switch mode >> 4 {
        case 0: return answer
        case 1: return answer + ", truncated tags"
        case 2: return answer + ", Bloom filter"
        case 3: return answer + ", truncated tags with encrypted labels"
        default: return answer + ", unknown encoding \(mode >> 4)"
        }
    }
}

/// How a hub encodes its PRF values in a setup.
public enum SetupEncoding: Sendable, Equatable, CustomStringConvertible {
    /// The first `byteCount` bytes (8–32) of each item's 64-byte PRF value, sorted.
    /// `byteCount` bytes an item; a member item not in the list matches some tag with
    /// probability about `n / 2^(8·byteCount)` for a list of `n` items.
    case truncatedTags(byteCount: Int)
    /// A Bloom filter with false-positive rate ε (2^-40 to 0.25): about
    /// `1.44·log2(1/ε)` bits an item; a member item not in the list matches with probability at most about ε.
    case bloomFilter(falsePositiveRate: Double)
    /// Truncated tags, each followed by the item's label (``SetupLabel``) padded to
    /// `labelByteCount` bytes and encrypted under a key derived from the item's PRF value
    /// (<doc:LabelsAndSetupEncodings>): `tagByteCount + labelByteCount + 16` bytes an item, sorted by tag.
    /// Intersection answers only.
    case labeledTags(tagByteCount: Int, labelByteCount: Int)

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
        case .labeledTags: return 3
        }
    }

    /// Bytes a value is truncated to before it is stored or inserted (a labeled setup needs the
    /// whole value: the label key comes from its second half).
    var keptByteCount: Int {
        switch self {
        case .truncatedTags(let t): return t
        case .bloomFilter: return BloomFilter.valueByteCount
        case .labeledTags: return UnbalancedPRF.outputByteCount
        }
    }

    /// The tag length of a tags encoding (nil for a filter).
    var tagByteCount: Int? {
        switch self {
        case .truncatedTags(let t), .labeledTags(let t, _): return t
        case .bloomFilter: return nil
        }
    }

    /// The plaintext label size of a labeled encoding.
    public var labelByteCount: Int? {
        if case .labeledTags(_, let size) = self { return size }
        return nil
    }

    /// Bytes of one entry of a tags encoding: the tag, and the sealed label.
    var entryByteCount: Int? {
        switch self {
        case .truncatedTags(let t): return t
        case .labeledTags(let t, let size): return t + size + LabelCipher.overhead
        case .bloomFilter: return nil
        }
    }

    /// Checks the parameter.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidEncodingParameter(reason:)``.
    public func validate() throws {
        switch self {
        case .truncatedTags(let t), .labeledTags(let t, _):
            guard Self.tagByteCountRange.contains(t) else {
                throw UnbalancedPSIError.invalidEncodingParameter(reason: "tag length \(t) bytes; expected 8 to 32 bytes")
            }
            if let size = labelByteCount, !SetupLabel.byteCountRange.contains(size) {
                throw UnbalancedPSIError.invalidEncodingParameter(
                    reason: "label size \(size) bytes; expected \(SetupLabel.byteCountRange.lowerBound) to \(SetupLabel.byteCountRange.upperBound) bytes")
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
        case .labeledTags(let t, let size): return "truncated tags of \(t) bytes with \(size)-byte encrypted labels"
        }
    }

    /// A member item outside the list matches with about this probability, for a list of `itemCount` items.
    public func falsePositiveRate(itemCount: Int) -> Double {
        switch self {
        case .truncatedTags(let t), .labeledTags(let t, _): return Double(itemCount) * pow(2, -8 * Double(t))
        case .bloomFilter(let ε): return ε
        }
    }

    /// Whether a delta in `other` may extend a setup in this encoding.
    func extends(_ other: SetupEncoding) -> Bool {
        switch (self, other) {
        case (.bloomFilter, .bloomFilter): return true
        case (.bloomFilter, _), (_, .bloomFilter): return false
        default: return self == other
        }
    }
}

/// The extension records of setups and deltas (types 64 and 65; `Docs/file-format.md`).
enum SetupExtension {
    /// Labeled setups: the tag length (1 byte) and the fixed label size (2 bytes, big-endian).
    static let labelParameters: UInt8 = 64
    /// Deltas: the delta's number, 1 for the first delta of a setup (4 bytes, big-endian).
    static let deltaNumber: UInt8 = 65
}

/// A hub's published setup, or a delta appended to one: the PRF values of the hub's list under
/// its key, as sorted tags (with or without encrypted labels) or in a Bloom filter, and the
/// hub's public key. Members keep it and query against it many times.
///
/// It reveals the list's size (and, with tags, nothing else without the hub's key).
public struct UnbalancedSetup: Sendable {
    /// Whether this is a delta (entries appended to the setup ``setupID``).
    public let isDelta: Bool
    /// The delta's number (1 for the first delta of a setup, and so on); 0 for a full setup.
    /// Members apply deltas in this order and refuse a gap.
    public let deltaNumber: Int
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
    /// Number of list items in this file (a delta: the appended or relabeled items only).
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
    public private(set) var digest: [UInt8]

    enum Body: Sendable {
        /// Sorted entries: tags, or tags with sealed labels.
        case tags(SetupEntryTable)
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

    /// Whether the entries carry encrypted labels.
    public var hasLabels: Bool { encoding.labelByteCount != nil }

    /// A setup made in memory; its digest is computed from the bytes ``write(to:signedBy:)`` writes.
    init(isDelta: Bool, deltaNumber: Int, setupID: SessionID, publicKey: GroupElement, purposeDigest: [UInt8],
         answerMode: UnbalancedAnswerMode, encoding: SetupEncoding, itemCount: Int, hub: PartyPublicKey,
         identifierType: IdentifierType, body: Body, origin: String, digest: [UInt8]? = nil) {
        self.hub = hub
        self.identifierType = identifierType
        self.isDelta = isDelta
        self.deltaNumber = deltaNumber
        self.setupID = setupID
        self.keyID = HubKeyID(publicKey: publicKey)
        self.publicKey = publicKey
        self.purposeDigest = purposeDigest
        self.answerMode = answerMode
        self.encoding = encoding
        self.itemCount = itemCount
        self.body = body
        self.origin = origin
        self.digest = []
        self.digest = digest ?? computeDigest()
    }

    /// The file's stored digest, from the same bytes ``write(to:signedBy:)`` writes.
    private func computeDigest() -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(self.header.encoded())
        try? forEachBodyPart { hasher.update($0) }
        return hasher.finalize()
    }

    /// The body after the header, in order and in pieces of whole elements: the entries (about
    /// 1 MiB at a time) or the filter. (The public key is the header's extension record 1.)
    private func forEachBodyPart(_ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let elementSize = header.elementSize
        switch body {
        case .tags(let table):
            try table.forEachChunk(consume)
        case .filter(let filter):
            try filter.encodedBody().withUnsafeBytes(consume)
        }
    }

    /// The Bloom filter, for a filter setup.
    public var bloomFilter: BloomFilter? {
        if case .filter(let filter) = body { return filter }
        return nil
    }

    /// The sorted entries, for a tags setup.
    var entries: SetupEntryTable? {
        if case .tags(let table) = body { return table }
        return nil
    }

    /// The header of this setup's file.
    var header: MessageHeader {
        Self.header(isDelta: isDelta, deltaNumber: deltaNumber, setupID: setupID, keyID: keyID, publicKey: publicKey,
                    purposeDigest: purposeDigest,
                    answerMode: answerMode, encoding: encoding, hub: hub, identifierType: identifierType,
                    bodyElements: {
                        switch body {
                        case .tags(let table): return table.count
                        case .filter(let filter): return BloomFilter.parameterWords + (filter.bitCount + 63) / 64
                        }
                    }())
    }

    /// The header of a setup or delta file whose body holds `bodyElements` elements, with the
    /// hub's public key in extension record 1.
    static func header(isDelta: Bool, deltaNumber: Int, setupID: SessionID, keyID: HubKeyID, publicKey: GroupElement,
                       purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode, encoding: SetupEncoding, hub: PartyPublicKey,
                       identifierType: IdentifierType, bodyElements: Int) -> MessageHeader {
        let elementSize = encoding.entryByteCount ?? 8
        var extensions = MessageExtensions()
        // The records are a few bytes each; the block's limit cannot be reached.
        try! extensions.set(publicKey.rawRepresentation, for: .hubPublicKey)
        if case .labeledTags(let t, let size) = encoding {
            try! extensions.set([UInt8(t), UInt8(size >> 8), UInt8(size & 0xff)], for: SetupExtension.labelParameters)
        }
        if isDelta {
            try! extensions.set(withUnsafeBytes(of: UInt32(deltaNumber).bigEndian, Array.init), for: SetupExtension.deltaNumber)
        }
        return MessageHeader(suite: .ristretto255SHA512, protocolID: .unbalanced,
                             kind: (isDelta ? UnbalancedMessageKind.setupDelta : .setup).rawValue,
                             mode: encoding.code << 4 | answerMode.rawValue, elementSize: elementSize,
                             identifierType: identifierType, purposeDigest: purposeDigest, sessionID: setupID,
                             keyID: keyID.bytes, sender: hub, recipient: nil,
                             count: bodyElements, extensions: extensions)
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
    /// Tags (with or without labels) stay in the file: only a block index is kept in memory
    /// (a block index), so a setup of 100,000,000 items takes about 13 MB. A filter is
    /// read into memory.
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
    ///   by `hub`, and ``UnbalancedPSIError`` for an unknown encoding, bad filter or label
    ///   parameters, entries out of order, or a delta without its number.
    public static func read(from url: URL, hub: PartyPublicKey, reader: PartyPublicKey, purpose: PurposeLabel? = nil,
                            keyID: HubKeyID? = nil) throws -> UnbalancedSetup {
        let file = try openSetup(url, hub: hub, reader: reader, purpose: purpose, keyID: keyID)
        var setup = try read(file, url: url)
        setup.fileDigest = file.fileDigest
        return setup
    }

    /// The facts of a setup's header that a delta or a reader needs: answer mode, encoding
    /// (for a filter, only its code; ε is in the body), delta number.
    struct HeaderFacts {
        let answerMode: UnbalancedAnswerMode
        let encodingCode: UInt8
        let encoding: SetupEncoding?
        let isDelta: Bool
        let deltaNumber: Int
    }

    /// Checks a setup header's mode, element size and extension records.
    static func facts(_ header: MessageHeader, path: String) throws -> HeaderFacts {
        let (mode, code) = try setupMode(header, path: path)
        let isDelta = header.kind == UnbalancedMessageKind.setupDelta.rawValue
        var deltaNumber = 0
        if isDelta {
            guard let value = header.extensions[SetupExtension.deltaNumber], value.count == 4 else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "the delta does not state its number (a 4-byte extension record of type \(SetupExtension.deltaNumber))")
            }
            deltaNumber = Int(value.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard deltaNumber >= 1 else { throw UnbalancedPSIError.invalidSetup(path: path, reason: "the delta's number is 0; deltas are numbered from 1") }
        } else if header.extensions[SetupExtension.deltaNumber] != nil {
            throw UnbalancedPSIError.invalidSetup(path: path, reason: "a full setup carries a delta number")
        }
        let encoding: SetupEncoding?
        switch code {
        case 1:
            guard SetupEncoding.tagByteCountRange.contains(header.elementSize) else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "tags are \(header.elementSize) bytes; expected 8 to 32")
            }
            encoding = .truncatedTags(byteCount: header.elementSize)
        case 3:
            guard let value = header.extensions[SetupExtension.labelParameters], value.count == 3 else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "a labeled setup must state its tag length and label size (a 3-byte extension record of type \(SetupExtension.labelParameters))")
            }
            let labeled = SetupEncoding.labeledTags(tagByteCount: Int(value[0]), labelByteCount: Int(value[1]) << 8 | Int(value[2]))
            do { try labeled.validate() } catch let error as UnbalancedPSIError {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: error.localizedDescription)
            }
            guard labeled.entryByteCount == header.elementSize else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "its entries are \(header.elementSize) bytes; expected \(labeled.entryByteCount!) for \(labeled)")
            }
            guard mode == .intersection else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "labels are only for intersection answers")
            }
            encoding = labeled
        default:
            guard header.elementSize == 8 else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "a Bloom filter's elements are \(header.elementSize) bytes; expected 8")
            }
            encoding = nil
        }
        return HeaderFacts(answerMode: mode, encodingCode: code, encoding: encoding, isDelta: isDelta, deltaNumber: deltaNumber)
    }

    private static func read(_ file: MessageFileReader, url: URL) throws -> UnbalancedSetup {
        let header = file.header
        let facts = try facts(header, path: url.path)
        guard let identifierType = header.identifierType else {
            throw UnbalancedPSIError.invalidSetup(path: url.path, reason: "it names no identifier type; expected the type of the hub's list")
        }
        let publicKey = try readPublicKey(file)
        let bodyElements = header.count
        // The stored digest: the signature over it was verified on open, and the content is
        // compared with it when the last element has been read.
        let storedDigest = file.storedDigest
        func make(_ encoding: SetupEncoding, _ itemCount: Int, _ body: Body) -> UnbalancedSetup {
            UnbalancedSetup(isDelta: facts.isDelta, deltaNumber: facts.deltaNumber, setupID: header.sessionID, publicKey: publicKey,
                            purposeDigest: header.purposeDigest, answerMode: facts.answerMode, encoding: encoding, itemCount: itemCount,
                            hub: header.sender, identifierType: identifierType, body: body, origin: url.path, digest: storedDigest)
        }
        if let encoding = facts.encoding {
            let table = try SetupEntryTable.reading(file, count: bodyElements, entrySize: header.elementSize,
                                                    tagSize: encoding.tagByteCount!,
                                                    offset: header.byteCount)
            return make(encoding, bodyElements, .tags(table))
        }
        var body = [UInt8]()
        body.reserveCapacity(bodyElements * header.elementSize)
        while let chunk = try file.readChunk(maximumElements: max(1, (1 << 20) / header.elementSize)) { body += chunk }
        switch BloomFilter.decode(body: body) {
        case .success(let filter):
            return make(.bloomFilter(falsePositiveRate: filter.falsePositiveRate), filter.itemCount, .filter(filter))
        case .failure(.invalidSetup(_, let reason)):
            throw UnbalancedPSIError.invalidSetup(path: url.path, reason: reason)
        case .failure(let error):
            throw error
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
        guard let mode = UnbalancedAnswerMode(rawValue: header.mode & 0x0f), [1, 2, 3].contains(header.mode >> 4) else {
            throw UnbalancedPSIError.invalidSetup(path: path, reason: "unknown mode byte \(header.mode) (\(header.modeDescription)); expected 0x11, 0x12, 0x21, 0x22 or 0x31")
        }
        return (mode, header.mode >> 4)
    }
}

/// A setup and its deltas, ready for many lookups: the sorted entries of each file (searched
/// in place, with a block index), or the filters.
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
    /// List entries in the setup and its deltas (an item relabeled by a delta counts in each).
    public let itemCount: Int
    /// A member item outside the list matches with at most about this probability (the sum
    /// over the setup and its deltas of ``UnbalancedSetup/falsePositiveRate``: a filter's from
    /// its actual bits).
    public let falsePositiveRate: Double
    /// Whether the entries carry encrypted labels.
    public let hasLabels: Bool

    /// The setup, then its deltas in order.
    private let parts: [UnbalancedSetup]
    let origin: String

    /// Combines a setup with the deltas published after it, which must be given in order:
    /// delta 1, delta 2, and so on, none missing.
    ///
    /// - Throws: ``UnbalancedPSIError/deltaBaseMismatch(path:found:expected:)`` for a delta of
    ///   another setup, ``UnbalancedPSIError/deltaOutOfOrder(path:found:expected:)`` for a
    ///   delta out of order (or a gap), ``UnbalancedPSIError/setupUnderOtherKey(path:setupKeyID:requestKeyID:)``
    ///   for a delta under another key, ``UnbalancedPSIError/encodingMismatch(path:found:expected:)``
    ///   and ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)`` for a delta
    ///   encoded differently, ``UnbalancedPSIError/invalidSetup(path:reason:)`` when `setup`
    ///   is itself a delta or a delta is not, and ``MessageFileError/purposeMismatch(path:found:expected:)``.
    public init(setup: UnbalancedSetup, deltas: [UnbalancedSetup] = []) throws {
        guard !setup.isDelta else {
            throw UnbalancedPSIError.invalidSetup(path: setup.origin, reason: "it is a setup delta; expected the full setup it extends")
        }
        for (position, delta) in deltas.enumerated() {
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
            guard delta.encoding.extends(setup.encoding) else {
                throw UnbalancedPSIError.encodingMismatch(path: delta.origin, found: delta.encoding.description, expected: setup.encoding.description)
            }
            // Applied in order: a later delta's label replaces an earlier one's, so a gap or a
            // swap would silently show an outdated label.
            guard delta.deltaNumber == position + 1 else {
                throw UnbalancedPSIError.deltaOutOfOrder(path: delta.origin, found: delta.deltaNumber, expected: position + 1)
            }
        }
        parts = [setup] + deltas
        setupID = setup.setupID
        setupDigest = setup.digest
        keyID = setup.keyID
        publicKey = setup.publicKey
        purposeDigest = setup.purposeDigest
        answerMode = setup.answerMode
        hub = setup.hub
        identifierType = setup.identifierType
        itemCount = parts.reduce(0) { $0 + $1.itemCount }
        falsePositiveRate = parts.reduce(0) { $0 + $1.falsePositiveRate }
        hasLabels = setup.hasLabels
        origin = setup.origin
    }

    /// Whether a member's finalized item (its 64-byte OPRF output, as ``OPRF`` Finalize gives
    /// it) is in the setup, for a service that finalizes answers itself; false for any other length.
    ///
    /// - Throws: ``MessageFileError/io(path:reason:)`` when a file-backed setup cannot be read
    ///   or changed after it was verified.
    public func contains(finalizedValue value: [UInt8]) throws -> Bool {
        guard value.count == UnbalancedPRF.outputByteCount else { return false }
        return try value.withUnsafeBytes { try contains($0) }
    }

    /// The label of a member's finalized item (its 64-byte OPRF output) in a labeled setup,
    /// or nil when it is not in the setup; see ``UnbalancedPSIMember/finishWithLabels(response:lookup:)``.
    ///
    /// - Throws: ``UnbalancedPSIError/labelAuthenticationFailed(path:entry:)`` and the errors of
    ///   ``contains(finalizedValue:)``.
    public func label(forFinalizedValue value: [UInt8]) throws -> SetupLabel? {
        guard value.count == UnbalancedPRF.outputByteCount else { return nil }
        return try value.withUnsafeBytes { try label(for: $0) }
    }

    /// Whether a 64-byte PRF value is (probably) in the setup.
    func contains(_ value: UnsafeRawBufferPointer) throws -> Bool {
        for part in parts {
            switch part.body {
            case .tags(let table):
                if try !table.entries(matching: value).isEmpty { return true }
            case .filter(let filter):
                if filter.contains(value) { return true }
            }
        }
        return false
    }

    /// The label of a member's item whose 64-byte OPRF output is `value`: every entry of the
    /// setup and its deltas whose tag matches is decrypted, and the newest label wins (a delta
    /// replaces the label of an item it lists again). Nil when no entry matches.
    ///
    /// - Throws: ``UnbalancedPSIError/labelAuthenticationFailed(path:entry:)`` for a matching
    ///   entry whose label does not authenticate under the item's key, and
    ///   ``UnbalancedPSIError/invalidDecryptedLabel(path:entry:reason:)``.
    func label(for value: UnsafeRawBufferPointer) throws -> SetupLabel? {
        var newest: SetupLabel?
        for part in parts {
            guard let table = part.entries, let t = part.encoding.tagByteCount else { continue }
            let tag = UnsafeRawBufferPointer(rebasing: value[0..<t])
            let nonce = LabelCipher.nonce(setupID: part.setupID, deltaNumber: part.deltaNumber)
            for (index, entry) in try table.entries(matching: value) {
                let opened = entry.withUnsafeBytes { raw in
                    LabelCipher.open(UnsafeRawBufferPointer(rebasing: raw[t...]), value: value, tag: tag, setupID: part.setupID, nonce: nonce)
                }
                guard let plaintext = opened else {
                    throw UnbalancedPSIError.labelAuthenticationFailed(path: part.origin, entry: index)
                }
                switch SetupLabel.decode(plaintext) {
                case .success(let label): newest = label
                case .failure(let problem):
                    throw UnbalancedPSIError.invalidDecryptedLabel(path: part.origin, entry: index, reason: problem.reason)
                }
            }
        }
        return newest
    }
}
