public import Foundation

/// Writes a message as a stream: header, elements in chunks, then the trailer (SHA-256 of
/// everything before it and the sender's signature of that digest), to a file, to memory
/// (``serializedBytes``) or to any `FileHandle` such as a socket or a pipe (see
/// `Docs/file-format.md`).
///
/// A file appears under its final name only on ``commit()``. Bytes written to a `FileHandle`
/// go out as they are appended: a reader refuses the message until its trailer has arrived and
/// verified, so a step that fails midway leaves the peer an incomplete message it cannot use.
public final class MessageFileWriter {
    /// Where the bytes go.
    private enum Sink {
        case file(AtomicFile)
        case memory([UInt8])
        case handle(FileHandle, name: String)
    }

    /// The header being written.
    public let header: MessageHeader
    private var sink: Sink
    private let signer: PartyIdentity
    private var digest = SHA256Hasher()
    private var written = 0
    /// SHA-256 of the whole message as written, trailer included (set by ``seal()``).
    public private(set) var fileDigest: [UInt8]?
    /// The trailer's digest, SHA-256 of everything before it (set by ``seal()``).
    public private(set) var contentDigest: [UInt8]?
    /// The file's path, or the name given to a buffer or a stream (for errors).
    public let path: String

    /// Starts a message file; nothing appears under `url` until ``commit()``.
    ///
    /// - Parameters:
    ///   - url: the final name.
    ///   - header: the header; its ``MessageHeader/sender`` must be `signer`'s public key.
    ///   - signer: the sender's identity, which signs the file's digest at ``commit()``.
    /// - Throws: ``OutputFileError/cannotCreate(path:reason:)`` when the folder is missing or
    ///   not writable.
    public convenience init(url: URL, header: MessageHeader, signer: PartyIdentity) throws {
        try self.init(sink: .file(AtomicFile(path: url.path, mode: 0o644)), path: url.path, header: header, signer: signer)
    }

    /// Starts a message in memory: once sealed, its bytes are ``serializedBytes``.
    ///
    /// - Parameters:
    ///   - header: the header; its ``MessageHeader/sender`` must be `signer`'s public key.
    ///   - signer: the sender's identity.
    ///   - name: what errors call this message.
    public convenience init(header: MessageHeader, signer: PartyIdentity, name: String = "message in memory") {
        var bytes = [UInt8]()
        bytes.reserveCapacity(MessageFileReader.fileLength(headerBytes: header.byteCount, count: header.count,
                                                           elementSize: header.elementSize) ?? 0)
        try! self.init(sink: .memory(bytes), path: name, header: header, signer: signer)
    }

    /// Starts a message written to `handle` (a socket, a pipe, an open file) as it is appended.
    ///
    /// - Parameters:
    ///   - handle: where the bytes go; it is not closed.
    ///   - header: the header; its ``MessageHeader/sender`` must be `signer`'s public key.
    ///   - signer: the sender's identity.
    ///   - name: what errors call this stream.
    /// - Throws: ``OutputFileError/writeFailed(path:reason:)`` when the header cannot be written.
    public convenience init(fileHandle handle: FileHandle, header: MessageHeader, signer: PartyIdentity,
                            name: String = "message stream") throws {
        try self.init(sink: .handle(handle, name: name), path: name, header: header, signer: signer)
    }

    private init(sink: Sink, path: String, header: MessageHeader, signer: PartyIdentity) throws {
        ensureSodiumInitialized()
        precondition(signer.publicKey == header.sender, "a message is signed by the sender its header names")
        self.header = header
        self.signer = signer
        self.sink = sink
        self.path = path
        try hashAndWrite(header.encoded())
    }

