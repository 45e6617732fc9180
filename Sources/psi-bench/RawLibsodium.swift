import CSodium
import Dispatch
import Foundation
import SodiumPSI

/// The lower bound the library is measured against: the same libsodium calls the protocol
/// needs, made directly in a tight loop over preallocated buffers, on the same threads.
enum RawLibsodium {
    /// Wall-clock and CPU seconds of one phase.
    struct Phase {
        var seconds = 0.0, cpuSeconds = 0.0
    }

    /// The phases, run one after the other on all threads.
    struct Timing {
        /// Hashing items to the group (x25519: including the Edwards-to-Montgomery conversion).
        var hash = Phase()
        /// Blinding own items and re-blinding the peer's.
        var multiply = Phase()
        /// x25519 only: one ladder per received value re-blinded, proving it lies in the
        /// prime-order subgroup (ristretto255's multiplication decodes and so checks for free).
        var subgroupCheck = Phase()
        /// Wall-clock seconds of all phases.
        var total: Double { hash.seconds + multiply.seconds + subgroupCheck.seconds }
        /// Per phase, wall-clock and CPU seconds (CPU time is the steadier on a shared machine).
        var fields: [String: [String: Double]] {
            ["hash": hash, "multiply": multiply, "subgroup_check": subgroupCheck].mapValues {
                ["seconds": $0.seconds, "cpu_seconds": $0.cpuSeconds]
            }
        }
    }

    /// The lower bound for `suite`: `hashes` items hashed, `ownMultiplications` blindings and
    /// `peerMultiplications` re-blindings of received values.
    static func lowerBound(suite: PSISuite, hashes: Int, ownMultiplications: Int, peerMultiplications: Int,
                           threads: Int) -> Timing {
        precondition(sodium_init() >= 0)
        var timing = Timing()
        let multiplications = ownMultiplications + peerMultiplications
        switch suite {
        case .ristretto255SHA512:
            timing.hash = phase(hashes, threads, ristretto255Hashes)
            timing.multiply = phase(multiplications, threads, ristretto255Multiplications)
        case .x25519ELL2SHA512:
            timing.hash = phase(hashes, threads, curve25519Hashes)
            timing.multiply = phase(multiplications, threads) { x25519Ladders($0, scalar: nil) }
            timing.subgroupCheck = phase(peerMultiplications, threads) { x25519Ladders($0, scalar: negationScalar) }
        }
        return timing
    }

    /// ristretto255's lower bound in seconds: `hashes` hash-to-group, `multiplications` products,
    /// `additions` element additions and `scalarHashes` hashes to a scalar (expand_message_xmd,
    /// then `crypto_core_ristretto255_scalar_reduce`: a DLEQ proof's coefficients and challenge).
    static func ristretto255(hashes: Int, multiplications: Int, additions: Int = 0, scalarHashes: Int = 0, threads: Int) -> Double {
        precondition(sodium_init() >= 0)
        return lowerBound(suite: .ristretto255SHA512, hashes: hashes, ownMultiplications: multiplications, peerMultiplications: 0,
                          threads: threads).total
            + phase(additions, threads, ristretto255Additions).seconds
            + phase(scalarHashes, threads, ristretto255ScalarHashes).seconds
    }

    /// 5ℓ − 1, the library's subgroup-check scalar (see `Curve25519.negationScalar`).
    static let negationScalar: [UInt8] = [
        0xa0, 0x23, 0xcd, 0xd0, 0x83, 0xef, 0x5b, 0xb8, 0x2f, 0x10, 0xd6, 0x2e, 0x59, 0xe1, 0x5a, 0x68,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
    ]

