public import Foundation

extension Identifier {
    /// A document fingerprint from a SHA-256 digest written in hex, with or without an
    /// `sha256:` prefix (any case); canonical form `sha256:` and 64 lower-case hex digits.
    ///
    /// - Throws: ``IdentifierError/unsupportedDigestAlgorithm``, ``IdentifierError/invalidDigestLength(found:expected:)``
    ///   or ``IdentifierError/invalidDigestCharacter``.
    public static func documentFingerprint(hexDigest text: String) throws -> Identifier {
        var value = trimmingWhiteSpace(text)
        guard !value.isEmpty else { throw IdentifierError.empty }
        if let colon = value.firstIndex(of: ":") {
            guard value[..<colon].lowercased() == "sha256" else { throw IdentifierError.unsupportedDigestAlgorithm }
            value = value[value.index(after: colon)...]
        }
        guard value.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 102) }) else {
            throw IdentifierError.invalidDigestCharacter
        }
        guard value.utf8.count == 64 else { throw IdentifierError.invalidDigestLength(found: value.utf8.count, expected: 64) }
        return Identifier(kind: .documentFingerprint, canonical: "sha256:" + value.lowercased())
    }

    /// The fingerprint of a document's bytes.
    public static func documentFingerprint(bytes: some DataProtocol) -> Identifier {
        let digest = sha256(Array(bytes))
        return Identifier(kind: .documentFingerprint, canonical: "sha256:" + digest.hexString)
    }

    /// The fingerprint of a file, read in 1 MiB chunks (any size).
    ///
    /// - Throws: ``IdentifierListError/unreadable(path:reason:)`` when the file cannot be read.
    public static func documentFingerprint(contentsOf url: URL) throws -> Identifier {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw IdentifierListError.unreadable(path: url.path, reason: describe(error))
        }
        defer { try? handle.close() }
        var hasher = SHA256Hasher()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw IdentifierListError.unreadable(path: url.path, reason: describe(error))
            }
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        let digest = hasher.finalize()
        return Identifier(kind: .documentFingerprint, canonical: "sha256:" + digest.hexString)
    }
}

/// A short reason for a file-system error, without the path (callers add it).
func describe(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileReadNoSuchFileError || nsError.code == NSFileNoSuchFileError {
        return "No such file or directory"
    }
    if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
    return nsError.localizedDescription
}
