import Foundation

/// A party's state between protocol steps, for exchanges over files.
///
/// A state file holds the party's secret, so it is a ``SecretContainer`` (mode 0600, refused
/// when others can read it or another user owns it, digest-checked). It is written as a stream
/// and read back a section at a time, so its size does not bound the lists a party can hold.
/// Content 1 (initiator) or 2 (responder), layout version 4; the secret is the party's 32-byte
/// scalar, and the body holds (integers little-endian):
///
/// | size | content |
/// | --- | --- |
/// | `recordBytes` | the party's distinct records in input order (see ``RecordCoding``) |
/// | 8 × `itemCount` | sent order: for each position of the set sent, the record's index (UInt64) |
/// | 32 × `itemCount` | the blinded set as sent |
/// | 32 × `peerCount` | responder after step 2: the initiator's set re-blinded |
///
/// The description is JSON: everything else (``PartyStateFile/Metadata``).
enum PartyStateFile {
    static let secretByteCount = 32

    enum Role: UInt8 {
        case initiator = 1, responder = 2
        var name: String { self == .initiator ? "initiator" : "responder" }
        var content: SecretContainer.Content { self == .initiator ? .initiatorState : .responderState }
    }

    /// The public part of the state, stored as the container's description.
    struct Metadata: Codable {
        var suite: PSISuite
        var purpose: PurposeLabel
        var outcome: MutualPSIOutcome
        /// This party's identity key (the secret identity is never stored here).
        var identityKey: PartyPublicKey
        /// The peer's identity key.
        var peer: PartyPublicKey
        var identifierType: IdentifierType
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
        /// Once the party has finished: the SHA-256 (hex) of each peer message its finish step
        /// read, in the step's order. A state finishes against these messages only.
        var finishedWith: [String]?
        /// The messages of the party's earlier steps and when its first step started, for the
        /// run's receipt (nil in a state saved by the in-memory API).
        var transcript: Transcript?
        /// Verifiable responder after step 2: the initiator's commitment `a·G` from step 1, which
        /// step 3's proofs must verify against.
        var initiatorCommitment: [UInt8]?

        /// The configuration the state was made under, with the identity given again.
        ///
        /// - Parameter peer: the peer the caller expects; nil accepts the stored one.
        /// - Throws: ``PSIError/identityMismatch(found:expected:)`` when `identity` is not the
        ///   one the state was made with, ``PSIError/peerMismatch(found:expected:)`` for another peer.
        func configuration(identity: PartyIdentity, peer expectedPeer: PartyPublicKey? = nil, parallelism: Parallelism,
                           progress: ProgressHandler?, streaming: StreamingOptions = .default) throws -> MutualPSIConfiguration {
            guard identity.publicKey == identityKey else {
                throw PSIError.identityMismatch(found: identity.publicKey.fingerprint, expected: identityKey.fingerprint)
            }
            if let expectedPeer, expectedPeer != peer {
                throw PSIError.peerMismatch(found: expectedPeer.fingerprint, expected: peer.fingerprint)
            }
            return MutualPSIConfiguration(purpose: purpose, outcome: outcome, identity: identity, peer: peer,
                                          identifierType: identifierType, suite: suite, verifiable: context?.verifiable ?? false,
                                          maximumPeerSetSize: maximumPeerSetSize,
                                          parallelism: parallelism, progress: progress, streaming: streaming)
        }

