public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain files that must stay private (the matches of an exchange): created with mode 0600 and
/// written atomically. Secrets proper (party state, member state, hub keys) use the digest-checked
/// ``SecretContainer``.
enum SecretFile {
    /// Writes `bytes` to `url` atomically with mode 0600, replacing a file already there.
    ///
    /// - Throws: ``OutputFileError`` when the file cannot be created or written.
    static func write(_ bytes: [UInt8], to url: URL) throws {
        let file = try AtomicFile(path: url.path, mode: 0o600)
        try file.write(bytes)
        try file.commit()
    }
}

/// A secret file opened for reading at any offset, after it was checked on the open
/// descriptor (so the file checked is the file read): a regular file, owned by the user
/// running the process, that neither group nor others may access, as ssh requires of
/// private keys.
final class SecretFileReader {
    let path: String
    let length: Int
    private let descriptor: Int32

    /// - Parameter expectedOwner: the user that must own the file (the process's effective
    ///   user; tests pass another to check the refusal).
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` for a mode other than
    ///   owner-only, ``StateFileError/foreignOwner(path:owner:)`` for a file of another user,
    ///   ``StateFileError/io(path:reason:)`` when it cannot be opened or is not a regular file.
    init(url: URL, expectedOwner: uid_t = geteuid()) throws {
        path = url.path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StateFileError.io(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw StateFileError.io(path: path, reason: reason)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw StateFileError.io(path: path, reason: "not a regular file")
        }
        guard info.st_uid == expectedOwner else {
            close(descriptor)
            throw StateFileError.foreignOwner(path: path, owner: Int(info.st_uid))
        }
        let mode = Int(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else {
            close(descriptor)
            throw StateFileError.insecurePermissions(path: path, mode: mode)
        }
        length = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Fills `destination` from `offset`.
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        do { try readFully(descriptor, path: path, at: offset, into: destination) } catch MessageFileError.io(let path, let reason) {
            throw StateFileError.io(path: path, reason: reason)
        }
    }

    /// `count` bytes from `offset` (public parts only: a Swift array is not wiped).
    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](filling: count) { try read(at: offset, into: $0) }
    }
}

/// The one container of the library's secret files: party state, member state and hub keys.
///
/// Versioned, digest-checked, mode 0600, written atomically. Layout (integers little-endian):
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 8 | magic `SPSISECR` |
/// | 8 | 1 | container version, 1 |
/// | 9 | 1 | content: 1 initiator state, 2 responder state, 3 member state, 4 hub key, 5 identity, 6 relationship state, 7 pending run |
/// | 10 | 1 | the content's own layout version |
/// | 11 | 8 | S, the secret's length |
/// | 19 | S | the secret |
/// | 19 + S | B | the body: the content's sections |
/// | … | L | the description: JSON (may be empty) |
/// | … | 8 | B |
/// | … | 8 | L |
/// | … | 32 | BLAKE2b-256 (`crypto_generichash`, unkeyed) of every byte before it |
///
/// A reader checks, before it reads anything else: the file (regular, owner, mode), its length
/// against the content's bounds, the magic, versions and content, and that `19 + S + B + L + 48`
/// is the file's length (with overflow-checked arithmetic); then the digest over the whole file;
/// only then does it use a byte of it. The digest catches damage; it is not a MAC (anyone who
/// can write the file can recompute it), so every size inside is checked again by the content.
enum SecretContainer {
    static let magic = Array("SPSISECR".utf8)
    static let version: UInt8 = 1
    static let headerByteCount = 19
    static let trailerByteCount = 8 + 8 + 32
    /// A description larger than this is refused before it is read.
    static let maximumDescriptionBytes = 1 << 20

    /// What a container holds, and the bounds its reader checks before reading.
    struct Content: Sendable {
        let code: UInt8
        let version: UInt8
        /// In errors: "an initiator's state".
        let name: String
        /// The secret's exact length, when fixed.
        let secretByteCount: Int?
        /// The file's exact length, when fixed (a hub key).
        let fileByteCount: Int?

        // Layout 5 of the states holds elements hashed under ``HashedContext`` (layout 4 recorded
        // the parties' identity keys and the identifier type, but hashed only the purpose).
        static let initiatorState = Content(code: 1, version: 5, name: "an initiator's state", secretByteCount: 32, fileByteCount: nil)
        static let responderState = Content(code: 2, version: 5, name: "a responder's state", secretByteCount: 32, fileByteCount: nil)
        static let memberState = Content(code: 3, version: 5, name: "a member's state", secretByteCount: nil, fileByteCount: nil)
        static let hubKey = Content(code: 4, version: 2, name: "a hub key", secretByteCount: 32,
                                    fileByteCount: headerByteCount + 32 + HubKey.bodyByteCount + trailerByteCount)
        static let identity = Content(code: 5, version: 1, name: "a party identity", secretByteCount: PartyIdentity.seedByteCount,
                                      fileByteCount: headerByteCount + PartyIdentity.seedByteCount + PartyPublicKey.byteCount + trailerByteCount)
        static let relationshipState = Content(code: 6, version: 1, name: "a relationship state", secretByteCount: 64, fileByteCount: nil)
        static let pendingRun = Content(code: 7, version: 1, name: "a relationship's pending run", secretByteCount: 64, fileByteCount: nil)
        static let all = [initiatorState, responderState, memberState, hubKey, identity, relationshipState, pendingRun]
    }

    /// Writes a container as a stream: the secret first, then the body, then ``seal(description:)``
    /// and ``commit(replacing:)``. Nothing appears under the final name before the commit.
    final class Writer {
        private let file: AtomicFile
        private let digest = StateDigest()
        private var bodyByteCount: UInt64 = 0
        var path: String { file.path }

        /// - Throws: ``OutputFileError/cannotCreate(path:reason:)``.
        init(url: URL, content: Content, secret: UnsafeRawBufferPointer) throws {
            if let expected = content.secretByteCount { precondition(secret.count == expected, "a \(content.name) secret is \(expected) bytes") }
            file = try AtomicFile(path: url.path, mode: 0o600)
            try put(magic + [version, content.code, content.version])
            try put(littleEndian(UInt64(secret.count)))
            try put(secret)
        }

        /// Appends body bytes.
        func write(_ bytes: UnsafeRawBufferPointer) throws {
            try put(bytes)
            bodyByteCount += UInt64(bytes.count)
        }

        func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

        /// Copies a temporary file into the body.
        func write(contentsOf spill: SpillFile) throws {
            try spill.forEachChunk(maximumBytes: 1 << 20) { try write($0) }
        }

        /// Writes the description, the lengths and the digest (not yet under the final name).
        func seal(description: [UInt8]) throws {
            try put(description)
            try put(littleEndian(bodyByteCount))
            try put(littleEndian(UInt64(description.count)))
            try file.write(digest.finish())
        }

        /// Moves the sealed file under its final name.
        ///
        /// - Parameter replacing: replace a file already there; when false an existing file is
        ///   refused with ``OutputFileError/exists(path:)``, atomically (no check-then-rename race).
        func commit(replacing: Bool) throws { try file.commit(replacing: replacing) }

        /// Removes the committed file (a later output of the same step failed).
        func retract() { file.retract() }

        private func put(_ bytes: UnsafeRawBufferPointer) throws {
            digest.update(bytes)
            try file.write(bytes)
        }

        private func put(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try put($0) } }
    }

    /// An opened and verified container: its secret in wiped memory, its description, and its
    /// body read on demand.
    final class Reader {
        let file: SecretFileReader
        let secret: SecretBytes
        let description: [UInt8]
        /// Where the body starts, and its length.
        let bodyOffset: Int
        let bodyByteCount: Int
        var path: String { file.path }

        /// Opens and verifies a container of `content`.
        ///
        /// - Parameters:
        ///   - invalid: makes the content's error for a reason (``StateFileError/invalidStateFile(path:reason:)``
        ///     for states, ``UnbalancedPSIError/invalidKeyFile(path:reason:)`` for keys).
        ///   - expectedOwner: see ``SecretFileReader``.
        init(url: URL, content: Content, invalid: (String) -> any Error, expectedOwner: uid_t = geteuid()) throws {
            let file = try SecretFileReader(url: url, expectedOwner: expectedOwner)
            self.file = file
            let length = file.length
            guard try file.bytes(at: 0, count: min(length, magic.count)) == magic else {
                throw invalid("it does not start with the secret-file magic SPSISECR")
            }
            guard length >= headerByteCount + trailerByteCount else {
                throw invalid("it is truncated: \(length) bytes, fewer than any secret file's \(headerByteCount + trailerByteCount)")
            }
            let header = try file.bytes(at: magic.count, count: 3)
            guard header[0] == version else { throw invalid("container version \(header[0]); expected \(version)") }
            guard header[1] == content.code else {
                let found = Content.all.first { $0.code == header[1] }?.name ?? "unknown content \(header[1])"
                throw invalid("it holds \(found); expected \(content.name)")
            }
            guard header[2] == content.version else {
                throw invalid("\(content.name) of layout version \(header[2]); this version of the library reads version \(content.version)")
            }
            if let exact = content.fileByteCount, length != exact {
                throw invalid("it is \(length) bytes long; \(content.name) is exactly \(exact) bytes")
            }
            let secretCount = try Self.uint64(file, at: 11)
            let bodyCount = try Self.uint64(file, at: length - trailerByteCount)
            let descriptionCount = try Self.uint64(file, at: length - trailerByteCount + 8)
            // Overflow-checked: every length is a forged UInt64 until the sum matches the file.
            guard let total = checkedSum([UInt64(headerByteCount), secretCount, bodyCount, descriptionCount, UInt64(trailerByteCount)]),
                  total == UInt64(length) else {
                throw invalid("its sections do not add up to its length of \(length) bytes; the file is damaged")
            }
            if let expected = content.secretByteCount, secretCount != UInt64(expected) {
                throw invalid("its secret is \(secretCount) bytes; expected \(expected)")
            }
            guard descriptionCount <= UInt64(maximumDescriptionBytes) else {
                throw invalid("its description is \(descriptionCount) bytes; expected at most \(maximumDescriptionBytes)")
            }
            // The digest before anything is used: the rest may then be trusted to be what was written.
            guard try Self.digest(of: file, count: length - 32) == file.bytes(at: length - 32, count: 32) else {
                throw invalid("its content does not match its digest; the file is damaged")
            }
            secret = try SecretBytes(count: Int(secretCount)) { out in try file.read(at: headerByteCount, into: out) }
            bodyOffset = headerByteCount + Int(secretCount)
            bodyByteCount = Int(bodyCount)
            description = try file.bytes(at: bodyOffset + bodyByteCount, count: Int(descriptionCount))
        }

        /// `count` body bytes from body offset `offset`.
        func bodyBytes(at offset: Int, count: Int) throws -> [UInt8] {
            precondition(offset >= 0 && count >= 0 && offset <= bodyByteCount - count, "read inside the body")
            return try file.bytes(at: bodyOffset + offset, count: count)
        }

        /// Copies `count` body bytes from body offset `offset` into `writer`'s body, a chunk at a time.
        func copyBody(at offset: Int, count: Int, to writer: Writer) throws {
            precondition(offset >= 0 && count >= 0 && offset <= bodyByteCount - count, "copy inside the body")
            try Self.forEachChunk(of: file, from: bodyOffset + offset, count: count) { try writer.write($0) }
        }

        private static func uint64(_ file: SecretFileReader, at offset: Int) throws -> UInt64 {
            try file.bytes(at: offset, count: 8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }

        private static func digest(of file: SecretFileReader, count: Int) throws -> [UInt8] {
            let state = StateDigest()
            try forEachChunk(of: file, from: 0, count: count) { state.update($0) }
            return state.finish()
        }

        /// Calls `body` with the file's bytes `from..<from+count` a MiB at a time, in a buffer
        /// wiped afterwards (it holds the secret and the party's records).
        private static func forEachChunk(of file: SecretFileReader, from start: Int, count: Int,
                                         _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer {
                wipe(chunk)
                chunk.deallocate()
            }
            var offset = 0
            while offset < count {
                let n = min(chunk.count, count - offset)
                let part = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n])
                try file.read(at: start + offset, into: part)
                try body(UnsafeRawBufferPointer(part))
                offset += n
            }
        }
    }
}

/// The sum of `values`, or nil if it overflows.
func checkedSum(_ values: [UInt64]) -> UInt64? {
    var total: UInt64 = 0
    for value in values {
        let (sum, overflow) = total.addingReportingOverflow(value)
        if overflow { return nil }
        total = sum
    }
    return total
}

/// `a × b`, or nil if it overflows.
func checkedProduct(_ a: UInt64, _ b: UInt64) -> UInt64? {
    let (product, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : product
}

/// The 8 little-endian bytes of `value`.
func littleEndian(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}


/// Errors reading party state, member state and key files.
public enum StateFileError: Error, Sendable, Equatable {
    /// The file could not be read.
    case io(path: String, reason: String)
    /// The file can be read or written by users other than its owner.
    case insecurePermissions(path: String, mode: Int)
    /// The file belongs to another user (a secret file must be the reader's own).
    case foreignOwner(path: String, owner: Int)
    /// The file is not a state file of this library, or of another version or role.
    case invalidStateFile(path: String, reason: String)
    /// The state already finished its exchange against other peer messages; finishing it again
    /// would use its secret on a second peer set.
    case alreadyFinished(path: String)
}

extension StateFileError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .insecurePermissions(path, mode):
            return "\(path): permissions \(String(mode, radix: 8)) let other users access this secret file; expected 600 (run: chmod 600 \(path))"
        case let .foreignOwner(path, owner):
            return "\(path): the secret file belongs to user \(owner), not to the user running this step; refusing to use another user's secret"
        case let .invalidStateFile(path, reason):
            return "\(path): not a usable state file: \(reason)"
        case let .alreadyFinished(path):
            return "\(path): this state has already finished its exchange with other peer messages; a state finishes one exchange only (re-running finish with the same messages is allowed)"
        }
    }
}
