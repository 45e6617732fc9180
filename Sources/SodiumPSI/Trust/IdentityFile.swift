public import Foundation
internal import CSodium

/// The identity file of the `psi` command: a party's Ed25519 seed, mode 0600.
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | 8 | magic `SPSIIDNT` |
/// | 8 | 1 | version, `1` |
/// | 9 | 32 | the seed (`crypto_sign_seed_keypair`) |
/// | 41 | 32 | the public key |
/// | 73 | 32 | SHA-256 of bytes 0–72 |
///
/// A reader checks the permissions, the magic, the version, the length, the digest, and that
/// the seed gives the stored public key.
// The one secret-file container for every secret file is being built separately; this file
// keeps its own small versioned layout until it exists.
enum IdentityFile {
    static let magic = Array("SPSIIDNT".utf8)
    static let version: UInt8 = 1
    static let byteCount = 8 + 1 + 32 + 32 + 32
}

extension PartyIdentity {
    /// Saves the identity to an identity file (mode 0600), atomically.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - replacing: replace an existing file. Without it an existing file is never
    ///     overwritten, even one created while this call runs.
    /// - Throws: ``TrustError/identityFileExists(path:)``, ``TrustError/io(path:reason:)``.
    public func save(to url: URL, replacing: Bool = false) throws {
        // Reserved up front so that no reallocation leaves an unwiped copy of the seed behind.
        var bytes = [UInt8]()
        bytes.reserveCapacity(IdentityFile.byteCount)
        defer { sodium_memzero(&bytes, bytes.count) }
        bytes += IdentityFile.magic + [IdentityFile.version]
        seed.withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes += publicKey.bytes
        bytes += sha256(bytes)
        do {
            let file = try AtomicFile(path: url.path, mode: 0o600)
            try file.write(bytes)
            if replacing {
                try file.commit()
            } else if try !file.commitWithoutReplacing() {
                throw TrustError.identityFileExists(path: url.path)
            }
        } catch MessageFileError.io(let path, let reason) {
            throw TrustError.io(path: path, reason: reason)
        }
    }

    /// Loads an identity saved with ``save(to:replacing:)``.
    ///
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` when others may access the
    ///   file, ``StateFileError/io(path:reason:)`` when it cannot be read, and
    ///   ``TrustError/invalidIdentityFile(path:reason:)`` when it is not a valid identity file.
    public convenience init(contentsOf url: URL) throws {
        var bytes = try SecretFile.read(from: url)
        defer { sodium_memzero(&bytes, bytes.count) }
        func invalid(_ reason: String) -> TrustError { .invalidIdentityFile(path: url.path, reason: reason) }
        guard bytes.count >= 9, Array(bytes[0..<8]) == IdentityFile.magic else {
            throw invalid("it does not start with the identity magic SPSIIDNT")
        }
        guard bytes[8] == IdentityFile.version else { throw invalid("format version \(bytes[8]); expected \(IdentityFile.version)") }
        guard bytes.count == IdentityFile.byteCount else {
            throw invalid("it is \(bytes.count) bytes long; expected \(IdentityFile.byteCount)")
        }
        // Hashed in place: a copy of the seed would be an unwiped array.
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { _ = crypto_hash_sha256(&digest, $0.baseAddress!, 73) }
        guard digest == Array(bytes[73...]) else {
            throw invalid("its content does not match its digest; the file is damaged")
        }
        let seed = SecretBytes(count: PartyIdentity.seedByteCount) { out in
            bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[9..<41])) }
        }
        self.init(validSeed: seed)
        guard publicKey.bytes == Array(bytes[41..<73]) else {
            throw invalid("the stored public key does not match the seed; the file is damaged")
        }
    }
}
