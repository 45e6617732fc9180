public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The identity file of the `psi` command: a ``SecretContainer`` of content 5 (a party
// identity), layout version 1, exactly 131 bytes. The secret is the 32-byte Ed25519 seed
// (`crypto_sign_seed_keypair`); the body is the 32-byte public key; the description is empty.
// A reader checks what every secret file is checked for (regular file, owner, mode 0600, exact
// size, digest), then that the seed gives the stored public key.
extension PartyIdentity {
    /// Saves the identity to an identity file (mode 0600), atomically.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - replacing: replace an existing file. Without it an existing file is never
    ///     overwritten, even one created while this call runs.
    /// - Throws: ``TrustError/identityFileExists(path:)``, ``OutputFileError``.
    public func save(to url: URL, replacing: Bool = false) throws {
        let writer = try seed.withUnsafeBytes { try SecretContainer.Writer(url: url, content: .identity, secret: $0) }
        try writer.write(publicKey.bytes)
        try writer.seal(description: [])
        do { try writer.commit(replacing: replacing) } catch OutputFileError.exists(let path) {
            throw TrustError.identityFileExists(path: path)
        }
    }

    /// Loads an identity saved with ``save(to:replacing:)``.
    ///
    /// - Throws: ``StateFileError/insecurePermissions(path:mode:)`` when others may access the
    ///   file, ``StateFileError/foreignOwner(path:owner:)`` for another user's file,
    ///   ``StateFileError/io(path:reason:)`` when it cannot be read, and
    ///   ``TrustError/invalidIdentityFile(path:reason:)`` when it is not a valid identity file.
    public convenience init(contentsOf url: URL) throws {
        func invalid(_ reason: String) -> TrustError { .invalidIdentityFile(path: url.path, reason: reason) }
        let container = try SecretContainer.Reader(url: url, content: .identity, invalid: invalid)
        guard container.bodyByteCount == PartyPublicKey.byteCount, container.description.isEmpty else {
            throw invalid("its body is \(container.bodyByteCount) bytes and its description \(container.description.count); expected \(PartyPublicKey.byteCount) and 0")
        }
        let stored = try container.bodyBytes(at: 0, count: PartyPublicKey.byteCount)
        self.init(validSeed: container.secret)
        guard publicKey.bytes == stored else {
            throw invalid("the stored public key does not match the seed; the file is damaged")
        }
    }
}