        func encoded() throws -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return [UInt8](try encoder.encode(self))
        }
    }

    /// What a party's receipt needs from its earlier steps.
    struct Transcript: Codable {
        var startedAt: Date
        var sent: [RunReceipt.Message]
        var received: [RunReceipt.Message]
    }

    /// Where a state goes: a file (a ``SecretContainer``, mode 0600), or memory (the in-memory
    /// API, whose party keeps its state between steps).
    enum Location {
        case file(URL)
        case memory
    }

    /// Writes a state as a stream: the sections in the order of the layout, then
    /// ``seal(_:)`` and ``commit(replacing:)``. Nothing appears under a file's final name before
    /// then. The one writer of states: the file exchange and the in-memory API both use it.
    final class Writer {
        private enum Storage {
            case file(SecretContainer.Writer)
            case memory(body: SpillFile, secret: SecretBytes)
        }

        private let storage: Storage
        private let role: Role
        private var metadata: Metadata?

        init(_ location: Location, role: Role, secret: SecretBytes) throws {
            self.role = role
            switch location {
            case .file(let url):
                storage = .file(try secret.withUnsafeBytes { try SecretContainer.Writer(url: url, content: role.content, secret: $0) })
            case .memory:
                storage = .memory(body: SpillFile(memoryNamed: "the \(role.name)'s state in memory"), secret: secret)
            }
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            switch storage {
            case .file(let container): try container.write(bytes)
            case .memory(let body, _): try body.append(bytes)
            }
        }

        func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

        /// Copies a temporary file into the state.
        func write(contentsOf spill: SpillFile) throws {
            try spill.forEachChunk(maximumBytes: 1 << 20) { try write($0) }
        }

        /// Writes the metadata and the digest (not yet under the final name).
        func seal(_ metadata: Metadata) throws {
            self.metadata = metadata
            if case .file(let container) = storage { try container.seal(description: metadata.encoded()) }
        }

        /// Moves a sealed state file under its final name; unless `replacing`, an existing file
        /// there is refused (``OutputFileError/exists(path:)``). Nothing to do in memory.
        func commit(replacing: Bool) throws {
            if case .file(let container) = storage { try container.commit(replacing: replacing) }
        }

        /// Removes the committed state (a later output of the same step failed).
        func retract() {
            if case .file(let container) = storage { container.retract() }
        }

        /// This state as one of a step's outputs (see ``commitInOrder(_:)``).
        func output(replacing: Bool) -> (commit: () throws -> Void, retract: () -> Void) {
            ({ try self.commit(replacing: replacing) }, retract)
        }

        /// A sealed state kept in memory, opened with the checks of a file.
        func memoryState() throws -> Reader {
            guard case .memory(let body, let secret) = storage, let metadata else {
                preconditionFailure("only a sealed state in memory is read back from its writer")
            }
            return try Reader(memory: body, secret: secret, metadata: metadata, role: role)
        }
    }

    /// Opens a state (a file, or one kept in memory), checks its container, role, metadata and
    /// layout, and reads its sections on demand.
    final class Reader {
        let metadata: Metadata
        let secret: SecretBytes
        /// The file's path, or a name for a state in memory.
        let path: String
        private let file: any ByteSource
        private let recordsOffset: Int

        private var sentOrderOffset: Int { recordsOffset + metadata.recordBytes }
        private var sentElementsOffset: Int { sentOrderOffset + 8 * metadata.itemCount }
        private var peerElementsOffset: Int { sentElementsOffset + 32 * metadata.itemCount }
        /// The records, sent order and sent elements: what the party's own list made.
        var ownSectionsByteCount: Int { metadata.recordBytes + 40 * metadata.itemCount }

        /// - Parameter expectedOwner: see ``SecretFileReader``.
        convenience init(url: URL, role: Role, expectedOwner: uid_t = geteuid()) throws {
            let path = url.path
            func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: path, reason: reason) }
            let container = try SecretContainer.Reader(url: url, content: role.content, invalid: invalid, expectedOwner: expectedOwner)
            let metadata: Metadata
            do { metadata = try JSONDecoder().decode(Metadata.self, from: Data(container.description)) } catch let error as PSIError {
                throw invalid(error.localizedDescription)  // a retired suite, with why
            } catch {
                throw invalid("the state description cannot be decoded")
            }
            try self.init(file: container.file, bodyOffset: container.bodyOffset,
                          bodyByteCount: container.bodyByteCount, secret: container.secret, metadata: metadata, path: path, role: role)
        }

        /// A state kept in memory (see ``Writer/memoryState()``).
        convenience init(memory body: SpillFile, secret: SecretBytes, metadata: Metadata, role: Role) throws {
            try self.init(file: body, bodyOffset: 0, bodyByteCount: body.byteCount, secret: secret,
                          metadata: metadata, path: body.path, role: role)
        }

        private init(file: any ByteSource, bodyOffset: Int, bodyByteCount: Int,
                     secret: SecretBytes, metadata m: Metadata, path: String, role: Role) throws {
            func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: path, reason: reason) }
            self.file = file
            self.recordsOffset = bodyOffset
            self.secret = secret
            self.metadata = m
            self.path = path
            // Every count is checked against the body's real length before it is used in an
            // offset, with overflow-checked arithmetic (a forged count may be anything).
            guard m.itemCount >= 0, m.recordBytes >= 0, (m.peerCount ?? 0) >= 0,
                  let ownSets = checkedProduct(UInt64(m.itemCount), 40), let peerSet = checkedProduct(UInt64(m.peerCount ?? 0), 32),
                  let sections = checkedSum([UInt64(m.recordBytes), ownSets, peerSet]),
                  sections == UInt64(bodyByteCount) else {
                throw invalid("its sections do not add up to its length")
            }
            guard m.recordBytes >= RecordCoding.minimumByteCount * m.itemCount else {
                throw invalid("its records section is too short for \(m.itemCount) records")
            }
            guard (m.peerCount == nil) == (role == .initiator || m.context == nil) else {
                throw invalid("the exchange and the stored peer set disagree")
            }
            do { _ = try secret.withUnsafeBytes { try MutualSuite(m.suite).secret(from: $0) } } catch {
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
        /// checking as it goes that the entries form a permutation of the records (each a valid
        /// record index, none twice): a forged order could otherwise report the wrong records.
        func forEachSentOrderChunk(_ chunkSize: Int, _ body: (_ start: Int, [UInt64]) throws -> Void) throws {
            let n = UInt64(metadata.itemCount)
            var seen = [UInt64](repeating: 0, count: (metadata.itemCount + 63) / 64)
            try forEachChunk(at: sentOrderOffset, count: metadata.itemCount, of: UInt64.self, chunkSize) { start, chunk in
                for (offset, raw) in chunk.enumerated() {
                    let index = UInt64(littleEndian: raw)
                    guard index < n else {
                        throw StateFileError.invalidStateFile(path: path, reason: "sent position \(start + offset) names record \(index), which does not exist")
                    }
                    let (word, bit) = (Int(index >> 6), UInt64(1) << (index & 63))
                    guard seen[word] & bit == 0 else {
                        throw StateFileError.invalidStateFile(path: path, reason: "the sent order is not a permutation of the records: sent position \(start + offset) repeats record \(index)")
                    }
                    seen[word] |= bit
                }
                try body(start, chunk.map { UInt64(littleEndian: $0) })
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
                let chunk = try [T](filling: n) { try file.read(at: offset + start * stride, into: $0) }
                try body(start, chunk)
                start += n
            }
        }

        /// A sealed copy of this state (secret and sections) with other metadata, to be
        /// committed over it (marking it finished).
        func rewritten(with metadata: Metadata, role: Role) throws -> Writer {
            let writer = try Writer(.file(URL(fileURLWithPath: path)), role: role, secret: secret)
            try copyBody(count: ownSectionsByteCount + 32 * (self.metadata.peerCount ?? 0), to: writer)
            try writer.seal(metadata)
            return writer
        }

        /// Copies the first `count` bytes of the body (the sections, in order) into `writer`.
        func copyBody(count: Int, to writer: Writer) throws {
            var offset = 0
            while offset < count {
                let n = min(1 << 20, count - offset)
                try writer.write(try file.bytes(at: recordsOffset + offset, count: n))
                offset += n
            }
        }

        /// Writes the set this party sent into a message, a chunk at a time.
        func writeSentElements(to writer: MessageFileWriter) throws {
            try forEachElementChunk(peer: false, 1 << 15) { _, chunk in try writer.append(chunk) }
        }
    }
}

