public import Foundation
internal import CSodium

/// A secret ristretto255 scalar (an integer modulo the group order ℓ), never zero.
///
/// The 32 bytes live in a heap allocation that is wiped with `sodium_memzero` when the last
/// copy of the scalar is released. Equality is constant-time.
///
/// - Warning: ``rawRepresentation`` exposes the secret; write it only to a key or state file
///   with mode 0600.
public struct Scalar: Sendable {
    /// The size of an encoded scalar.
    public static let byteCount = 32

    let secret: SecretBytes

    private init(secret: SecretBytes) { self.secret = secret }

    /// A uniformly random non-zero scalar from libsodium's CSPRNG.
    public static func random() -> Scalar {
        ensureSodiumInitialized()
        return Scalar(secret: SecretBytes(count: byteCount) { crypto_core_ristretto255_scalar_random($0.baseAddress!) })
    }

    /// Decodes a scalar from its canonical 32-byte little-endian encoding.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)``,
    ///   ``PSIError/nonCanonicalScalar`` when the value is not below ℓ, and
    ///   ``PSIError/zeroScalar``.
    public init<Bytes: DataProtocol>(rawRepresentation bytes: Bytes) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "scalar", length: bytes.count, expected: Self.byteCount)
        }
        let secret = try SecretBytes(count: Self.byteCount) { out in
            _ = bytes.copyBytes(to: out)
            guard isCanonicalScalar(UnsafeRawBufferPointer(out)) else { throw PSIError.nonCanonicalScalar }
            guard sodium_is_zero(out.baseAddress!, 32) == 0 else { throw PSIError.zeroScalar }
        }
        self.init(secret: secret)
    }

    /// Reduces 64 uniformly random bytes modulo ℓ (RFC 9497 HashToScalar's last step).
    /// Returns nil when the result is zero.
    static func reducing(wide bytes: UnsafeRawPointer) -> Scalar? {
        let secret = SecretBytes(count: byteCount) { crypto_core_ristretto255_scalar_reduce($0.baseAddress!, bytes) }
        let isZero = secret.withUnsafeBytes { sodium_is_zero($0.baseAddress!, 32) == 1 }
        return isZero ? nil : Scalar(secret: secret)
    }

    /// The multiplicative inverse modulo ℓ.
    public func inverted() -> Scalar {
        let result = SecretBytes(count: Self.byteCount) { out in
            secret.withUnsafeBytes { s in
                // Fails only for zero, which a Scalar never is.
                precondition(crypto_core_ristretto255_scalar_invert(out.baseAddress!, s.baseAddress!) == 0)
            }
        }
        return Scalar(secret: result)
    }

    /// The product modulo ℓ (never zero: ℓ is prime and neither factor is zero).
    public static func * (lhs: Scalar, rhs: Scalar) -> Scalar {
        let result = SecretBytes(count: byteCount) { out in
            lhs.secret.withUnsafeBytes { a in
                rhs.secret.withUnsafeBytes { b in
                    crypto_core_ristretto255_scalar_mul(out.baseAddress!, a.baseAddress!, b.baseAddress!)
                }
            }
        }
        return Scalar(secret: result)
    }

    /// The canonical 32-byte little-endian encoding.
    ///
    /// - Warning: this is the secret itself. Keep it out of logs and messages; store it only
    ///   in files created with mode 0600, and wipe the copy when done.
    public var rawRepresentation: [UInt8] {
        secret.withUnsafeBytes { Array($0) }
    }
}

extension Scalar: Equatable {
    /// Constant-time comparison.
    public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
        lhs.secret.withUnsafeBytes { a in rhs.secret.withUnsafeBytes { b in constantTimeEqual(a, b) } }
    }
}

extension Scalar: CustomStringConvertible {
    /// Never prints the secret.
    public var description: String { "Scalar(<secret>)" }
}

/// Scalar arithmetic modulo ℓ on raw 32-byte buffers (libsodium's
/// `crypto_core_ristretto255_scalar_*`), for batch code that keeps many scalars in one
/// ``SecretBytes`` allocation (the OPRF's blinds and their inverses, DLEQ responses).
enum ScalarArithmetic {
    /// A uniformly random non-zero scalar.
    static func random(into out: UnsafeMutableRawPointer) {
        ensureSodiumInitialized()
        crypto_core_ristretto255_scalar_random(out)
    }

    /// `out = a · b`; `out` may be `a` or `b`.
    static func multiply(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer) {
        crypto_core_ristretto255_scalar_mul(out, a, b)
    }

    /// `out = a − b`.
    static func subtract(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer) {
        crypto_core_ristretto255_scalar_sub(out, a, b)
    }

    /// `out = a⁻¹`; false when `a` is zero.
    static func invert(_ out: UnsafeMutableRawPointer, _ a: UnsafeRawPointer) -> Bool {
        crypto_core_ristretto255_scalar_invert(out, a) == 0
    }
}

/// Whether 32 bytes are a canonical scalar: a little-endian integer below ℓ (zero included).
///
/// The scratch copy is wiped, so this may check a secret.
func isCanonicalScalar(_ bytes: UnsafeRawBufferPointer) -> Bool {
    precondition(bytes.count == Scalar.byteCount)
    return withUnsafeTemporaryAllocation(byteCount: 96, alignment: 16) { scratch in
        let wide = scratch.baseAddress!
        let reduced = wide + 64
        wide.initializeMemory(as: UInt8.self, repeating: 0, count: 96)
        wide.copyMemory(from: bytes.baseAddress!, byteCount: Scalar.byteCount)
        crypto_core_ristretto255_scalar_reduce(reduced, wide)
        let canonical = sodium_memcmp(reduced, bytes.baseAddress!, Scalar.byteCount) == 0
        sodium_memzero(wide, 96)
        return canonical
    }
}
