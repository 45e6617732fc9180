internal import CSodium

/// Curve25519 for the x25519 mutual-PSI suite: the RFC 9380 map onto its prime-order
/// subgroup and the membership check of received u-coordinates, both from libsodium calls.
enum Curve25519 {
    /// RFC 9380 `L` for curve25519 (`ceil((255 + 128) / 8)`): bytes of uniform output per
    /// field element.
    static let fieldElementBytes = 48

    /// 5ℓ − 1, little-endian, where ℓ is the order of the prime-order subgroup. It is
    /// ≡ −1 (mod ℓ) and a multiple of 8 in [2^254, 2^255), so X25519's clamping leaves it
    /// unchanged: for P in the subgroup X25519(5ℓ − 1, u(P)) = u(−P) = u(P). For a curve point
    /// with a small-order component the product loses that component, and for a twist point
    /// (twist order 4ℓ′, and 5ℓ − 1 ≢ ±1 mod ℓ′) it is another point: the u-coordinate
    /// changes in both cases. One ladder decides membership exactly.
    static let negationScalar: [UInt8] = [
        0xa0, 0x23, 0xcd, 0xd0, 0x83, 0xef, 0x5b, 0xb8, 0x2f, 0x10, 0xd6, 0x2e, 0x59, 0xe1, 0x5a, 0x68,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
    ]

    /// Where a u-coordinate lies.
    enum Membership { case primeOrderSubgroup, lowOrder, outside }

    /// Where the (canonical) u-coordinate at `u` lies. Costs one X25519 ladder.
    static func membership(of u: UnsafeRawPointer) -> Membership {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { out in
            let status = crypto_scalarmult_curve25519(out.baseAddress!, negationScalar, u)
            if status != 0 { return .lowOrder }
            return sodium_memcmp(out.baseAddress!, u, 32) == 0 ? .primeOrderSubgroup : .outside
        }
    }
}

extension HashToGroup {
    /// The u-coordinate (RFC 7748 encoding) of RFC 9380 `encode_to_curve` for the suite
    /// `curve25519_XMD:SHA-512_ELL2_NU_`, over `prefix || message` under the context's DST,
    /// written to `u`; false only if the point has small order (probability about 2^-250).
    ///
    /// libsodium's `crypto_core_ed25519_from_hash` reads 64 bytes as a big-endian integer,
    /// reduces it mod p and applies Elligator 2 and cofactor clearing; 16 zero bytes before
    /// RFC 9380's 48 make that integer exactly `hash_to_field`'s. The map's sign choice differs
    /// from RFC 9380's, which changes only the sign of the point, not its u-coordinate.
    /// `crypto_sign_ed25519_pk_to_curve25519` then converts Edwards to Montgomery form.
    func curve25519U(for message: UnsafeRawBufferPointer, into u: UnsafeMutableRawPointer) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 64 + 32, alignment: 16) { scratch in
            let wide = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<64])
            let zeros = 64 - Curve25519.fieldElementBytes
            wide.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: zeros)
            expandMessage(message, into: UnsafeMutableRawBufferPointer(rebasing: wide[zeros...]))
            let edwards = scratch.baseAddress! + 64
            crypto_core_ed25519_from_hash(edwards, wide.baseAddress!)
            return crypto_sign_ed25519_pk_to_curve25519(u, edwards) == 0
        }
    }
}
