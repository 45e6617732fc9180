internal import CSodium

/// libsodium must be initialised once before its random generator is used from several threads.
/// `sodium_init()` is idempotent and thread-safe; a Swift global is initialised exactly once.
private let sodiumStatus: Int32 = sodium_init()

/// Makes sure `sodium_init()` has run. Called by every entry point that draws randomness.
@inline(__always)
func ensureSodiumInitialized() {
    // sodium_init returns 0 on first success, 1 if already initialised, -1 on failure.
    precondition(sodiumStatus >= 0, "libsodium failed to initialise (sodium_init() returned -1)")
}

/// Fills `buffer` with bytes from libsodium's CSPRNG.
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
    ensureSodiumInitialized()
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    randombytes_buf(base, buffer.count)
}

/// Shuffles `array` in place (Fisher–Yates) with libsodium's CSPRNG: every permutation is
/// equally likely.
///
/// Random words are drawn in blocks of up to 64 KiB (`randombytes_buf`) rather than one
/// `randombytes_uniform` call per element, which costs a system call each with libsodium's
/// default generator; each index is drawn without bias by rejection, as `randombytes_uniform`
/// does. The random bytes are wiped afterwards, since they determine the private permutation.
func shuffleInPlace<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    precondition(array.count <= Int(UInt32.max), "too many elements to shuffle")
    var words = RandomWords()
    for i in stride(from: array.count - 1, to: 0, by: -1) {
        let j = words.uniform(below: UInt32(i + 1))
        if i != j { array.swapAt(i, j) }
    }
}

/// Shuffles `array` in place like ``shuffleInPlace(_:)`` and returns the permutation applied:
/// `result[i]` is the index in the original order of the element now at position `i`.
@discardableResult
func cryptographicShuffle<T>(_ array: inout [T]) -> [Int] {
    var permutation = Array(0..<array.count)
    shuffleInPlace(&permutation)
    array = permutation.map { array[$0] }
    return permutation
}

/// Random 32-bit words from libsodium's CSPRNG, fetched in blocks and wiped when done.
///
/// The first block is small (64 words) and each later one twice the last, up to 64 KiB: a short
/// shuffle then costs one small `randombytes_buf` instead of 64 KiB of random bytes and their
/// wiping, while a long one still needs only a few system calls.
struct RandomWords: ~Copyable {
    private static let maximumBlockWords = 16_384
    private static let firstBlockWords = 64
    private let block = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: maximumBlockWords)
    /// The words fetched into `block` by the last refill (the largest so far: blocks only grow).
    private var blockWords = 0
    private var next = 0

    init() { ensureSodiumInitialized() }

    deinit {
        sodium_memzero(UnsafeMutableRawPointer(block.baseAddress!), blockWords * 4)
        block.deallocate()
    }

    /// A uniformly random integer in `0..<upperBound` (upperBound ≥ 1).
    mutating func uniform(below upperBound: UInt32) -> Int {
        // Values below `threshold` would make some results more likely than others.
        let threshold = (0 &- upperBound) % upperBound
        while true {
            let word = nextWord()
            if word >= threshold { return Int(word % upperBound) }
        }
    }

    private mutating func nextWord() -> UInt32 {
        if next == blockWords {
            blockWords = min(max(2 * blockWords, Self.firstBlockWords), Self.maximumBlockWords)
            randombytes_buf(UnsafeMutableRawPointer(block.baseAddress!), blockWords * 4)
            next = 0
        }
        defer { next += 1 }
        return block[next]
    }
}

/// A fixed-size heap buffer for secret bytes, wiped with `sodium_memzero` when released.
///
/// `@unchecked Sendable` is safe: the allocation is written only while the object is being
/// initialised (inside `init`) and is read-only afterwards, until `deinit` wipes it.
final class SecretBytes: @unchecked Sendable {
    let count: Int
    private let storage: UnsafeMutableRawBufferPointer

    /// Allocates `count` bytes and lets `initializer` write them.
    init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try initializer(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        } catch {
            sodium_memzero(buffer.baseAddress!, buffer.count)
            buffer.deallocate()
            throw error
        }
        self.count = count
        self.storage = buffer
    }

    deinit {
        sodium_memzero(storage.baseAddress!, storage.count)
        storage.deallocate()
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }
}

/// Constant-time comparison of two equally long byte regions.
func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    if a.count == 0 { return true }
    return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
}
