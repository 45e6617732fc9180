public import Foundation
internal import CSodium

/// Writes a message file as a stream: header, elements in chunks, trailing SHA-256; the file
/// appears under its final name only on ``commit()`` (see `Docs/file-format.md`).
public final class MessageFileWriter {
    /// The header being written.
    public let header: MessageHeader
    private let file: AtomicFile
    private var digest = crypto_hash_sha256_state()
    private var written = 0

    /// Starts a message file; nothing appears under `url` until ``commit()``.
    ///
    /// - Throws: ``OutputFileError/cannotCreate(path:reason:)`` when the folder is missing or
    ///   not writable.
    public init(url: URL, header: MessageHeader) throws {
        self.header = header
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

    /// Writes the digest, syncs, and renames the file into place.
    ///
    /// - Throws: ``MessageFileError/writtenCountMismatch(path:written:declared:)`` when the
    ///   number of appended elements differs from the header's count (nothing is saved), and
    ///   ``OutputFileError`` when writing or renaming fails.
    public func commit() throws {
        guard written == header.count else {
            file.abort()
            throw MessageFileError.writtenCountMismatch(path: file.path, written: written, declared: header.count)
        }
        var sum = [UInt8](repeating: 0, count: MessageHeader.digestByteCount)
        crypto_hash_sha256_final(&digest, &sum)
        try file.write(sum)
        try file.commit()
    }

    private func hashAndWrite(_ bytes: [UInt8]) throws {
        crypto_hash_sha256_update(&digest, bytes, UInt64(bytes.count))
        try file.write(bytes)
    }
}

/// Reads a message file as a stream, refusing it at the first field that differs from what is
/// expected. The header and the file length are checked before anything else is read or
/// allocated; the trailing digest is checked when the last element has been read.
public final class MessageFileReader {
    /// The file.
    public let url: URL
    /// Its header, already checked against the expectation.
    public let header: MessageHeader
    private let handle: FileHandle
    private var digest = crypto_hash_sha256_state()
    private var remaining: Int
    private var finished = false

    /// Opens a file and checks its header and length against `expecting`.
    public init(url: URL, expecting expectation: MessageExpectation) throws {
        self.url = url
        let path = url.path
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw MessageFileError.io(path: path, reason: describe(error))
        }
        let length = try Self.length(of: handle, path: path)
        let headerBytes = try Self.read(handle, count: min(length, MessageHeader.byteCount), path: path)
        header = try Self.parseHeader(headerBytes, length: length, path: path, expectation: expectation)
        remaining = header.count
        crypto_hash_sha256_init(&digest)
        crypto_hash_sha256_update(&digest, headerBytes, UInt64(headerBytes.count))
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
    ///     anyway (see ``MutualPSIMessage/read(from:kind:suite:purposeDigest:outcome:sessionID:maximumCount:count:checkEncodings:parallelism:)``).
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

    /// The header of any message file and whether its digest verifies, for `psi inspect`.
    public static func inspect(url: URL) throws -> (header: MessageHeader, digestValid: Bool) {
        let reader = try MessageFileReader(url: url, expecting: MessageExpectation())
        do {
            while try reader.readChunk(maximumElements: 1 << 15) != nil {}
            return (reader.header, true)
        } catch MessageFileError.digestMismatch {
            return (reader.header, false)
        }
    }

    private func finish() throws {
        guard !finished else { return }
        finished = true
        let stored = try Self.read(handle, count: MessageHeader.digestByteCount, path: url.path)
        var computed = [UInt8](repeating: 0, count: MessageHeader.digestByteCount)
        crypto_hash_sha256_final(&digest, &computed)
        guard stored.count == computed.count, stored == computed else {
            throw MessageFileError.digestMismatch(path: url.path)
        }
    }

    // MARK: Header

    private static func parseHeader(_ b: [UInt8], length: Int, path: String,
                                    expectation e: MessageExpectation) throws -> MessageHeader {
        guard b.count == MessageHeader.byteCount else {
            // Too short even for a header: a bad magic is the more useful message when the
            // bytes that are there already differ from it.
            if !b.prefix(MessageHeader.magic.count).elementsEqual(MessageHeader.magic.prefix(b.count)) {
                throw MessageFileError.badMagic(path: path)
            }
            throw MessageFileError.truncated(path: path, length: length, expected: MessageHeader.byteCount + MessageHeader.digestByteCount)
        }
        guard Array(b[0..<8]) == MessageHeader.magic else { throw MessageFileError.badMagic(path: path) }
        let version = UInt16(b[8]) << 8 | UInt16(b[9])
        guard version == MessageHeader.currentVersion else {
            throw MessageFileError.unsupportedVersion(path: path, found: version, supported: MessageHeader.currentVersion)
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
        let declaredCount = b[80..<88].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // A count above Int.max cannot be a real file; clamp it here and refuse it (with the
        // declared value, not the clamp) before the count is compared or used.
        let count = declaredCount > UInt64(Int.max) ? Int.max : Int(declaredCount)
        let header = MessageHeader(suite: suite, protocolID: protocolID, kind: b[12], mode: b[13], elementSize: elementSize,
                                   purposeDigest: Array(b[16..<48]), sessionID: try! SessionID(bytes: Array(b[48..<64])),
                                   keyID: Array(b[64..<80]), count: count)
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
        if let purpose = e.purposeDigest, purpose != header.purposeDigest {
            throw MessageFileError.purposeMismatch(path: path, found: header.purposeDigest.hexString, expected: purpose.hexString)
        }
        if let session = e.sessionID, session != header.sessionID {
            throw MessageFileError.sessionMismatch(path: path, found: header.sessionID.description, expected: session.description)
        }
        if let key = e.keyID, key != header.keyID {
            throw MessageFileError.keyMismatch(path: path, found: header.keyID.hexString, expected: key.hexString)
        }
        if header.expectedFileLength == nil || declaredCount > UInt64(Int.max) {
            throw MessageFileError.countTooLarge(path: path, count: declaredCount, elementSize: elementSize, length: length)
        }
        if let expected = e.count, expected != count {
            throw MessageFileError.countMismatch(path: path, found: count, expected: expected)
        }
        if let limit = e.maximumCount, count > limit {
            throw MessageFileError.peerSetTooLarge(path: path, count: count, limit: limit)
        }
        let expectedLength = header.expectedFileLength!
        guard length >= expectedLength else {
            throw MessageFileError.truncated(path: path, length: length, expected: expectedLength)
        }
        guard length == expectedLength else {
            throw MessageFileError.trailingBytes(path: path, length: length, expected: expectedLength)
        }
        return header
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
