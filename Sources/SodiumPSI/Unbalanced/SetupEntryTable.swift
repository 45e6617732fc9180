import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The entries of a tags setup (a tag, and with labels its sealed label), fixed-size and sorted
/// by tag, so that a member finds an item by binary search instead of loading a hash set.
///
/// A table made in memory holds its bytes. A table read from a file keeps only a block index:
/// for every ``blockEntries`` entries, the first 8 bytes of the block's first tag and a SipHash
/// (libsodium `crypto_shorthash`, under a key drawn for this table) of the block's bytes, both
/// taken while the file was read and its digest verified. A lookup reads one block with
/// `pread` and checks its SipHash, so a file changed after it was verified is refused rather
/// than believed. Memory: 16 bytes per 128 entries (12.5 MB for 100,000,000 entries).
///
/// `@unchecked Sendable` is safe: every stored property is immutable after `init`, and
/// `pread` on a shared descriptor does not move a file offset.
final class SetupEntryTable: @unchecked Sendable {
    /// Bytes of an entry.
    let entrySize: Int
    /// Bytes of the tag that starts each entry (at least 8).
    let tagSize: Int
    /// Number of entries.
    let count: Int
    /// Entries per block of a file-backed table.
    static let blockEntries = 128

    private enum Storage {
        case memory([UInt8])
        case file(descriptor: Int32, path: String, offset: Int, firstPrefixes: [UInt64], checks: [UInt64], key: [UInt8])
    }
    private let storage: Storage

    /// A table over `bytes`, which the caller has sorted (see ``sortEntries(_:entrySize:tagSize:)``).
    init(memory bytes: [UInt8], entrySize: Int, tagSize: Int) {
        precondition(bytes.count % entrySize == 0 && tagSize >= 8)
        self.entrySize = entrySize
        self.tagSize = tagSize
        self.count = bytes.count / entrySize
        self.storage = .memory(bytes)
    }

    private init(entrySize: Int, tagSize: Int, count: Int, storage: Storage) {
        self.entrySize = entrySize
        self.tagSize = tagSize
        self.count = count
        self.storage = storage
    }

    deinit {
        if case .file(let descriptor, _, _, _, _, _) = storage { close(descriptor) }
    }

    /// The bytes of a table held in memory.
    var memoryBytes: [UInt8]? {
        if case .memory(let bytes) = storage { return bytes }
        return nil
    }

