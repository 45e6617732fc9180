public import Foundation
internal import CSodium

/// A party's state between protocol steps, for exchanges over files.
///
/// A state file holds the party's secret, so it is written with mode 0600 and refused when
/// others can read it (see ``SecretFile``). It is written as a stream and read back a section
/// at a time, so its size does not bound the lists a party can hold. Layout (version 2):
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 8 | magic `SPSISTAT` |
/// | 8 | 1 | version, 2 |
/// | 9 | 1 | role: 1 initiator, 2 responder |
/// | 10 | 32 | the secret |
/// | 42 | `recordBytes` | the party's distinct records in input order (see ``RecordCoding``) |
/// | … | 8 × `itemCount` | sent order: for each position of the set sent, the record's index (UInt64, little-endian) |
/// | … | 32 × `itemCount` | the blinded set as sent |
/// | … | 32 × `peerCount` | responder after step 2: the initiator's set re-blinded |
/// | … | L | JSON: everything else (``PartyStateFile/Metadata``) |
/// | … | 4 | L, big-endian |
/// | … | 32 | BLAKE2b-256 of every byte before it (libsodium's `crypto_generichash`: the state is local, and BLAKE2b hashes it about three times as fast as SHA-256) |
enum PartyStateFile {
    static let magic = Array("SPSISTAT".utf8)
    static let version: UInt8 = 2
    static let secretByteCount = 32
    static let headerByteCount = 8 + 2 + 32
    static let trailerByteCount = 4 + 32

    enum Role: UInt8 {
        case initiator = 1, responder = 2
        var name: String { self == .initiator ? "initiator" : "responder" }
    }

    /// The public part of the state, stored as JSON after the sections.
    struct Metadata: Codable {
        var suite: PSISuite
        var purpose: PurposeLabel
        var outcome: MutualPSIOutcome
        var maximumPeerSetSize: Int
        var inputSummary: InputSummary
        /// The exchange, once known (always for the initiator; after step 2 for the responder).
        var context: ExchangeContext?
        /// Distinct records, which is also the size of the set sent.
        var itemCount: Int
        /// Bytes of the records section.
        var recordBytes: Int
        /// Responder after step 2: the initiator's set size.
        var peerCount: Int?

        func configuration(parallelism: Parallelism, progress: ProgressHandler?,
                           streaming: StreamingOptions = .default) -> MutualPSIConfiguration {
            MutualPSIConfiguration(purpose: purpose, outcome: outcome, suite: suite, maximumPeerSetSize: maximumPeerSetSize,
                                   parallelism: parallelism, progress: progress, streaming: streaming)
        }
    }

    /// Writes a state file as a stream: the sections in the order of the layout, then
    /// ``finish(_:)``. Nothing appears under the final name before then.
    final class Writer {
        private let file: AtomicFile
        private let digest = StateDigest()

        init(url: URL, role: Role, secret: SecretBytes) throws {
            do { file = try AtomicFile(path: url.path, mode: 0o600) } catch MessageFileError.io(let path, let reason) {
                throw StateFileError.io(path: path, reason: reason)
            }
            try write(magic + [version, role.rawValue])
            try secret.withUnsafeBytes { try write($0) }
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard bytes.count > 0 else { return }
            digest.update(bytes)
            do { try file.write(bytes) } catch MessageFileError.io(let path, let reason) {
                throw StateFileError.io(path: path, reason: reason)
            }
        }

        func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

        /// Copies a temporary file into the state.
        func write(contentsOf spill: SpillFile) throws {
            try spill.forEachChunk(maximumBytes: 1 << 20) { try write($0) }
        }