    /// Runs `body(count)` with `total` split evenly over `threads` threads.
    private static func phase(_ total: Int, _ threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Phase {
        let start = DispatchTime.now(), cpuStart = processCPUSeconds()
        DispatchQueue.concurrentPerform(iterations: threads) { body(share(total, $0, threads)) }
        return Phase(seconds: seconds(since: start), cpuSeconds: processCPUSeconds() - cpuStart)
    }

    /// `crypto_core_ed25519_from_hash` and `crypto_sign_ed25519_pk_to_curve25519` over
    /// `count` expand_message_xmd outputs.
    private static func curve25519Hashes(_ count: Int) {
        var edwards = [UInt8](repeating: 0, count: 32)
        var u = [UInt8](repeating: 0, count: 32)
        uniformBytes(count, dstBytes: 40) { digest in
            for j in 0..<16 { digest[j] = 0 }
            crypto_core_ed25519_from_hash(&edwards, digest)
            _ = crypto_sign_ed25519_pk_to_curve25519(&u, edwards)
        }
    }

    /// `count` messages the size of an item's (128 zero bytes, prefix, item, trailer, DST)
    /// through two SHA-512, as RFC 9380 expand_message_xmd does for up to 64 bytes, each
    /// result handed to `map`.
    private static func uniformBytes(_ count: Int, dstBytes: Int, _ map: (inout [UInt8]) -> Void) {
        var message = [UInt8](repeating: 0, count: 128 + 40 + 3 + dstBytes)
        var block = [UInt8](repeating: 0, count: 64 + 1 + dstBytes)
        var digest = [UInt8](repeating: 0, count: 64)
        for i in 0..<count {
            message[130] = UInt8(truncatingIfNeeded: i)
            message[131] = UInt8(truncatingIfNeeded: i >> 8)
            crypto_hash_sha512(&block, message, UInt64(message.count))
            crypto_hash_sha512(&digest, block, UInt64(block.count))
            map(&digest)
        }
    }

    /// `count` X25519 ladders with a random secret, or with `scalar`.
    private static func x25519Ladders(_ count: Int, scalar: [UInt8]?) {
        var secret = [UInt8](repeating: 0, count: 32)
        if let scalar { secret = scalar } else { randombytes_buf(&secret, 32) }
        var point = [UInt8](repeating: 0, count: 32)
        point[0] = 9
        var out = [UInt8](repeating: 0, count: 32)
        for _ in 0..<count {
            _ = crypto_scalarmult_curve25519(&out, secret, point)
            if scalar == nil { swap(&out, &point) }
        }
    }

    /// `crypto_core_ristretto255_from_hash` over `count` expand_message_xmd outputs.
    private static func ristretto255Hashes(_ count: Int) {
        var point = [UInt8](repeating: 0, count: 32)
        uniformBytes(count, dstBytes: 45) { crypto_core_ristretto255_from_hash(&point, $0) }
    }

    /// `count` ristretto255 scalar multiplications.
    private static func ristretto255Multiplications(_ count: Int) {
        var digest = [UInt8](repeating: 1, count: 64)
        var point = [UInt8](repeating: 0, count: 32)
        crypto_core_ristretto255_from_hash(&point, &digest)
        var scalar = [UInt8](repeating: 0, count: 32)
        crypto_core_ristretto255_scalar_random(&scalar)
        var out = [UInt8](repeating: 0, count: 32)
        for _ in 0..<count {
            _ = crypto_scalarmult_ristretto255(&out, scalar, point)
            swap(&out, &point)
        }
    }

    /// `count` ristretto255 additions (`crypto_core_ristretto255_add` decodes both points and
    /// encodes the sum).
    private static func ristretto255Additions(_ count: Int) {
        var digest = [UInt8](repeating: 2, count: 64)
        var base = [UInt8](repeating: 0, count: 32)
        crypto_core_ristretto255_from_hash(&base, &digest)
        var point = base
        var out = [UInt8](repeating: 0, count: 32)
        for _ in 0..<count {
            _ = crypto_core_ristretto255_add(&out, point, base)
            swap(&out, &point)
        }
    }

    /// `crypto_core_ristretto255_scalar_reduce` over `count` expand_message_xmd outputs.
    private static func ristretto255ScalarHashes(_ count: Int) {
        var scalar = [UInt8](repeating: 0, count: 32)
        uniformBytes(count, dstBytes: 40) { crypto_core_ristretto255_scalar_reduce(&scalar, $0) }
    }

    private static func share(_ total: Int, _ worker: Int, _ workers: Int) -> Int {
        total / workers + (worker < total % workers ? 1 : 0)
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

/// User and system CPU time of the whole process (all threads) so far, in seconds.
///
/// On a shared machine wall-clock time moves with other processes' load; CPU time much less,
/// so `cpu_ratio_to_raw` is the steadier figure of the library's own overhead.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The process's peak resident set size (VmHWM), in bytes; 0 where /proc is unavailable.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kB = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kB * 1024
    }
    return 0
}

/// The cost of signing a message file and of verifying it, measured on raw libsodium calls
/// (`crypto_sign_detached`, `crypto_sign_verify_detached` of the 52 bytes a message signs:
/// `SodiumPSI-V2-message` and a digest), in seconds per message. Each message adds exactly one
/// of each, whatever its size; the digest it signs is computed over bytes that are written
/// anyway.
func messageSignatureSeconds(repeats: Int = 2_000) -> (sign: Double, verify: Double) {
    var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
    var secretKey = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
    crypto_sign_keypair(&publicKey, &secretKey)
    defer { sodium_memzero(&secretKey, secretKey.count) }
    let message = Array("SodiumPSI-V2-message".utf8) + [UInt8](repeating: 0x5a, count: 32)
    var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
    var start = DispatchTime.now()
    for _ in 0..<repeats { crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey) }
    let sign = seconds(since: start) / Double(repeats)
    start = DispatchTime.now()
    var valid: Int32 = 0
    for _ in 0..<repeats { valid |= crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) }
    precondition(valid == 0, "the raw signature must verify")
    return (sign, seconds(since: start) / Double(repeats))
}