    /// Reads `count` entries from `reader` (positioned at the first entry, which starts at byte
    /// `offset` of the file), checks that their tags are in ascending order, and indexes them;
    /// the reader verifies the file's digest after the last one.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidSetup(path:reason:)`` for an entry out of order,
    ///   and the reader's errors.
    static func reading(_ reader: MessageFileReader, count: Int, entrySize: Int, tagSize: Int, offset: Int) throws -> SetupEntryTable {
        let path = reader.url.path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MessageFileError.io(path: path, reason: String(cString: strerror(errno))) }
        var key = [UInt8](repeating: 0, count: SipHash.keyByteCount)
        key.withUnsafeMutableBytes { fillRandom($0) }
        let blocks = (count + blockEntries - 1) / blockEntries
        var firstPrefixes = [UInt64](), checks = [UInt64]()
        firstPrefixes.reserveCapacity(blocks)
        checks.reserveCapacity(blocks)
        var previous = [UInt8](repeating: 0, count: tagSize)
        var index = 0
        do {
            while index < count, let chunk = try reader.readChunk(maximumElements: min(count - index, blockEntries * 512)) {
                try chunk.withUnsafeBytes { raw in
                    let n = raw.count / entrySize
                    for i in 0..<n {
                        let entry = raw.baseAddress! + i * entrySize
                        if index + i > 0, memcmp(previous, entry, tagSize) > 0 {
                            throw UnbalancedPSIError.invalidSetup(
                                path: path, reason: "entry \(index + i) is out of order: a setup's entries are sorted by tag")
                        }
                        if (index + i) % blockEntries == 0 {
                            firstPrefixes.append(prefix(entry))
                            let end = min(n, i + blockEntries)
                            checks.append(check(UnsafeRawBufferPointer(start: entry, count: (end - i) * entrySize), key: key))
                        }
                        previous.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: entry, byteCount: tagSize) }
                    }
                    index += n
                }
            }
            // The last chunk was read; reading on verifies the digest if it has not been yet.
            _ = try reader.readChunk(maximumElements: 1)
        } catch {
            close(descriptor)
            throw error
        }
        return SetupEntryTable(entrySize: entrySize, tagSize: tagSize, count: count,
                               storage: .file(descriptor: descriptor, path: path, offset: offset, firstPrefixes: firstPrefixes,
                                              checks: checks, key: key))
    }

    /// The first 8 bytes of a tag, big-endian: the order of the prefixes is the order of the tags.
    private static func prefix(_ tag: UnsafeRawPointer) -> UInt64 {
        UInt64(bigEndian: tag.loadUnaligned(as: UInt64.self))
    }

    private static func check(_ bytes: UnsafeRawBufferPointer, key: [UInt8]) -> UInt64 {
        key.withUnsafeBytes { SipHash.hash64(bytes, key: $0.baseAddress!) }
    }

    /// Every entry whose tag equals `tag` (its first ``tagSize`` bytes), with its index.
    ///
    /// - Throws: ``MessageFileError/io(path:reason:)`` when the file cannot be read, or changed
    ///   after it was verified.
    func entries(matching tag: UnsafeRawBufferPointer) throws -> [(index: Int, entry: [UInt8])] {
        precondition(tag.count >= tagSize)
        switch storage {
        case .memory(let bytes):
            return bytes.withUnsafeBytes { raw in Self.search(raw, first: 0, entrySize: entrySize, tagSize: tagSize, tag: tag) }
        case let .file(descriptor, path, offset, firstPrefixes, checks, key):
            let p = Self.prefix(tag.baseAddress!)
            // Blocks whose first tag is below or at the tag's prefix, from the last one below it.
            var low = 0, high = firstPrefixes.count
            while low < high {
                let mid = (low + high) / 2
                if firstPrefixes[mid] < p { low = mid + 1 } else { high = mid }
            }
            var found = [(index: Int, entry: [UInt8])]()
            var block = max(0, low - 1)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.blockEntries * entrySize, alignment: 16)
            defer { buffer.deallocate() }
            while block < firstPrefixes.count, block == max(0, low - 1) || firstPrefixes[block] <= p {
                let first = block * Self.blockEntries
                let n = min(Self.blockEntries, count - first)
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(n * entrySize)])
                try readFully(descriptor, path: path, at: offset + first * entrySize, into: part)
                guard Self.check(UnsafeRawBufferPointer(part), key: key) == checks[block] else {
                    throw MessageFileError.io(path: path, reason: "the setup file changed after it was verified")
                }
                found += Self.search(UnsafeRawBufferPointer(part), first: first, entrySize: entrySize, tagSize: tagSize, tag: tag)
                block += 1
            }
            return found
        }
    }

    /// Binary search of sorted entries for every one whose tag equals `tag`.
    private static func search(_ raw: UnsafeRawBufferPointer, first: Int, entrySize: Int, tagSize: Int,
                               tag: UnsafeRawBufferPointer) -> [(index: Int, entry: [UInt8])] {
        let n = raw.count / entrySize
        var low = 0, high = n
        while low < high {
            let mid = (low + high) / 2
            if memcmp(raw.baseAddress! + mid * entrySize, tag.baseAddress!, tagSize) < 0 { low = mid + 1 } else { high = mid }
        }
        var found = [(index: Int, entry: [UInt8])]()
        while low < n, memcmp(raw.baseAddress! + low * entrySize, tag.baseAddress!, tagSize) == 0 {
            found.append((first + low, Array(UnsafeRawBufferPointer(rebasing: raw[(low * entrySize)..<((low + 1) * entrySize)]))))
            low += 1
        }
        return found
    }

    /// Calls `body` with the entries in order, about 1 MiB of whole entries at a time (a
    /// file-backed table is read again, each block checked).
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let step = max(1, (1 << 20) / entrySize)
        switch storage {
        case .memory(let bytes):
            try bytes.withUnsafeBytes { raw in
                for start in stride(from: 0, to: count, by: step) {
                    try body(UnsafeRawBufferPointer(rebasing: raw[(start * entrySize)..<(min(count, start + step) * entrySize)]))
                }
            }
        case let .file(descriptor, path, offset, _, checks, key):
            let blocksPerStep = max(1, step / Self.blockEntries)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blocksPerStep * Self.blockEntries * entrySize, alignment: 16)
            defer { buffer.deallocate() }
            for firstBlock in stride(from: 0, to: checks.count, by: blocksPerStep) {
                let first = firstBlock * Self.blockEntries
                let n = min(blocksPerStep * Self.blockEntries, count - first)
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(n * entrySize)])
                try readFully(descriptor, path: path, at: offset + first * entrySize, into: part)
                for b in 0..<((n + Self.blockEntries - 1) / Self.blockEntries) {
                    let bytes = UnsafeRawBufferPointer(rebasing: part[(b * Self.blockEntries * entrySize)..<min(part.count, (b + 1) * Self.blockEntries * entrySize)])
                    guard Self.check(bytes, key: key) == checks[firstBlock + b] else {
                        throw MessageFileError.io(path: path, reason: "the setup file changed after it was verified")
                    }
                }
                try body(UnsafeRawBufferPointer(part))
            }
        }
    }

    /// Sorts fixed-size entries by their first `tagSize` bytes (then by the rest, so the order
    /// depends on the entries only).
    static func sortEntries(_ bytes: [UInt8], entrySize: Int, tagSize: Int) -> [UInt8] {
        let n = bytes.count / entrySize
        var order = Array(0..<n)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            order.sort { memcmp(base + $0 * entrySize, base + $1 * entrySize, entrySize) < 0 }
        }
        var sorted = [UInt8](repeating: 0, count: bytes.count)
        sorted.withUnsafeMutableBytes { out in
            bytes.withUnsafeBytes { raw in
                for (position, index) in order.enumerated() {
                    (out.baseAddress! + position * entrySize).copyMemory(from: raw.baseAddress! + index * entrySize, byteCount: entrySize)
                }
            }
        }
        return sorted
    }
}