        /// Writes the metadata and the digest and renames the file into place.
        func finish(_ metadata: Metadata) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = [UInt8](try encoder.encode(metadata))
            try write(json)
            try write([UInt8(json.count >> 24 & 0xff), UInt8(json.count >> 16 & 0xff), UInt8(json.count >> 8 & 0xff), UInt8(json.count & 0xff)])
            let sum = digest.finish()
            do {
                try file.write(sum)
                try file.commit()
            } catch MessageFileError.io(let path, let reason) {
                throw StateFileError.io(path: path, reason: reason)
            }
        }
    }

    /// Opens a state file, checks its permissions, role, digest and layout, and reads its
    /// sections on demand.
    final class Reader {
        let metadata: Metadata
        let secret: SecretBytes
        private let file: SecretFileReader
        private var path: String { file.path }

        var recordsOffset: Int { headerByteCount }
        var sentOrderOffset: Int { recordsOffset + metadata.recordBytes }
        var sentElementsOffset: Int { sentOrderOffset + 8 * metadata.itemCount }
        var peerElementsOffset: Int { sentElementsOffset + 32 * metadata.itemCount }

        init(url: URL, role: Role) throws {
            file = try SecretFileReader(url: url)
            let path = url.path
            func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: path, reason: reason) }
            let length = file.length
            guard length >= headerByteCount + trailerByteCount,
                  try file.bytes(at: 0, count: magic.count) == magic else {
                throw invalid("it does not start with the state-file magic SPSISTAT")
            }
            let versionAndRole = try file.bytes(at: magic.count, count: 2)
            guard versionAndRole[0] == version else {
                throw invalid("format version \(versionAndRole[0]); expected \(version)")
            }
            guard versionAndRole[1] == role.rawValue else {
                let found = Role(rawValue: versionAndRole[1])?.name ?? "unknown role \(versionAndRole[1])"
                throw invalid("it belongs to the \(found); expected the \(role.name)'s state")
            }
            // The digest first: everything after it may then be trusted to be what was written.
            let state = StateDigest()
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { chunk.deallocate() }
            var offset = 0
            while offset < length - 32 {
                let n = min(chunk.count, length - 32 - offset)
                try file.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n]))
                state.update(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                offset += n
            }
            guard try file.bytes(at: length - 32, count: 32) == state.finish() else {
                throw invalid("its content does not match its digest; the file is damaged")
            }
            let lengthBytes = try file.bytes(at: length - trailerByteCount, count: 4)
            let jsonLength = lengthBytes.reduce(0) { $0 << 8 | Int($1) }
            guard jsonLength <= length - headerByteCount - trailerByteCount else { throw invalid("the state description length is out of range") }
            let json = try file.bytes(at: length - trailerByteCount - jsonLength, count: jsonLength)
            do { metadata = try JSONDecoder().decode(Metadata.self, from: Data(json)) } catch let error as PSIError {
                throw invalid(error.localizedDescription)  // a retired suite, with why
            } catch {
                throw invalid("the state description cannot be decoded")
            }
            let m = metadata
            guard m.itemCount >= 0, m.recordBytes >= 0, (m.peerCount ?? 0) >= 0,
                  headerByteCount + m.recordBytes + 40 * m.itemCount + 32 * (m.peerCount ?? 0) + jsonLength + trailerByteCount == length else {
                throw invalid("its sections do not add up to its length")
            }
            guard (m.peerCount == nil) == (role == .initiator || m.context == nil) else {
                throw invalid("the exchange and the stored peer set disagree")
            }
            let secretBytes = try file.bytes(at: 10, count: secretByteCount)
            do { secret = try MutualSuite(m.suite).secret(from: secretBytes) } catch {
                throw invalid("the secret is not valid for suite \(m.suite)")
            }
        }

        /// The records at `indices` (ascending), decoding only those.
        func records(at indices: [Int]) throws -> [ListRecord] {
            var decoder = RecordCoding.Decoder(file: file, offset: recordsOffset, byteCount: metadata.recordBytes)
            var records = [ListRecord]()
            records.reserveCapacity(indices.count)
            var index = 0
            for wanted in indices {
                while index < wanted {
                    guard try decoder.nextRaw() != nil else { throw damagedRecord(index) }
                    index += 1
                }
                guard let record = try decoder.next() else { throw damagedRecord(index) }
                records.append(record)
                index += 1
            }
            return records
        }

        private func damagedRecord(_ index: Int) -> StateFileError {
            .invalidStateFile(path: path, reason: "record \(index) is damaged")
        }

        /// Calls `body(index, record)` for each record, in order.
        func forEachRecord(_ body: (Int, ListRecord) throws -> Void) throws {
            var decoder = RecordCoding.Decoder(file: file, offset: recordsOffset, byteCount: metadata.recordBytes)
            for index in 0..<metadata.itemCount {
                guard let record = try decoder.next() else { throw damagedRecord(index) }
                try body(index, record)
            }
        }

        /// Calls `body` with the sent order (record indices by position) a chunk at a time,
        /// each entry checked to be a valid record index.
        func forEachSentOrderChunk(_ chunkSize: Int, _ body: (_ start: Int, [UInt64]) throws -> Void) throws {
            try forEachChunk(at: sentOrderOffset, count: metadata.itemCount, of: UInt64.self, chunkSize) { start, chunk in
                guard chunk.allSatisfy({ $0 < UInt64(metadata.itemCount) }) else {
                    throw StateFileError.invalidStateFile(path: path, reason: "the sent order names a record that does not exist")
                }
                try body(start, chunk)
            }
        }

        /// Calls `body` with the elements of the set sent (`peer` false) or of the stored peer
        /// set (`peer` true), a chunk at a time.
        func forEachElementChunk(peer: Bool, _ chunkSize: Int, _ body: (_ start: Int, [BlindedElement]) throws -> Void) throws {
            try forEachChunk(at: peer ? peerElementsOffset : sentElementsOffset,
                             count: peer ? metadata.peerCount ?? 0 : metadata.itemCount, of: BlindedElement.self, chunkSize, body)
        }

        private func forEachChunk<T>(at offset: Int, count: Int, of _: T.Type, _ chunkSize: Int,
                                     _ body: (Int, [T]) throws -> Void) throws {
            let stride = MemoryLayout<T>.stride
            var start = 0
            while start < count {
                let n = min(chunkSize, count - start)
                let chunk = try [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                    try file.read(at: offset + start * stride, into: UnsafeMutableRawBufferPointer(buffer))
                    initialized = n
                }
                try body(start, chunk)
                start += n
            }
        }
    }
}

