public import Foundation
internal import CSodium

/// Writes a message file as a stream: header, elements in chunks, then the trailer (SHA-256 of
/// everything before it and the sender's signature of that digest); the file appears under its
/// final name only on ``commit()`` (see `Docs/file-format.md`).
public final class MessageFileWriter {
    /// The header being written.
    public let header: MessageHeader
    private let file: AtomicFile
    private let signer: PartyIdentity
    private var digest = crypto_hash_sha256_state()
    private var written = 0
    /// SHA-256 of the whole file as written, trailer included (set by ``seal()``).
    public private(set) var fileDigest: [UInt8]?
    /// The trailer's digest, SHA-256 of everything before it (set by ``seal()``).
    public private(set) var contentDigest: [UInt8]?

    /// Starts a message file; nothing appears under `url` until ``commit()``.
    ///
    /// - Parameters:
    ///   - url: the final name.
    ///   - header: the header; its ``MessageHeader/sender`` must be `signer`'s public key.
    ///   - signer: the sender's identity, which signs the file's digest at ``commit()``.
    /// - Throws: ``OutputFileError/cannotCreate(path:reason:)`` when the folder is missing or
    ///   not writable.
    public init(url: URL, header: MessageHeader, signer: PartyIdentity) throws {
        precondition(signer.publicKey == header.sender, "a message file is signed by the sender its header names")
        self.header = header
        self.signer = signer
        self.file = try AtomicFile(path: url.path, mode: 0o644)
        crypto_hash_sha256_init(&digest)
        try hashAndWrite(header.encoded())
    }

    /// Appends raw elements: a whole number of `header.elementSize`-byte elements.
    public func append(elements raw: UnsafeRawBufferPointer) throws {
        precondition(raw.count % header.elementSize == 0, "appended bytes must be whole elements")
        guard raw.count > 0 else { return }
        crypto_hash_sha256_update(&digest, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(raw.count))
        try file.write(raw)
        written += raw.count / header.elementSize
    }

    /// Appends 32-byte elements.
    public func append(_ elements: [BlindedElement]) throws {
        try elements.withUnsafeBytes { try append(elements: $0) }
    }

    /// Appends re-blinded values as they travel: `hash.length` bytes each.
    func append(packed values: [BlindedElement], by hash: ComparisonHash) throws {
        try hash.packed(values).withUnsafeBytes { try append(elements: $0) }
    }

    /// Appends the elements held in a temporary file.
    func append(contentsOf spill: SpillFile) throws {
        try spill.forEachChunk(maximumBytes: header.elementSize << 15) { try append(elements: $0) }
    }

    /// Writes the digest and the signature (the file is complete, but not yet under its final
    /// name), and sets ``fileDigest``. ``commit()`` seals first if this was not called.
    ///
    /// - Throws: ``MessageFileError/writtenCountMismatch(path:written:declared:)`` when the
    ///   number of appended elements differs from the header's count (nothing is saved).
    public func seal() throws {
        guard fileDigest == nil else { return }
        guard written == header.count else {
            file.abort()
            throw MessageFileError.writtenCountMismatch(path: file.path, written: written, declared: header.count)
        }
        // The content digest from a copy of the running state; the running state goes on over
        // the trailer to give the whole file's SHA-256 without hashing anything twice.
        var content = digest
        var sum = [UInt8](repeating: 0, count: MessageHeader.digestByteCount)
        crypto_hash_sha256_final(&content, &sum)
        contentDigest = sum
        let trailer = sum + signer.signature(of: MessageHeader.signedBytes(digest: sum))
        try hashAndWrite(trailer)
        var whole = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&digest, &whole)
        fileDigest = whole
    }

    /// Seals the file if needed, syncs it, and renames it into place.
    ///
    /// - Throws: the errors of ``seal()``, and ``OutputFileError`` when writing or renaming fails.
    public func commit() throws {
        try seal()
        try file.commit()
    }

    private func hashAndWrite(_ bytes: [UInt8]) throws {
        crypto_hash_sha256_update(&digest, bytes, UInt64(bytes.count))
        try file.write(bytes)
    }
}

/// What `psi inspect` reports of a message file.
public struct MessageInspection: Sendable {
    /// The header (its fields were not checked against any expectation).
    public let header: MessageHeader
    /// Whether the sender's signature of the stored digest verifies.
    public let signatureValid: Bool
    /// Whether the stored digest matches the content.
    public let digestValid: Bool
}