/// A file read at any offset: a state file, or a temporary file.
protocol ByteSource {
    /// `count` bytes from `offset`.
    func bytes(at offset: Int, count: Int) throws -> [UInt8]
    /// Fills `destination` from `offset`.
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws
}

extension SecretFileReader: ByteSource {}

extension SpillFile: ByteSource {
    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](filling: count) { try read(at: offset, into: $0) }
    }
}

/// The binary form of a ``ListRecord`` in state files: line (UInt64), kind tag (1 byte),
/// canonical form and original text (each a UInt32 length and UTF-8); integers little-endian.
enum RecordCoding {
    /// The fewest bytes a record takes (both texts empty).
    static let minimumByteCount = 17

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

extension MutualPSIConfiguration {
    /// The metadata of a state saved under this configuration (counts are filled in on write).
    func stateMetadata(inputSummary: InputSummary, context: ExchangeContext?) -> PartyStateFile.Metadata {
        PartyStateFile.Metadata(suite: suite, purpose: purpose, outcome: outcome, identityKey: identity.publicKey, peer: peer,
                                identifierType: identifierType, maximumPeerSetSize: maximumPeerSetSize,
                                inputSummary: inputSummary, context: context, itemCount: 0, recordBytes: 0, peerCount: nil,
                                finishedWith: nil, transcript: nil)
    }
}