/// A file read at any offset: a state file, or a temporary file.
protocol ByteSource {
    /// `count` bytes from `offset`.
    func bytes(at offset: Int, count: Int) throws -> [UInt8]
}

extension SecretFileReader: ByteSource {}

extension SpillFile: ByteSource {
    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}

/// BLAKE2b-256 (`crypto_generichash`) over a stream. libsodium's state must be 64-byte
/// aligned, which Swift cannot promise for a stack value, so it lives in its own allocation.
final class StateDigest {
    private let state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)

    init() { crypto_generichash_init(OpaquePointer(state), nil, 0, 32) }

    deinit { state.deallocate() }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        crypto_generichash_update(OpaquePointer(state), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    func finish() -> [UInt8] {
        var sum = [UInt8](repeating: 0, count: 32)
        crypto_generichash_final(OpaquePointer(state), &sum, 32)
        return sum
    }
}

/// The binary form of a ``ListRecord`` in state files: line (UInt64), kind tag (1 byte),
/// canonical form and original text (each a UInt32 length and UTF-8); integers little-endian.
enum RecordCoding {
    static func encode(_ record: ListRecord, into bytes: inout [UInt8]) {
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(UInt64(max(0, record.lineNumber)))
        bytes.append(record.identifier.kind.rawValue)
        for text in [record.identifier.canonical, record.original] {
            append(UInt32(text.utf8.count))
            bytes.append(contentsOf: text.utf8)
        }
    }