/// Reads a message file as a stream, refusing it at the first field that differs from what is
/// expected. The header, the extension block and the file length are checked before anything
/// else is read or allocated; then the sender's signature of the stored digest is verified,
/// before any element is returned; the digest itself is compared with the content when the last
/// element has been read.
public final class MessageFileReader {
    /// The file.
    public let url: URL
    /// Its header, already checked against the expectation.
    public let header: MessageHeader
    /// Whether the signature verified (false only for a file opened to be inspected).
    let signatureValid: Bool
    private let handle: FileHandle
    private var digest = crypto_hash_sha256_state()
    private let trailer: [UInt8]
    private var remaining: Int
    private var finished = false
    /// SHA-256 of the whole file, trailer included; set once every element has been read and
    /// the digest verified.
    public private(set) var fileDigest: [UInt8]?
    /// The digest stored in the trailer, which the verified signature covers (the content is
    /// compared with it when the last element has been read).
    var storedDigest: [UInt8] { Array(trailer[..<MessageHeader.digestByteCount]) }

    /// Opens a file, checks its header, extension block and length against `expecting`, and
    /// verifies the sender's signature.
    ///
    /// - Throws: ``MessageFileError`` naming the file and the first problem found, among them
    ///   ``MessageFileError/untrustedSender(path:sender:expected:)``,
    ///   ``MessageFileError/wrongRecipient(path:found:expected:)`` and
    ///   ``MessageFileError/badSignature(path:sender:)``.
    public convenience init(url: URL, expecting expectation: MessageExpectation) throws {
        try self.init(url: url, expecting: expectation, requireValidSignature: true)
    }

