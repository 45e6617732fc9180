public import Foundation

/// One value of a mutual-PSI message: a blinded or re-blinded item, 32 bytes.
///
/// Its meaning depends on the exchange's suite: a ristretto255 element, or an X25519
/// u-coordinate of a point of Curve25519's prime-order subgroup. Values received from a peer are checked by the suite before use (see
/// ``MutualPSIMessage``). Stored inline, so `[BlindedElement]` is one contiguous buffer.
public struct BlindedElement: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The size of every value.
    public static let byteCount = 32

    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    static let zero = BlindedElement()
    private init() {}

    /// Copies 32 bytes; the suite checks them before they are used.
    init(unchecked pointer: UnsafeRawPointer) {
        var value = BlindedElement()
        Swift.withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: 32)) }
        self = value
    }

    /// Wraps exactly 32 bytes without checking them against a suite.
    ///
    /// - Throws: ``PSIError/invalidLength(what:length:expected:)`` for another length.
    public init<Bytes: DataProtocol>(rawRepresentation bytes: Bytes) throws {
        guard bytes.count == Self.byteCount else {
            throw PSIError.invalidLength(what: "blinded element", length: bytes.count, expected: Self.byteCount)
        }
        var value = BlindedElement()
        Swift.withUnsafeMutableBytes(of: &value) { _ = bytes.copyBytes(to: $0) }
        self = value
    }

    /// The 32 bytes.
    public var rawRepresentation: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self, body)
    }

    /// The bytes in hex.
    public var description: String { "BlindedElement(\(rawRepresentation.hexString))" }

    /// Bytes 8–15, for spreading values over buckets: uniformly distributed for both suites
    /// (unlike byte 0 of a ristretto255 encoding, which is always even, or byte 31).
    var bucketKey: UInt64 { w1 }

    /// A total order on values (by 64-bit words, not by bytes), for sorting.
    func precedes(_ other: BlindedElement) -> Bool {
        if w0 != other.w0 { return w0 < other.w0 }
        if w1 != other.w1 { return w1 < other.w1 }
        if w2 != other.w2 { return w2 < other.w2 }
        return w3 < other.w3
    }
}

/// The suite-specific mechanics of mutual PSI: hashing items, blinding, re-blinding and
/// checking received values. Secrets are 32 bytes held in wiped memory.
struct MutualSuite: Sendable {
    let suite: PSISuite

    /// ristretto255: hash to group by RFC 9380 under this DST.
    static let ristrettoDST = Array("SodiumPSI-V1-mutual-ristretto255-SHA512".utf8)
    /// x25519: RFC 9380 `curve25519_XMD:SHA-512_ELL2_NU_` under this DST (see
    /// ``HashToGroup/curve25519U(for:into:)``): every hashed item is a point of the curve's
    /// prime-order subgroup, never of the twist.
    static let x25519DST = Array("SodiumPSI-V2-mutual-x25519-ELL2-SHA512".utf8)

    /// The hasher of items in `context`: the suite's DST, and ``HashedContext`` absorbed once
    /// as the message prefix, so hashing an item copies the cached SHA-512 state.
    /// `scripts/kat/` computes the same bytes independently.
    func hasher(for context: ExchangeContext) -> HashToGroup {
        HashToGroup(domainSeparationTag: domainSeparationTag, messagePrefix: HashedContext(mutual: context).bytes)
    }

    /// The DST of the suite's hash.
    var domainSeparationTag: [UInt8] {
        switch suite {
        case .ristretto255SHA512: return Self.ristrettoDST
        case .x25519ELL2SHA512: return Self.x25519DST
        }
    }

    init(_ suite: PSISuite) { self.suite = suite }

    /// A fresh secret: a non-zero scalar below ℓ (ristretto255), or 32 random bytes that X25519
    /// clamps (x25519).
    func newSecret() -> SecretBytes {
        switch suite {
        case .ristretto255SHA512: return Scalar.random().secret
        case .x25519ELL2SHA512: return SecretBytes(count: 32) { fillRandom($0) }
        }
    }

    /// Checks a stored secret (from a state file or a test).
    func secret(from bytes: some DataProtocol) throws -> SecretBytes {
        switch suite {
        case .ristretto255SHA512:
            return try Scalar(rawRepresentation: bytes).secret
        case .x25519ELL2SHA512:
            guard bytes.count == 32 else { throw PSIError.invalidLength(what: "x25519 secret", length: bytes.count, expected: 32) }
            let secret = SecretBytes(count: 32) { _ = bytes.copyBytes(to: $0) }
            guard !secret.withUnsafeBytes({ isAllZero($0.baseAddress!, count: 32) }) else { throw PSIError.zeroScalar }
            return secret
        }
    }

    /// The step ``blind(_:context:secret:parallelism:progress:)`` reports progress under.
    static let blindingStep = "blinding own items"

