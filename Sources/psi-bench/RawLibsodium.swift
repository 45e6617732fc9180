import CSodium
import Dispatch
import Foundation
import SodiumPSI

/// The lower bound the library is measured against: the same libsodium calls the protocol
/// needs, made directly in a tight loop over preallocated buffers, on the same threads.
enum RawLibsodium {
    /// The lower bound for `suite`.
    static func lowerBound(suite: PSISuite, hashes: Int, multiplications: Int, threads: Int) -> Double {
        switch suite {
        case .ristretto255SHA512: return ristretto255(hashes: hashes, multiplications: multiplications, threads: threads)
        case .x25519ELL2SHA512: return x25519(hashes: hashes, multiplications: multiplications, threads: threads)
        }
    }

    /// Runs `hashes` item-to-point maps (expand_message_xmd = two SHA-512, then
    /// `crypto_core_ed25519_from_hash` and `crypto_sign_ed25519_pk_to_curve25519`) and
    /// `multiplications` X25519 multiplications, split evenly over `threads` threads. Returns
    /// the wall-clock seconds.
    static func x25519(hashes: Int, multiplications: Int, threads: Int) -> Double {
        precondition(sodium_init() >= 0)
        let start = DispatchTime.now()
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var message = [UInt8](repeating: 0, count: 128 + 40 + 3 + 40)
            var digest = [UInt8](repeating: 0, count: 64)
            var edwards = [UInt8](repeating: 0, count: 32)
            var point = [UInt8](repeating: 0, count: 32)
            var secret = [UInt8](repeating: 0, count: 32)
            randombytes_buf(&secret, 32)
            for i in 0..<share(hashes, worker, threads) {
                message[130] = UInt8(truncatingIfNeeded: i)
                message[131] = UInt8(truncatingIfNeeded: i >> 8)
                crypto_hash_sha512(&digest, message, UInt64(message.count))
                crypto_hash_sha512(&digest, digest, 64 + 1 + 40)
                _ = crypto_core_ed25519_from_hash(&edwards, digest)
                _ = crypto_sign_ed25519_pk_to_curve25519(&point, edwards)
            }
            point[0] = 9  // a valid base point whatever the hashes left behind
            var out = [UInt8](repeating: 0, count: 32)
            for _ in 0..<share(multiplications, worker, threads) {
                _ = crypto_scalarmult_curve25519(&out, secret, point)
                swap(&out, &point)
            }
        }
        return seconds(since: start)
    }

    /// Runs `hashes` hash-to-group computations (RFC 9380 expand_message_xmd = two SHA-512,
    /// then `crypto_core_ristretto255_from_hash`), `multiplications` ristretto255 scalar
    /// multiplications, `additions` element additions and `scalarHashes` hashes to a scalar
    /// (two SHA-512, then `crypto_core_ristretto255_scalar_reduce`: a DLEQ proof's coefficients),
    /// split evenly over `threads` threads. Returns the wall-clock seconds.
    static func ristretto255(hashes: Int, multiplications: Int, additions: Int = 0, scalarHashes: Int = 0, threads: Int) -> Double {
        precondition(sodium_init() >= 0)
        let start = DispatchTime.now()
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            let myHashes = share(hashes, worker, threads)
            let myMults = share(multiplications, worker, threads)
            let myAdditions = share(additions, worker, threads)
            let myScalarHashes = share(scalarHashes, worker, threads)
            var message = [UInt8](repeating: 0, count: 128 + 40 + 3 + 45)
            var digest = [UInt8](repeating: 0, count: 64)
            var point = [UInt8](repeating: 0, count: 32)
            var scalar = [UInt8](repeating: 0, count: 32)
            crypto_core_ristretto255_scalar_random(&scalar)
            // expand_message_xmd to 64 bytes: two SHA-512.
            func expand(_ i: Int) {
                message[130] = UInt8(truncatingIfNeeded: i)
                message[131] = UInt8(truncatingIfNeeded: i >> 8)
                crypto_hash_sha512(&digest, message, UInt64(message.count))
                crypto_hash_sha512(&digest, digest, 64 + 1 + 45)
            }
            for i in 0..<myHashes {
                expand(i)
                crypto_core_ristretto255_from_hash(&point, digest)
            }
            if myHashes == 0 { crypto_core_ristretto255_from_hash(&point, digest) }
            var out = [UInt8](repeating: 0, count: 32)
            for _ in 0..<myMults {
                _ = crypto_scalarmult_ristretto255(&out, scalar, point)
                swap(&out, &point)
            }
            let base = point
            for _ in 0..<myAdditions {
                _ = crypto_core_ristretto255_add(&out, point, base)
                swap(&out, &point)
            }
            for i in 0..<myScalarHashes {
                expand(i)
                crypto_core_ristretto255_scalar_reduce(&scalar, digest)
            }
        }
        return seconds(since: start)
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
