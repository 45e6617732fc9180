internal import CSodium

/// The two variable-base scalar multiplications the protocols use, and the one batched kernel
/// that runs them over many elements: mutual PSI's re-blinding, the OPRF's evaluation and
/// unblinding, and the hub's setup all go through ``multiplyAll(_:by:into:parallelism:progress:check:failure:)``;
/// blinding, which hashes each item just before multiplying it, calls ``multiply(_:scalar:point:)``.
enum Curve: Sendable {
    /// ristretto255 (`crypto_scalarmult_ristretto255`). libsodium decodes the point inside the
    /// multiplication, so it also refuses a non-canonical encoding, and it refuses an identity
    /// product. It ignores the encoding's top bit: callers that need it checked do so first.
    case ristretto255
    /// X25519's ladder on Curve25519 u-coordinates (`crypto_scalarmult_curve25519`); it refuses an
    /// all-zero result, which only a small-order input gives.
    case x25519

    /// `q = n · p` (32 bytes each); false when libsodium refuses.
    @inline(__always)
    func multiply(_ q: UnsafeMutableRawPointer, scalar n: UnsafeRawPointer, point p: UnsafeRawPointer) -> Bool {
        let q = q.assumingMemoryBound(to: UInt8.self)
        let n = n.assumingMemoryBound(to: UInt8.self)
        let p = p.assumingMemoryBound(to: UInt8.self)
        switch self {
        case .ristretto255: return crypto_scalarmult_ristretto255(q, n, p) == 0
        case .x25519: return crypto_scalarmult_curve25519(q, n, p) == 0
        }
    }

    /// The scalars of a batch: one for all elements, or one per element (32 bytes each, in
    /// element order, e.g. the OPRF's inverted blinds).
    enum Scalars {
        case one(UnsafeRawPointer)
        case each(UnsafeRawPointer)

        @inline(__always)
        func scalar(for index: Int) -> UnsafeRawPointer {
            switch self {
            case .one(let scalar): return scalar
            case .each(let scalars): return scalars + index * 32
            }
        }
    }

    /// `out[i] = scalarᵢ · points[i]` for every 32-byte element of `points`, in parallel.
    ///
    /// - Parameters:
    ///   - check: runs on each element before it is multiplied, and throws to refuse it.
    ///   - failure: the error for an element that libsodium refuses, by its position.
    /// - Throws: the first error by element position.
    func multiplyAll(_ points: UnsafeRawBufferPointer, by scalars: Scalars, into out: UnsafeMutableRawBufferPointer,
                     parallelism: Parallelism, progress: (step: String, handler: ProgressHandler)? = nil,
                     check: ((Int, UnsafeRawPointer) throws -> Void)? = nil,
                     failure: (Int) -> any Error) throws {
        precondition(points.count % 32 == 0 && out.count == points.count)
        let count = points.count / 32
        guard count > 0 else { return }
        let input = points.baseAddress!
        let output = out.baseAddress!
        try forEachRange(count: count, parallelism: parallelism, progress: progress) { range in
            for i in range {
                let point = input + i * 32
                try check?(i, point)
                guard multiply(output + i * 32, scalar: scalars.scalar(for: i), point: point) else { throw failure(i) }
            }
        }
    }

    /// ``multiplyAll(_:by:into:parallelism:progress:check:failure:)`` over an array of 32-byte
    /// values (``GroupElement``, ``BlindedElement``), into a new array of the same type.
    func multiplyAll<Element: BitwiseCopyable>(_ elements: [Element], by scalars: Scalars, parallelism: Parallelism,
                                               progress: (step: String, handler: ProgressHandler)? = nil,
                                               check: ((Int, UnsafeRawPointer) throws -> Void)? = nil,
                                               failure: (Int) -> any Error) throws -> [Element] {
        precondition(MemoryLayout<Element>.size == 32 && MemoryLayout<Element>.stride == 32)
        return try [Element](filling: elements.count) { out in
            try elements.withUnsafeBytes { points in
                try multiplyAll(points, by: scalars, into: out, parallelism: parallelism, progress: progress,
                                check: check, failure: failure)
            }
        }
    }
}