    /// `secret · H(item)` for each item, in item order, in parallel, each item hashed under
    /// the exchange's ``HashedContext``.
    func blind(_ items: [Identifier], context: ExchangeContext, secret: SecretBytes, parallelism: Parallelism,
               progress: ProgressHandler? = nil) throws -> [BlindedElement] {
        precondition(context.suite == suite)
        let report = progress.map { (step: Self.blindingStep, handler: $0) }
        let hasher = self.hasher(for: context)
        var result = [BlindedElement](repeating: .zero, count: items.count)
        try secret.withUnsafeBytes { n in
            try result.withUnsafeMutableBufferPointer { out in
                switch suite {
                case .ristretto255SHA512:
                    try forEachRange(count: items.count, parallelism: parallelism, progress: report) { range in
                        var encoding = [UInt8]()
                        for i in range {
                            items[i].writePSIEncoding(into: &encoding)
                            let point = encoding.withUnsafeBytes { hasher.element(for: $0) }
                            let multiplied = point.withUnsafeBytes { p in
                                Swift.withUnsafeMutableBytes(of: &out[i]) {
                                    Curve.ristretto255.multiply($0.baseAddress!, scalar: n.baseAddress!, point: p.baseAddress!)
                                }
                            }
                            // Only an item that hashed to the identity fails (probability 2^-252).
                            guard multiplied else { throw PSIError.invalidInput }
                        }
                    }
                case .x25519ELL2SHA512:
                    try forEachRange(count: items.count, parallelism: parallelism, progress: report) { range in
                        var encoding = [UInt8]()
                        var u = [UInt8](repeating: 0, count: 32)
                        for i in range {
                            items[i].writePSIEncoding(into: &encoding)
                            // Only an item that maps to a small-order point fails (probability 2^-250).
                            guard encoding.withUnsafeBytes({ hasher.curve25519U(for: $0, into: &u) }) else { throw PSIError.invalidInput }
                            let multiplied = Swift.withUnsafeMutableBytes(of: &out[i]) { q in
                                u.withUnsafeBytes { Curve.x25519.multiply(q.baseAddress!, scalar: n.baseAddress!, point: $0.baseAddress!) }
                            }
                            // A clamped secret never maps a point of order ℓ to zero.
                            guard multiplied else { throw PSIError.invalidInput }
                        }
                    }
                }
            }
        }
        return result
    }

    /// `secret · e` for each received element, in parallel, each checked first: a bad one is
    /// reported with its position. ristretto255's multiplication decodes (and so checks) the
    /// element; an x25519 value costs one more ladder to prove it lies in the prime-order
    /// subgroup (``Curve25519/membership(of:)``).
    func reblind(_ elements: [BlindedElement], secret: SecretBytes, parallelism: Parallelism,
                 progress: ProgressHandler? = nil) throws -> [BlindedElement] {
        let report = progress.map { (step: "re-blinding the peer's items", handler: $0) }
        return try secret.withUnsafeBytes { n in
            switch suite {
            case .ristretto255SHA512:
                return try Curve.ristretto255.multiplyAll(elements, by: .one(n.baseAddress!), parallelism: parallelism, progress: report,
                                                          check: { i, point in
                    // The multiplication decodes the element but ignores its top bit.
                    guard point.load(fromByteOffset: 31, as: UInt8.self) & 0x80 == 0 else {
                        throw PSIError.invalidElementEncoding(index: i)
                    }
                }, failure: { failure(elements[$0], index: $0) })
            case .x25519ELL2SHA512:
                return try Curve.x25519.multiplyAll(elements, by: .one(n.baseAddress!), parallelism: parallelism, progress: report,
                                                    check: { i, point in
                    try checkX25519(elements[i], index: i)
                    switch Curve25519.membership(of: point) {
                    case .primeOrderSubgroup: break
                    case .lowOrder: throw PSIError.lowOrderElement(index: i)
                    case .outside: throw PSIError.outsidePrimeOrderSubgroup(index: i)
                    }
                }, failure: { failure(elements[$0], index: $0) })
            }
        }
    }

    /// Checks received values that are only compared, never multiplied, in parallel.
    ///
    /// x25519 values get the encoding checks only: the subgroup check costs a ladder, and
    /// ``reblind(_:secret:parallelism:progress:)`` makes it on every value that is multiplied.
    func check(_ elements: [BlindedElement], parallelism: Parallelism) throws {
        try forEachRange(count: elements.count, parallelism: parallelism) { range in
            for i in range {
                switch suite {
                case .ristretto255SHA512:
                    if elements[i] == .zero { throw PSIError.identityElement(index: i) }
                    try elements[i].withUnsafeBytes { try checkRistretto255Encoding($0, index: i) }
                case .x25519ELL2SHA512:
                    try checkX25519(elements[i], index: i)
                }
            }
        }
    }

    /// The cheap checks done as values arrive: the all-zero value (the identity, or X25519's
    /// output for a low-order point) is never a valid blinded value.
    func checkNotZero(_ element: BlindedElement, index: Int) throws {
        guard element != .zero else {
            throw suite == .ristretto255SHA512 ? PSIError.identityElement(index: index) : PSIError.zeroValue(index: index)
        }
    }

    /// X25519 is defined for every u, but the values this library sends are always canonical
    /// (below p = 2^255 − 19) and never zero; anything else did not come from an honest peer.
    /// The cheap checks; ``reblind(_:secret:parallelism:progress:)`` adds the subgroup check.
    private func checkX25519(_ element: BlindedElement, index: Int) throws {
        try checkNotZero(element, index: index)
        let canonical = element.withUnsafeBytes { b -> Bool in
            if b[31] < 0x7f { return true }
            if b[31] > 0x7f { return false }
            // b[31] == 0x7f: the value is ≥ p exactly when bytes 1…30 are 0xff and byte 0 ≥ 0xed.
            for j in 1...30 where b[j] != 0xff { return true }
            return b[0] < 0xed
        }
        guard canonical else { throw PSIError.invalidElementEncoding(index: index) }
    }

    private func failure(_ element: BlindedElement, index: Int) -> PSIError {
        switch suite {
        case .ristretto255SHA512:
            // A valid non-identity element times a non-zero scalar is never the identity in a
            // prime-order group, so the input itself was bad.
            return element == .zero ? .identityElement(index: index) : .invalidElementEncoding(index: index)
        case .x25519ELL2SHA512:
            return .lowOrderElement(index: index)
        }
    }
}
