extension Array {
    /// An array of `count` elements that `fill` writes in place (all of them), without first
    /// initialising them.
    ///
    /// With a count of 0 this returns `[]` without calling `fill`: the standard library's
    /// `init(unsafeUninitializedCapacity:initializingWith:)` then writes the count into the
    /// shared empty-array storage, which ThreadSanitizer reports as a race between threads
    /// that do so at once.
    init(filling count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        guard count > 0 else {
            self = []
            return
        }
        try self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
            try fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