    /// Appends raw elements: a whole number of `header.elementSize`-byte elements.
    public func append(elements raw: UnsafeRawBufferPointer) throws {
        precondition(raw.count % header.elementSize == 0, "appended bytes must be whole elements")
        guard raw.count > 0 else { return }
        digest.update(raw)
        try put(raw)
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

    /// Writes the digest and the signature (the message is complete, but a file is not yet
    /// under its final name), and sets ``fileDigest``. ``commit()`` seals first if this was not
    /// called.
    ///
    /// - Throws: ``MessageFileError/writtenCountMismatch(path:written:declared:)`` when the
    ///   number of appended elements differs from the header's count (nothing is saved).
    public func seal() throws {
        guard fileDigest == nil else { return }
        guard written == header.count else {
            abort()
            throw MessageFileError.writtenCountMismatch(path: path, written: written, declared: header.count)
        }
        // The content digest from a copy of the running state; the running state goes on over
        // the trailer to give the whole file's SHA-256 without hashing anything twice.
        var content = digest
        let sum = content.finalize()
        contentDigest = sum
        let trailer = sum + signer.signature(of: MessageHeader.signedBytes(digest: sum))
        try hashAndWrite(trailer)
        fileDigest = digest.finalize()
    }

    /// Seals the message if needed; a file is then synced and renamed into place.
    ///
    /// - Throws: the errors of ``seal()``, and ``OutputFileError`` when writing or renaming fails.
    public func commit() throws {
        try seal()
        if case .file(let file) = sink { try file.commit() }
    }

    /// The whole message of a writer started in memory, once sealed; nil before, and for a file
    /// or a stream.
    public var serializedBytes: [UInt8]? {
        guard fileDigest != nil, case .memory(let bytes) = sink else { return nil }
        return bytes
    }

    /// Drops what was written: a file's temporary name is removed, a buffer emptied.
    func abort() {
        switch sink {
        case .file(let file): file.abort()
        case .memory: sink = .memory([])
        case .handle: break
        }
    }

    private func hashAndWrite(_ bytes: [UInt8]) throws {
        digest.update(bytes)
        try bytes.withUnsafeBytes { try put($0) }
    }

    private func put(_ bytes: UnsafeRawBufferPointer) throws {
        switch sink {
        case .file(let file):
            try file.write(bytes)
        case .memory(var buffer):
            sink = .memory([])  // keeps `buffer` uniquely referenced: appending does not copy it
            buffer.append(contentsOf: bytes)
            sink = .memory(buffer)
        case .handle(let handle, let name):
            do { try handle.write(contentsOf: Data(bytes)) } catch {
                throw OutputFileError.writeFailed(path: name, reason: describe(error))
            }
        }
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

/// Where a reader's bytes come from: a file or a buffer (whose length is known, and whose
/// trailer can be read first), or a stream read strictly in order.
private final class MessageInput {
    enum Source {
        case file(FileHandle)
        case memory([UInt8])
        case stream(FileHandle)
    }

    let source: Source
    let path: String
    /// The whole length, for a file or a buffer; nil for a stream.
    let length: Int?
    private var position = 0

    init(source: Source, path: String) throws {
        self.source = source
        self.path = path
        switch source {
        case .file(let handle):
            do {
                length = Int(try handle.seekToEnd())
                try handle.seek(toOffset: 0)
            } catch {
                throw MessageFileError.io(path: path, reason: describe(error))
            }
        case .memory(let bytes): length = bytes.count
        case .stream: length = nil
        }
    }

    convenience init(opening url: URL) throws {
        try self.init(source: .file(Self.open(url)), path: url.path)
    }

    private static func open(_ url: URL) throws -> FileHandle {
        do { return try FileHandle(forReadingFrom: url) } catch {
            throw MessageFileError.io(path: url.path, reason: describe(error))
        }
    }

    deinit {
        if case .file(let handle) = source { try? handle.close() }
    }

    /// The next `count` bytes, or fewer at the end.
    func read(_ count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        switch source {
        case .memory(let bytes):
            let end = min(bytes.count, position + count)
            defer { position = end }
            return Array(bytes[position..<end])
        case .file(let handle), .stream(let handle):
            // A socket or a pipe returns what has arrived: read until `count` or the end.
            var result = [UInt8]()
            do {
                while result.count < count, let data = try handle.read(upToCount: count - result.count), !data.isEmpty {
                    result += data
                }
            } catch {
                throw MessageFileError.io(path: path, reason: describe(error))
            }
            position += result.count
            return result
        }
    }

    /// `count` bytes at `offset`, for a file or a buffer; the reading position is kept.
    func read(at offset: Int, _ count: Int) throws -> [UInt8] {
        switch source {
        case .memory(let bytes): return Array(bytes[max(0, offset)..<min(bytes.count, offset + count)])
        case .file(let handle):
            do {
                try handle.seek(toOffset: UInt64(offset))
                defer { try? handle.seek(toOffset: UInt64(position)) }
                return [UInt8](try handle.read(upToCount: count) ?? Data())
            } catch {
                throw MessageFileError.io(path: path, reason: describe(error))
            }
        case .stream: preconditionFailure("a stream is read in order")
        }
    }

    /// Bytes read so far.
    var consumed: Int { position }
}

/// Reads a message as a stream — from a file, a buffer in memory or any `FileHandle` (a socket,
/// a pipe) — refusing it at the first field that differs from what is expected. The header,
/// the extension block and the length are checked before anything else is read or allocated.
/// From a file or a buffer, the sender's signature of the stored digest is then verified before
/// any element is returned, and the digest itself when the last element has been read. A
/// stream cannot be read ahead: its trailer is read after the last element, and the signature
/// and the digest are verified then, before the last chunk is returned — so a caller that
/// commits nothing until the reader has returned nil acts only on a verified message. A stream
/// is never read past the message's end.
public final class MessageFileReader {
    /// The file's path, or the name given to a buffer or a stream; errors name it.
    public let path: String
    /// The file (for a buffer or a stream, a file URL of its name).
    public var url: URL { URL(fileURLWithPath: path) }
    /// Its header, already checked against the expectation.
    public let header: MessageHeader
    /// Whether the signature verified (false only for a file opened to be inspected).
    private(set) var signatureValid: Bool
    private let requireValidSignature: Bool
    private let input: MessageInput
    private var digest = SHA256Hasher()
    /// The trailer, read first from a file or a buffer; nil for a stream until the end.
    private var trailer: [UInt8]?
    private var remaining: Int
    private var finished = false
    /// SHA-256 of the whole message, trailer included; set once every element has been read
    /// and the digest verified.
    public private(set) var fileDigest: [UInt8]?
    /// The digest stored in the trailer, which the verified signature covers (the content is
    /// compared with it when the last element has been read).
    /// Nil for a stream until its end.
    var storedDigest: [UInt8]? { trailer.map { Array($0[..<MessageHeader.digestByteCount]) } }

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

    /// Reads a message held in memory, with the checks of a file.
    ///
    /// - Parameters:
    ///   - bytes: the whole message (``MessageFileWriter/serializedBytes``).
    ///   - name: what errors call it.
    ///   - expectation: what the message must be.
    /// - Throws: ``MessageFileError`` naming `name` and the first problem found.
    public convenience init(serializedBytes bytes: [UInt8], name: String = "message in memory",
                            expecting expectation: MessageExpectation) throws {
        try self.init(input: MessageInput(source: .memory(bytes), path: name), expecting: expectation, requireValidSignature: true)
    }

    /// Reads a message from a stream (a socket, a pipe) in order, with the checks of a file; the
    /// signature and the digest are verified once the last element has arrived (see above).
    ///
    /// - Parameters:
    ///   - handle: where the bytes come from; it is not closed, and not read past the message.
    ///   - name: what errors call it.
    ///   - expectation: what the message must be.
    /// - Throws: ``MessageFileError`` naming `name` and the first problem found.
    public convenience init(fileHandle handle: FileHandle, name: String = "message stream",
                            expecting expectation: MessageExpectation) throws {
        try self.init(input: MessageInput(source: .stream(handle), path: name), expecting: expectation, requireValidSignature: true)
    }

    convenience init(url: URL, expecting expectation: MessageExpectation, requireValidSignature: Bool) throws {
        try self.init(input: MessageInput(opening: url), expecting: expectation, requireValidSignature: requireValidSignature)
    }

    private init(input: MessageInput, expecting expectation: MessageExpectation, requireValidSignature: Bool) throws {
        ensureSodiumInitialized()
        self.input = input
        self.requireValidSignature = requireValidSignature
        let path = input.path
        self.path = path
        let fixed = try input.read(min(input.length ?? MessageHeader.fixedByteCount, MessageHeader.fixedByteCount))
        var header = try Self.parseHeader(fixed, length: input.length, path: path, expectation: expectation)
        let blockLength = Int(fixed[18]) << 8 | Int(fixed[19])
        let block = try input.read(blockLength)
        guard block.count == blockLength else {
            throw MessageFileError.truncated(path: path, length: input.consumed, expected: header.byteCount + MessageHeader.trailerByteCount)
        }
        switch MessageExtensions.decode(block) {
        case .success(let extensions): header.extensions = extensions
        case .failure(let problem): throw MessageFileError.badExtensionBlock(path: path, problem: problem)
        }
        self.header = header
        signatureValid = false
        remaining = header.count
        if let length = input.length {
            let trailer = try input.read(at: length - MessageHeader.trailerByteCount, MessageHeader.trailerByteCount)
            guard trailer.count == MessageHeader.trailerByteCount else {
                throw MessageFileError.truncated(path: path, length: length - MessageHeader.trailerByteCount + trailer.count, expected: length)
            }
            self.trailer = trailer
            try verifySignature(trailer)
        }
        digest = SHA256Hasher()
        digest.update(fixed)
        digest.update(block)
    }

    private func verifySignature(_ trailer: [UInt8]) throws {
        let storedDigest = Array(trailer[..<MessageHeader.digestByteCount])
        signatureValid = header.sender.isValidSignature(Array(trailer[MessageHeader.digestByteCount...]),
                                                        of: MessageHeader.signedBytes(digest: storedDigest))
        if requireValidSignature, !signatureValid {
            throw MessageFileError.badSignature(path: path, sender: header.sender.fingerprint)
        }
    }

    /// Reads up to `maximumElements` raw elements (`count × elementSize` bytes); nil once all
    /// are read, at which point the trailing digest has been verified (and, for a stream, the
    /// signature).
    ///
    /// - Throws: ``MessageFileError/digestMismatch(path:)`` after the last chunk when the message
    ///   was altered, ``MessageFileError/truncated(path:length:expected:)`` when a stream ends
    ///   early, ``MessageFileError/io(path:reason:)`` when a file shrank meanwhile.
    public func readChunk(maximumElements: Int) throws -> [UInt8]? {
        precondition(maximumElements > 0)
        if remaining == 0 {
            try finish()
            return nil
        }
        let n = min(maximumElements, remaining)
        let bytes = try input.read(n * header.elementSize)
        guard bytes.count == n * header.elementSize else {
            guard input.length != nil else { throw truncatedStream() }
            throw MessageFileError.io(path: path, reason: "the file ended early: it was changed while being read")
        }
        digest.update(bytes)
        remaining -= n
        if remaining == 0 { try finish() }
        return bytes
    }

    private func truncatedStream() -> MessageFileError {
        .truncated(path: path, length: input.consumed,
                   expected: Self.fileLength(headerBytes: header.byteCount, count: header.count, elementSize: header.elementSize) ?? 0)
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
        if trailer == nil {
            let read = try input.read(MessageHeader.trailerByteCount)
            guard read.count == MessageHeader.trailerByteCount else { throw truncatedStream() }
            try verifySignature(read)
            trailer = read
        }
        let trailer = self.trailer!
        let stored = Array(trailer[..<MessageHeader.digestByteCount])
        var content = digest
        let computed = content.finalize()
        guard stored == computed else {
            throw MessageFileError.digestMismatch(path: path)
        }
        digest.update(trailer)
        fileDigest = digest.finalize()
    }

    // MARK: Header

    /// Parses and checks the fixed header and the file length (the extension block is decoded
    /// by the caller).
    private static func parseHeader(_ b: [UInt8], length knownLength: Int?, path: String,
                                    expectation e: MessageExpectation) throws -> MessageHeader {
        // A stream's length is what its header declares; a short header is as long as it is.
        let length = knownLength ?? b.count
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
        guard let length = knownLength else { return header }
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