    init(url: URL, expecting expectation: MessageExpectation, requireValidSignature: Bool) throws {
        self.url = url
        let path = url.path
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw MessageFileError.io(path: path, reason: describe(error))
        }
        let length = try Self.length(of: handle, path: path)
        let fixed = try Self.read(handle, count: min(length, MessageHeader.fixedByteCount), path: path)
        var header = try Self.parseHeader(fixed, length: length, path: path, expectation: expectation)
        let block = try Self.read(handle, count: Int(fixed[18]) << 8 | Int(fixed[19]), path: path)
        switch MessageExtensions.decode(block) {
        case .success(let extensions): header.extensions = extensions
        case .failure(let problem): throw MessageFileError.badExtensionBlock(path: path, problem: problem)
        }
        self.header = header
        do {
            try handle.seek(toOffset: UInt64(length - MessageHeader.trailerByteCount))
            trailer = try Self.read(handle, count: MessageHeader.trailerByteCount, path: path)
            try handle.seek(toOffset: UInt64(header.byteCount))
        } catch let error as MessageFileError {
            throw error
        } catch {
            throw MessageFileError.io(path: path, reason: describe(error))
        }
        guard trailer.count == MessageHeader.trailerByteCount else {
            throw MessageFileError.truncated(path: path, length: length - MessageHeader.trailerByteCount + trailer.count, expected: length)
        }
        let storedDigest = Array(trailer[..<MessageHeader.digestByteCount])
        signatureValid = header.sender.isValidSignature(Array(trailer[MessageHeader.digestByteCount...]),
                                                        of: MessageHeader.signedBytes(digest: storedDigest))
        if requireValidSignature, !signatureValid {
            throw MessageFileError.badSignature(path: path, sender: header.sender.fingerprint)
        }
        remaining = header.count
        crypto_hash_sha256_init(&digest)
        crypto_hash_sha256_update(&digest, fixed, UInt64(fixed.count))
        crypto_hash_sha256_update(&digest, block, UInt64(block.count))
    }

    deinit { try? handle.close() }

    /// Reads up to `maximumElements` raw elements (`count × elementSize` bytes); nil once all
    /// are read, at which point the trailing digest has been verified.
    ///
    /// - Throws: ``MessageFileError/digestMismatch(path:)`` after the last chunk when the file
    ///   was altered, ``MessageFileError/truncated(path:length:expected:)`` if it shrank meanwhile.
    public func readChunk(maximumElements: Int) throws -> [UInt8]? {
        precondition(maximumElements > 0)
        if remaining == 0 {
            try finish()
            return nil
        }
        let n = min(maximumElements, remaining)
        let bytes = try Self.read(handle, count: n * header.elementSize, path: url.path)
        guard bytes.count == n * header.elementSize else {
            throw MessageFileError.io(path: url.path, reason: "the file ended early: it was changed while being read")
        }
        crypto_hash_sha256_update(&digest, bytes, UInt64(bytes.count))
        remaining -= n
        if remaining == 0 { try finish() }
        return bytes
    }

    /// Reads every remaining element of a mutual-PSI message, verifies the digest, then
    /// refuses the all-zero value and repeated elements.
    ///
    /// - Parameters:
    ///   - checkEncodings: also check every element against the header's suite (in parallel).
    ///     Pass false only when every element is about to be re-blinded, which checks each one
    ///     anyway (see ``MutualPSIMessage/read(from:kind:configuration:sessionID:count:checkEncodings:)``).
    ///   - parallelism: threads for the checks.
    public func readAllElements(checkEncodings: Bool = true, parallelism: Parallelism = .allCores) throws -> [BlindedElement] {
        guard header.elementSize == BlindedElement.byteCount else {
            throw MessageFileError.elementSizeMismatch(path: url.path, found: header.elementSize, expected: BlindedElement.byteCount)
        }
        var elements = [BlindedElement]()
        elements.reserveCapacity(remaining)
        // The last chunk verifies the digest, so elements are checked only in an intact file.
        while let chunk = try readChunk(maximumElements: 1 << 15) {
            chunk.withUnsafeBytes { raw in
                for offset in stride(from: 0, to: raw.count, by: BlindedElement.byteCount) {
                    elements.append(BlindedElement(unchecked: raw.baseAddress! + offset))
                }
            }
        }
        let suite = MutualSuite(header.suite)
        do {
            try suite.checkNonZeroAndDistinct(elements)
            if checkEncodings { try suite.check(elements, parallelism: parallelism) }
        } catch let error as PSIError {
            throw MessageFileError.wrapping(path: url.path, elementError: error)
        }
        return elements
    }

    /// Reads every remaining value of a re-blinded set (hashes of at most 32 bytes, see
    /// ``ComparisonHash``) zero-padded to 32 bytes, verifies the digest, then refuses the
    /// all-zero value and repeats.
    func readAllComparedValues() throws -> [BlindedElement] {
        let length = header.elementSize
        guard length <= BlindedElement.byteCount else {
            throw MessageFileError.elementSizeMismatch(path: url.path, found: length, expected: BlindedElement.byteCount)
        }
        var values = [BlindedElement]()
        values.reserveCapacity(remaining)
        while let chunk = try readChunk(maximumElements: 1 << 15) {
            chunk.withUnsafeBytes { values += ComparisonHash.unpacked($0, length: length) }
        }
        do {
            try MutualSuite(header.suite).checkNonZeroAndDistinct(values)
        } catch let error as PSIError {
            throw MessageFileError.wrapping(path: url.path, elementError: error)
        }
        return values
    }

    /// The header of any message file, whether its signature verifies and whether its
    /// digest matches, for `psi inspect`. Any sender is accepted; nothing is checked against
    /// an expectation but the format itself.
    public static func inspect(url: URL) throws -> MessageInspection {
        let reader = try MessageFileReader(url: url, expecting: MessageExpectation(), requireValidSignature: false)
        do {
            while try reader.readChunk(maximumElements: 1 << 15) != nil {}
            return MessageInspection(header: reader.header, signatureValid: reader.signatureValid, digestValid: true)
        } catch MessageFileError.digestMismatch {
            return MessageInspection(header: reader.header, signatureValid: reader.signatureValid, digestValid: false)
        }
    }

    private func finish() throws {
        guard !finished else { return }
        finished = true
        let stored = Array(trailer[..<MessageHeader.digestByteCount])
        var content = digest
        var computed = [UInt8](repeating: 0, count: MessageHeader.digestByteCount)
        crypto_hash_sha256_final(&content, &computed)
        guard stored == computed else {
            throw MessageFileError.digestMismatch(path: url.path)
        }
        crypto_hash_sha256_update(&digest, trailer, UInt64(trailer.count))
        var whole = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&digest, &whole)
        fileDigest = whole
    }

    // MARK: Header

    /// Parses and checks the fixed header and the file length (the extension block is decoded
    /// by the caller).
    private static func parseHeader(_ b: [UInt8], length: Int, path: String,
                                    expectation e: MessageExpectation) throws -> MessageHeader {
        // A short file: a bad magic is the more useful message when the bytes that are there
        // already differ from it, and a file of another version says so, whatever its length.
        guard b.prefix(MessageHeader.magic.count).elementsEqual(MessageHeader.magic.prefix(b.count)) else {
            throw MessageFileError.badMagic(path: path)
        }
        let minimumLength = MessageHeader.fixedByteCount + MessageHeader.trailerByteCount
        if b.count >= 10 {
            let version = UInt16(b[8]) << 8 | UInt16(b[9])
            guard version == MessageHeader.currentVersion else {
                throw MessageFileError.unsupportedVersion(path: path, found: version, supported: MessageHeader.currentVersion)
            }
        }
        // With the fixed header present, the header alone decides (a hostile count is refused
        // from it); the file length is checked last.
        guard b.count == MessageHeader.fixedByteCount else {
            throw MessageFileError.truncated(path: path, length: length, expected: minimumLength)
        }
        guard let suite = PSISuite(rawValue: b[10]) else {
            throw MessageFileError.suiteMismatch(path: path, found: PSISuite.describeUnknown(b[10]),
                                                 expected: e.suite?.description ?? PSISuite.allCases.map(\.description).joined(separator: " or "))
        }
        if let expected = e.suite, suite != expected {
            throw MessageFileError.suiteMismatch(path: path, found: suite.description, expected: expected.description)
        }
        guard let protocolID = PSIProtocol(rawValue: b[11]) else {
            throw MessageFileError.protocolMismatch(path: path, found: "unknown protocol \(b[11])",
                                                    expected: e.protocolID?.description ?? "mutual or unbalanced")
        }
        if let expected = e.protocolID, protocolID != expected {
            throw MessageFileError.protocolMismatch(path: path, found: protocolID.description, expected: expected.description)
        }
        let elementSize = Int(b[14]) << 8 | Int(b[15])
        var identifierType: IdentifierType?
        if b[16] != 0 || b[17] != 0 {
            guard let type = IdentifierType(kindByte: b[16], flags: b[17]) else {
                let found = Identifier.Kind(rawValue: b[16]).map { "\(IdentifierType(kind: $0)) with identifier flags \(b[17])" }
                    ?? "unknown identifier kind \(b[16]) with identifier flags \(b[17])"
                throw MessageFileError.identifierTypeMismatch(path: path, found: found,
                                                              expected: e.identifierType?.description ?? "a known identifier type")
            }
            identifierType = type
        }
        let extensionLength = Int(b[18]) << 8 | Int(b[19])
        let declaredCount = b[148..<156].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // A count above Int.max cannot be a real file; clamp it here and refuse it (with the
        // declared value, not the clamp) before the count is compared or used.
        let count = declaredCount > UInt64(Int.max) ? Int.max : Int(declaredCount)
        let sender = partyKey(Array(b[84..<116]))
        let recipient = b[116..<148].allSatisfy { $0 == 0 } ? nil : partyKey(Array(b[116..<148]))
        let header = MessageHeader(suite: suite, protocolID: protocolID, kind: b[12], mode: b[13], elementSize: elementSize,
                                   identifierType: identifierType, purposeDigest: Array(b[20..<52]),
                                   sessionID: try! SessionID(bytes: Array(b[52..<68])), keyID: Array(b[68..<84]),
                                   sender: sender, recipient: recipient, count: count)
        if let kinds = e.kinds, !kinds.contains(header.kind) {
            var expected = header
            let names = kinds.sorted().map { kind -> String in
                expected.kind = kind
                return expected.kindDescription
            }
            throw MessageFileError.wrongStep(path: path, found: header.kindDescription, expected: names.joined(separator: " or "))
        }
        if let mode = e.mode, mode != header.mode {
            var expected = header
            expected.mode = mode
            throw MessageFileError.modeMismatch(path: path, found: header.modeDescription, expected: expected.modeDescription)
        }
        guard (1...MessageHeader.maximumElementSize).contains(elementSize) else {
            throw MessageFileError.elementSizeMismatch(path: path, found: elementSize, expected: e.elementSize ?? BlindedElement.byteCount)
        }
        if let size = e.elementSize, size != elementSize {
            throw MessageFileError.elementSizeMismatch(path: path, found: elementSize, expected: size)
        }
        if let expected = e.identifierType, expected != identifierType {
            throw MessageFileError.identifierTypeMismatch(path: path, found: identifierType?.description ?? "no identifier type",
                                                          expected: expected.description)
        }
        if let purpose = e.purposeDigest, purpose != header.purposeDigest {
            throw MessageFileError.purposeMismatch(path: path, found: header.purposeDigest.hexString, expected: purpose.hexString)
        }
        if let session = e.sessionID, session != header.sessionID {
            throw MessageFileError.sessionMismatch(path: path, found: header.sessionID.description, expected: session.description)
        }
        if let key = e.keyID, key != header.keyID {
            throw MessageFileError.keyMismatch(path: path, found: header.keyID.hexString, expected: key.hexString)
        }
        if let trusted = e.trustedSenders, !trusted.contains(sender) {
            throw MessageFileError.untrustedSender(path: path, sender: sender.fingerprint, expected: describeTrusted(trusted))
        }
        if let reader = e.recipient {
            let acceptable = recipient == reader || (recipient == nil && e.acceptsAnyReader)
            guard acceptable else {
                throw MessageFileError.wrongRecipient(path: path, found: recipient?.fingerprint ?? "any reader", expected: reader.fingerprint)
            }
        }
        guard extensionLength <= MessageExtensions.maximumByteCount else {
            throw MessageFileError.badExtensionBlock(path: path, problem: .tooLong(length: extensionLength))
        }
        let computedLength = declaredCount > UInt64(Int.max) ? nil
            : Self.fileLength(headerBytes: MessageHeader.fixedByteCount + extensionLength, count: count, elementSize: elementSize)
        guard let expectedLength = computedLength else {
            throw MessageFileError.countTooLarge(path: path, count: declaredCount, elementSize: elementSize, length: length)
        }
        if let expected = e.count, expected != count {
            throw MessageFileError.countMismatch(path: path, found: count, expected: expected)
        }
        if let limit = e.maximumCount, count > limit {
            throw MessageFileError.peerSetTooLarge(path: path, count: count, limit: limit)
        }
        guard length >= expectedLength else {
            throw MessageFileError.truncated(path: path, length: length, expected: expectedLength)
        }
        guard length == expectedLength else {
            throw MessageFileError.trailingBytes(path: path, length: length, expected: expectedLength)
        }
        return header
    }

    /// A key from header bytes; one that is not a valid Ed25519 key is kept as it is (no
    /// signature verifies with it, and no trusted key equals it).
    private static func partyKey(_ bytes: [UInt8]) -> PartyPublicKey {
        (try? PartyPublicKey(bytes: bytes)) ?? PartyPublicKey(uncheckedBytes: bytes)
    }

    /// The trusted keys in words, for an error: one fingerprint, or how many there are.
    private static func describeTrusted(_ trusted: Set<PartyPublicKey>) -> String {
        switch trusted.count {
        case 0: return "no one (no sender is trusted)"
        case 1: return trusted.first!.fingerprint
        case 2...3: return "one of " + trusted.map(\.fingerprint).sorted().joined(separator: ", ")
        default: return "one of \(trusted.count) trusted keys"
        }
    }

    /// Header, elements and trailer; nil when the count is too large to be a real file.
    static func fileLength(headerBytes: Int, count: Int, elementSize: Int) -> Int? {
        let (body, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow, body <= Int.max - headerBytes - MessageHeader.trailerByteCount else { return nil }
        return headerBytes + body + MessageHeader.trailerByteCount
    }

    // MARK: I/O

    private static func length(of handle: FileHandle, path: String) throws -> Int {
        do {
            let end = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            return Int(end)
        } catch {
            throw MessageFileError.io(path: path, reason: describe(error))
        }
    }

    private static func read(_ handle: FileHandle, count: Int, path: String) throws -> [UInt8] {
        guard count > 0 else { return [] }
        do { return [UInt8](try handle.read(upToCount: count) ?? Data()) } catch {
            throw MessageFileError.io(path: path, reason: describe(error))
        }
    }
}

extension MessageFileError {
    /// The file-level form of an element error found while checking or re-blinding a message;
    /// an error that names no element is returned as it is.
    static func wrapping(path: String, elementError error: PSIError) -> any Error {
        switch error {
        case .identityElement(let index?), .invalidElementEncoding(let index?), .zeroValue(let index?), .lowOrderElement(let index?),
             .outsidePrimeOrderSubgroup(let index?):
            return MessageFileError.invalidElement(path: path, index: index, reason: error.localizedDescription)
        case .duplicateElement(let index, let first):
            return MessageFileError.duplicateElement(path: path, index: index, firstIndex: first)
        default:
            return error
        }
    }
}