    /// Decodes one record's bytes (from ``Decoder/nextRaw()``); nil when they are not a record.
    static func decode(_ raw: ArraySlice<UInt8>) -> ListRecord? {
        let base = raw.startIndex
        guard raw.count >= 17, let kind = Identifier.Kind(rawValue: raw[base + 8]) else { return nil }
        let line = raw[base..<(base + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let canonicalLength = Int(uint32(raw[(base + 9)...]))
        guard raw.count >= 17 + canonicalLength, line <= UInt64(Int.max),
              let canonical = String(validating: raw[(base + 13)..<(base + 13 + canonicalLength)], as: UTF8.self),
              let original = String(validating: raw[(base + 17 + canonicalLength)...], as: UTF8.self) else { return nil }
        return ListRecord(identifier: Identifier(kind: kind, canonical: canonical), original: original, lineNumber: Int(line))
    }

    /// A little-endian UInt32 from the first four bytes.
    static func uint32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.prefix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// Reads records one after another from a section, through a buffer.
    struct Decoder {
        let file: any ByteSource
        var offset: Int
        var remaining: Int
        var buffer: [UInt8] = []
        var position = 0

        init(file: any ByteSource, offset: Int, byteCount: Int) {
            self.file = file
            self.offset = offset
            self.remaining = byteCount
        }

        /// The next record; nil when the section is damaged.
        mutating func next() throws -> ListRecord? {
            guard let raw = try nextRaw() else { return nil }
            return RecordCoding.decode(raw)
        }

        /// The next record's bytes, undecoded (for skipping or copying records cheaply); nil
        /// when the section ends inside a record.
        mutating func nextRaw() throws -> ArraySlice<UInt8>? {
            guard let head = try peek(13) else { return nil }
            let canonicalLength = Int(RecordCoding.uint32(head[(head.startIndex + 9)...]))
            guard let withOriginal = try peek(17 + canonicalLength) else { return nil }
            let originalLength = Int(RecordCoding.uint32(withOriginal[(withOriginal.startIndex + 13 + canonicalLength)...]))
            return try take(17 + canonicalLength + originalLength)
        }

        private mutating func peek(_ count: Int) throws -> ArraySlice<UInt8>? {
            guard let bytes = try take(count) else { return nil }
            position -= count
            return bytes
        }

        private mutating func take(_ count: Int) throws -> ArraySlice<UInt8>? {
            if position + count > buffer.count {
                let keep = buffer[position...]
                let fetch = min(remaining, max(1 << 16, count - keep.count))
                guard keep.count + fetch >= count else { return nil }
                buffer = Array(keep) + (try file.bytes(at: offset, count: fetch))
                offset += fetch
                remaining -= fetch
                position = 0
            }
            defer { position += count }
            return buffer[position..<(position + count)]
        }
    }
}

extension PartyStateFile {
    /// Writes a whole state from arrays (the in-memory API's ``MutualPSIInitiator/save(to:)``
    /// and ``MutualPSIResponder/save(to:)``).
    static func write(role: Role, secret: SecretBytes, metadata: Metadata, records: [ListRecord], sentOrder: [Int],
                      sentElements: [BlindedElement], peerElements: [BlindedElement]?, to url: URL) throws {
        let writer = try Writer(url: url, role: role, secret: secret)
        var bytes = [UInt8]()
        for record in records { RecordCoding.encode(record, into: &bytes) }
        try writer.write(bytes)
        try sentOrder.map { UInt64($0).littleEndian }.withUnsafeBytes { try writer.write($0) }
        try sentElements.withUnsafeBytes { try writer.write($0) }
        if let peerElements { try peerElements.withUnsafeBytes { try writer.write($0) } }
        var metadata = metadata
        metadata.recordBytes = bytes.count
        metadata.itemCount = records.count
        metadata.peerCount = peerElements?.count
        try writer.finish(metadata)
    }

    /// Reads a whole state into arrays, checking the sent order is a permutation and every
    /// stored element is valid for the suite.
    static func readAll(role: Role, from url: URL) throws
        -> (reader: Reader, records: [ListRecord], sentOrder: [Int], sentElements: [BlindedElement], peerElements: [BlindedElement]?) {
        let reader = try Reader(url: url, role: role)
        let n = reader.metadata.itemCount
        var records = [ListRecord]()
        records.reserveCapacity(n)
        try reader.forEachRecord { _, record in records.append(record) }
        var sentOrder = [Int]()
        sentOrder.reserveCapacity(n)
        try reader.forEachSentOrderChunk(1 << 16) { _, chunk in sentOrder += chunk.map { Int($0) } }
        guard Set(sentOrder).count == n else {
            throw StateFileError.invalidStateFile(path: url.path, reason: "the sent order is not a permutation of the records")
        }
        func elements(peer: Bool) throws -> [BlindedElement] {
            var all = [BlindedElement]()
            try reader.forEachElementChunk(peer: peer, 1 << 16) { _, chunk in all += chunk }
            // The stored peer set holds hashes (``ComparisonHash``), not points.
            guard !peer else { return all }
            do { try MutualSuite(reader.metadata.suite).check(all, parallelism: .allCores) } catch let error as PSIError {
                throw StateFileError.invalidStateFile(path: url.path, reason: "a stored element is not valid: \(error.localizedDescription)")
            }
            return all
        }
        let sent = try elements(peer: false)
        let peer = reader.metadata.peerCount == nil ? nil : try elements(peer: true)
        return (reader, records, sentOrder, sent, peer)
    }
}

extension MutualPSIConfiguration {
    /// The metadata of a state saved under this configuration (counts are filled in on write).
    func stateMetadata(inputSummary: InputSummary, context: ExchangeContext?) -> PartyStateFile.Metadata {
        PartyStateFile.Metadata(suite: suite, purpose: purpose, outcome: outcome, maximumPeerSetSize: maximumPeerSetSize,
                                inputSummary: inputSummary, context: context, itemCount: 0, recordBytes: 0, peerCount: nil)
    }
}

extension MutualPSIInitiator {
    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``MutualPSIInitiator/finish(responderBlindedSet:initiatorSetReblinded:)`` in a later process.
    public func save(to url: URL) throws {
        try PartyStateFile.write(role: .initiator, secret: secret,
                                 metadata: configuration.stateMetadata(inputSummary: inputSummary, context: context),
                                 records: items.map { ListRecord(identifier: $0, original: $0.canonical, lineNumber: 0) },
                                 sentOrder: sentOrder, sentElements: blindedSet.elements, peerElements: nil, to: url)
    }

    /// Restores an initiator saved with ``save(to:)`` (or by ``MutualPSIFileExchange``).
    ///
    /// - Throws: ``StateFileError`` when the file is readable by others, is not an initiator's
    ///   state, or is damaged.
    public init(restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        let (reader, records, sentOrder, sent, _) = try PartyStateFile.readAll(role: .initiator, from: url)
        let m = reader.metadata
        guard let context = m.context else {
            throw StateFileError.invalidStateFile(path: url.path, reason: "the initiator's exchange is incomplete")
        }
        self.init(restoring: m.configuration(parallelism: parallelism, progress: nil), context: context,
                  items: records.map(\.identifier), inputSummary: m.inputSummary,
                  blindedSet: MutualPSIMessage(kind: .initiatorBlindedSet, context: context, elements: sent),
                  secret: reader.secret, sentOrder: sentOrder)
    }
}

extension MutualPSIResponder {
    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``respond(to:)`` or ``finish(responderSetReblinded:)`` in a later process.
    public func save(to url: URL) throws {
        try PartyStateFile.write(role: .responder, secret: secret,
                                 metadata: configuration.stateMetadata(inputSummary: inputSummary, context: exchange?.context),
                                 records: items.map { ListRecord(identifier: $0, original: $0.canonical, lineNumber: 0) },
                                 sentOrder: sentOrder, sentElements: blindedElements,
                                 peerElements: exchange?.initiatorDoubly, to: url)
    }

    /// Restores a responder saved with ``save(to:)`` (or by ``MutualPSIFileExchange``).
    ///
    /// - Throws: ``StateFileError`` when the file is readable by others, is not a responder's
    ///   state, or is damaged.
    public init(restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        let (reader, records, sentOrder, sent, peer) = try PartyStateFile.readAll(role: .responder, from: url)
        let m = reader.metadata
        var exchange: (ExchangeContext, [BlindedElement])?
        if let context = m.context, let peer { exchange = (context, peer) }
        self.init(restoring: m.configuration(parallelism: parallelism, progress: nil), items: records.map(\.identifier),
                  inputSummary: m.inputSummary, secret: reader.secret, blindedElements: sent,
                  sentOrder: sentOrder, exchange: exchange)
    }
}
