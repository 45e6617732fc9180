public import Foundation
internal import CSodium

/// A ristretto255 group element in its canonical 32-byte encoding.
///
/// Values of this type are always canonical encodings of a non-identity element: the public
/// initialiser validates, and the library's own operations only ever produce valid elements.
/// The bytes are stored inline (no heap allocation), so `[GroupElement]` is one contiguous
/// buffer of 32-byte elements.
public struct GroupElement: Hashable, Sendable, BitwiseCopyable {
    /// The size of an encoded element.
    public static let byteCount = 32

    // Four words rather than an array: inline storage, cheap hashing and equality.
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    /// An all-zero value, used only as a placeholder in buffers that are about to be filled.
    static let zero = GroupElement()

    private init() {}

    /// Decodes and validates an element received from elsewhere.
    ///
    /// - Parameter bytes: exactly 32 bytes.
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` for another length,
    ///   ``PSIError/identityElement(index:)`` for the identity, and
    ///   ``PSIError/invalidElementEncoding(index:)`` for bytes that are not a canonical
    ///   ristretto255 encoding.
    public init<Bytes: DataProtocol>(validating bytes: Bytes) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "group element", length: bytes.count, expected: Self.byteCount)
        }
        var element = GroupElement()
        element.withUnsafeMutableBytes { _ = bytes.copyBytes(to: $0) }
        try element.validate(index: nil)
        self = element
    }

    /// Checks that the bytes are a canonical encoding of a non-identity element.
    func validate(index: Int?) throws {
        if self == .zero { throw PSIError.identityElement(index: index) }
        try withUnsafeBytes { try checkRistretto255Encoding($0, index: index) }
    }

    /// The canonical 32-byte encoding.
    public var rawRepresentation: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// The encoding as lower-case hexadecimal.
    public var hexString: String { rawRepresentation.hexString }

    /// Calls `body` with the 32 encoded bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self, body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &self, body)
    }

    /// `scalar · self`.
    ///
    /// - Throws: ``PSIError/scalarMultiplicationFailed`` when the product is the identity,
    ///   which cannot happen for a valid element and a non-zero scalar.
    public func multiplied(by scalar: Scalar) throws -> GroupElement {
        var result = GroupElement()
        let status = scalar.secret.withUnsafeBytes { n in
            withUnsafeBytes { p in
                result.withUnsafeMutableBytes { q in
                    crypto_scalarmult_ristretto255(q.baseAddress!, n.baseAddress!, p.baseAddress!)
                }
            }
        }
        guard status == 0 else { throw PSIError.scalarMultiplicationFailed }
        return result
    }

    /// `scalar · B`, where B is the ristretto255 generator.
    public static func generatorMultiplied(by scalar: Scalar) throws -> GroupElement {
        var result = GroupElement()
        let status = scalar.secret.withUnsafeBytes { n in
            result.withUnsafeMutableBytes { q in
                crypto_scalarmult_ristretto255_base(q.baseAddress!, n.baseAddress!)
            }
        }
        guard status == 0 else { throw PSIError.scalarMultiplicationFailed }
        return result
    }

    /// The ristretto255 generator B (`1·B`).
    package static let generator: GroupElement = {
        var one = [UInt8](repeating: 0, count: Scalar.byteCount)
        one[0] = 1
        return one.withUnsafeBytes { generatorMultiplied(byScalarBytes: $0.baseAddress!)! }
    }()

    /// `scalar · self` for a scalar given as 32 canonical bytes (a public scalar such as a
    /// proof's, or a secret already in wiped memory).
    ///
    /// Returns nil when libsodium refuses: `self` is not a valid encoding, or the product is
    /// the identity (the scalar is zero, or `self` is the identity).
    func multiplied(byScalarBytes scalar: UnsafeRawPointer) -> GroupElement? {
        var result = GroupElement()
        let status = withUnsafeBytes { p in
            result.withUnsafeMutableBytes { q in crypto_scalarmult_ristretto255(q.baseAddress!, scalar, p.baseAddress!) }
        }
        return status == 0 ? result : nil
    }

    /// `scalar · B` for a scalar given as 32 canonical bytes; nil when the scalar is zero.
    static func generatorMultiplied(byScalarBytes scalar: UnsafeRawPointer) -> GroupElement? {
        var result = GroupElement()
        let status = result.withUnsafeMutableBytes { q in crypto_scalarmult_ristretto255_base(q.baseAddress!, scalar) }
        return status == 0 ? result : nil
    }

    /// `self + other` (`crypto_core_ristretto255_add`); nil when either is not a valid encoding.
    ///
    /// The sum may be the identity (all-zero bytes), which only a caller that adds an element
    /// to its negation, or has found a discrete-log relation, would see.
    func adding(_ other: GroupElement) -> GroupElement? {
        var result = GroupElement()
        let status = withUnsafeBytes { p in
            other.withUnsafeBytes { q in
                result.withUnsafeMutableBytes { r in crypto_core_ristretto255_add(r.baseAddress!, p.baseAddress!, q.baseAddress!) }
            }
        }
        return status == 0 ? result : nil
    }

    /// Why libsodium refused to multiply this element (by a non-zero scalar): it is the
    /// identity, or not a valid encoding; position `index` in its batch.
    func multiplicationFailure(index: Int) -> PSIError {
        // A valid non-identity element times a non-zero scalar is never the identity in a
        // prime-order group, so the element itself was bad.
        self == .zero ? .identityElement(index: index) : .invalidElementEncoding(index: index)
    }

    /// Maps 64 uniformly random bytes to an element (`crypto_core_ristretto255_from_hash`,
    /// the one-way map of RFC 9380 / RFC 9496).
    static func fromUniformBytes(_ bytes: UnsafeRawPointer) -> GroupElement {
        var result = GroupElement()
        result.withUnsafeMutableBytes { q in
            _ = crypto_core_ristretto255_from_hash(q.baseAddress!, bytes)
        }
        return result
    }
}

extension GroupElement: CustomStringConvertible {
    /// The encoding in hex.
    public var description: String { "GroupElement(\(hexString))" }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Bytes from hexadecimal text (either case, no separators); nil for anything else.
    init?(hexString text: some StringProtocol) {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self = bytes
    }
}

/// Checks that 32 bytes are a canonical ristretto255 encoding (RFC 9496 §4.3.1).
///
/// libsodium 1.0.18 ignores the top bit of the last byte when it decodes, so an encoding with
/// that bit set would be accepted as an alias of the same element (and would slip past the
/// duplicate check); RFC 9496 requires the value to be below p, so it is refused here first.
func checkRistretto255Encoding(_ bytes: UnsafeRawBufferPointer, index: Int?) throws {
    guard bytes[31] & 0x80 == 0, crypto_core_ristretto255_is_valid_point(bytes.baseAddress!) == 1 else {
        throw PSIError.invalidElementEncoding(index: index)
    }
}
