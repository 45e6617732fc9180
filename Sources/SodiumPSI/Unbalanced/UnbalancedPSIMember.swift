public import Foundation
internal import CSodium

/// What a member learned from one query.
public enum UnbalancedPSIResult: Sendable, Equatable {
    /// Intersection mode: the member's items that are in the hub's list, with their positions
    /// in ``UnbalancedPSIMember/items``, in increasing order.
    case intersection(indices: [Int], items: [Identifier])
    /// Cardinality-only mode: how many of the member's items are in the hub's list.
    case cardinality(count: Int)

    /// The number of matching items.
    public var count: Int {
        switch self {
        case .intersection(let indices, _): return indices.count
        case .cardinality(let count): return count
        }
    }
}

/// A member of an unbalanced PSI: queries a hub's published setup with its own, smaller list.
///
/// ```swift
/// let setup = try UnbalancedSetup.read(from: setupURL, purpose: purpose)
/// let member = try UnbalancedPSIMember(items: mine, purpose: purpose, setup: setup)
/// send(member.request)                       // the hub answers with `respond(to:)`
/// let result = try member.finish(response: response, lookup: UnbalancedSetupLookup(setup: setup))
/// ```
///
/// Intersection mode blinds each item with its own random scalar (RFC 9497 Blind) and
/// finalises each answer (RFC 9497 Finalize, all blinds inverted at once). Cardinality-only
/// mode blinds the whole request with one random scalar `r`: the hub returns its answers
/// shuffled, and the member multiplies each by `r⁻¹` and counts the values found in the setup.
///
/// The blinds live in memory wiped on release, and in the state file (mode 0600) only.
public struct UnbalancedPSIMember: Sendable {
    /// The member's distinct items, in input order (repeats collapsed).
    public let items: [Identifier]
    /// The purpose label.
    public let purpose: PurposeLabel
    /// The request to send to the hub.
    public let request: UnbalancedRequest
    /// Intersection mode: `count × 32` bytes of blinds; cardinality-only: the one blind `r`.
    let secret: SecretBytes
    let parallelism: Parallelism

    /// The query's context (session, key, purpose, mode).
    public var context: UnbalancedQueryContext { request.context }

    /// Blinds the items for a query against a setup under `keyID` in `answerMode`.
    ///
    /// - Parameters:
    ///   - items: the member's list; repeats are collapsed.
    ///   - purpose: the purpose label of the hub's list.
    ///   - keyID: the key of the setup (the request carries it).
    ///   - answerMode: the answer mode of the setup.
    ///   - parallelism: threads.
    /// - Throws: ``PSIError/invalidInput`` in the negligible case an item hashes to the identity.
    public init(items: [Identifier], purpose: PurposeLabel, keyID: HubKeyID, answerMode: UnbalancedAnswerMode,
                parallelism: Parallelism = .allCores) throws {
        let items = distinctItems(items).0
        let inputs = UnbalancedPRF.Inputs(items, purpose: purpose)
        let context = UnbalancedQueryContext(sessionID: .random(), keyID: keyID, purposeDigest: purpose.digest, answerMode: answerMode)
        let elements: [GroupElement]
        switch answerMode {
        case .intersection:
            let batch = try OPRF.blind(inputs.arrays, parallelism: parallelism)
            elements = batch.blindedElements
            secret = batch.blinds
        case .cardinalityOnly:
            let r = Scalar.random()
            var blinded = [GroupElement](repeating: .zero, count: items.count)
            try blinded.withUnsafeMutableBufferPointer { out in
                try forEachRange(count: items.count, parallelism: parallelism) { range in
                    for i in range { out[i] = try inputs.withInput(i) { try OPRF.inputElement($0, mode: .base) }.multiplied(by: r) }
                }
            }
            elements = blinded
            secret = r.secret
        }
        self.items = items
        self.purpose = purpose
        self.parallelism = parallelism
        self.request = UnbalancedRequest(context: context, blindedElements: elements, origin: "request")
    }

    /// Blinds the items for a query against `setup` (its key and answer mode).
    ///
    /// - Throws: ``MessageFileError/purposeMismatch(path:found:expected:)`` when the setup is
    ///   for another purpose, and the errors of ``init(items:purpose:keyID:answerMode:parallelism:)``.
    public init(items: [Identifier], purpose: PurposeLabel, setup: UnbalancedSetup, parallelism: Parallelism = .allCores) throws {
        guard setup.purposeDigest == purpose.digest else {
            throw MessageFileError.purposeMismatch(path: setup.origin, found: setup.purposeDigest.hexString, expected: purpose.digest.hexString)
        }
        try self.init(items: items, purpose: purpose, keyID: setup.keyID, answerMode: setup.answerMode, parallelism: parallelism)
    }

    init(restoring items: [Identifier], purpose: PurposeLabel, request: UnbalancedRequest, secret: SecretBytes, parallelism: Parallelism) {
        self.items = items
        self.purpose = purpose
        self.request = request
        self.secret = secret
        self.parallelism = parallelism
    }

    /// Finalises the hub's response and looks the values up in the setup.
    ///
    /// - Parameters:
    ///   - response: the hub's answer to ``request``.
    ///   - lookup: the setup the request was made from, with its deltas.
    /// - Returns: the member's matches (intersection mode) or their number (cardinality-only).
    /// - Throws: ``UnbalancedPSIError/responseUnderOtherKey(path:responseKeyID:setupKeyID:)``,
    ///   ``UnbalancedPSIError/setupUnderOtherKey(path:setupKeyID:requestKeyID:)`` (a stale setup),
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``MessageFileError/sessionMismatch(path:found:expected:)``,
    ///   ``MessageFileError/countMismatch(path:found:expected:)``,
    ///   ``MessageFileError/purposeMismatch(path:found:expected:)`` and
    ///   ``UnbalancedPSIError/invalidElement(path:index:reason:)``.
    ///
    /// - Warning: base mode has no proof that the hub used the key of the setup; a hub that
    ///   answers with another key makes the member find nothing (see the threat model).
    public func finish(response: UnbalancedResponse, lookup: UnbalancedSetupLookup) throws -> UnbalancedPSIResult {
        let context = request.context
        let path = response.origin
        guard response.context.keyID == context.keyID else {
            throw UnbalancedPSIError.responseUnderOtherKey(path: path, responseKeyID: response.context.keyID.description,
                                                           setupKeyID: context.keyID.description)
        }
        guard lookup.keyID == context.keyID else {
            throw UnbalancedPSIError.setupUnderOtherKey(path: lookup.origin, setupKeyID: lookup.keyID.description,
                                                        requestKeyID: context.keyID.description)
        }
        guard response.context.sessionID == context.sessionID else {
            throw MessageFileError.sessionMismatch(path: path, found: response.context.sessionID.description, expected: context.sessionID.description)
        }
        for (found, origin) in [(response.context.purposeDigest, path), (lookup.purposeDigest, lookup.origin)] where found != context.purposeDigest {
            throw MessageFileError.purposeMismatch(path: origin, found: found.hexString, expected: context.purposeDigest.hexString)
        }
        for (found, origin) in [(response.context.answerMode, path), (lookup.answerMode, lookup.origin)] where found != context.answerMode {
            throw UnbalancedPSIError.answerModeMismatch(path: origin, found: found.description, expected: context.answerMode.description)
        }
        let evaluated = response.evaluatedElements
        guard evaluated.count == request.blindedElements.count else {
            throw MessageFileError.countMismatch(path: path, found: evaluated.count, expected: request.blindedElements.count)
        }
        try reportingElementErrors(path) { try UnbalancedPRF.checkReceived(evaluated) }
        switch context.answerMode {
        case .intersection:
            let inputs = UnbalancedPRF.Inputs(items, purpose: purpose).arrays
            let batch = OPRF.BlindedBatch(blindedElements: request.blindedElements, mode: .base, blinds: secret)
            let outputs: [[UInt8]]
            do {
                outputs = try OPRF.finalize(inputs, batch: batch, evaluatedElements: evaluated, parallelism: parallelism)
            } catch PSIError.scalarMultiplicationFailed {
                throw UnbalancedPSIError.invalidElement(path: path, index: -1, reason: "an evaluated element is not a valid ristretto255 encoding")
            }
            let indices = outputs.indices.filter { i in outputs[i].withUnsafeBytes { lookup.contains($0) } }
            return .intersection(indices: indices, items: indices.map { items[$0] })
        case .cardinalityOnly:
            let inverse = try secret.withUnsafeBytes { try Scalar(rawRepresentation: $0) }.inverted()
            let unblinded = try reportingElementErrors(path) { try multiply(evaluated, by: inverse, parallelism: parallelism) }
            var count = 0
            withUnsafeTemporaryAllocation(byteCount: UnbalancedPRF.outputByteCount, alignment: 16) { value in
                for element in unblinded {
                    UnbalancedPRF.cardinalityTag(element, into: value.baseAddress!)
                    if lookup.contains(UnsafeRawBufferPointer(value)) { count += 1 }
                }
            }
            return .cardinality(count: count)
        }
    }

    /// Finalises against a setup and its deltas (builds the lookup; build an
    /// ``UnbalancedSetupLookup`` once instead when querying the same setup often).
    public func finish(response: UnbalancedResponse, setup: UnbalancedSetup, deltas: [UnbalancedSetup] = []) throws -> UnbalancedPSIResult {
        try finish(response: response, lookup: UnbalancedSetupLookup(setup: setup, deltas: deltas))
    }
}

// MARK: - State file

/// A member's state between `request` and `finish`, for exchanges over files.
///
/// Layout: the magic `SPSIUMEM`, a version byte (1), the answer-mode byte, the secret's length
/// (4 bytes, big-endian), the secret (the blinds, or the one blind `r`), then a JSON document
/// with the public rest. Written with mode 0600 and refused when others can read it.
enum MemberStateFile {
    static let magic = Array("SPSIUMEM".utf8)
    static let version: UInt8 = 1

    struct Payload: Codable {
        var purpose: PurposeLabel
        var answerMode: UnbalancedAnswerMode
        var keyID: HubKeyID
        var sessionID: SessionID
        var items: [Identifier]
        var records: [ListRecord]?
        var blindedElements: Data
    }

    static func write(_ member: UnbalancedPSIMember, records: [ListRecord]?, to url: URL) throws {
        let context = member.context
        var blinded = Data(capacity: member.request.blindedElements.count * GroupElement.byteCount)
        for element in member.request.blindedElements { element.withUnsafeBytes { blinded.append(contentsOf: $0) } }
        let payload = Payload(purpose: member.purpose, answerMode: context.answerMode, keyID: context.keyID,
                              sessionID: context.sessionID, items: member.items, records: records, blindedElements: blinded)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let description = try encoder.encode(payload)
        let length = member.secret.count
        // Reserved up front so that no reallocation leaves an unwiped copy of the blinds behind.
        var bytes = [UInt8]()
        bytes.reserveCapacity(14 + length + description.count)
        defer { sodium_memzero(&bytes, bytes.count) }
        bytes += magic + [version, context.answerMode.rawValue,
                          UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        member.secret.withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes += description
        try SecretFile.write(bytes, to: url)
    }

    static func read(from url: URL, parallelism: Parallelism) throws -> (UnbalancedPSIMember, [ListRecord]) {
        var bytes = try SecretFile.read(from: url)
        defer { sodium_memzero(&bytes, bytes.count) }
        func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: url.path, reason: reason) }
        guard bytes.count >= 14, Array(bytes[0..<8]) == magic else {
            throw invalid("it does not start with the member state magic SPSIUMEM")
        }
        guard bytes[8] == version else { throw invalid("format version \(bytes[8]); expected \(version)") }
        let length = bytes[10..<14].reduce(0) { $0 << 8 | Int($1) }
        guard bytes.count >= 14 + length else { throw invalid("it is shorter than its secret") }
        let payload: Payload
        do { payload = try JSONDecoder().decode(Payload.self, from: Data(bytes[(14 + length)...])) } catch {
            throw invalid("the state description cannot be decoded")
        }
        guard payload.answerMode.rawValue == bytes[9] else { throw invalid("the answer modes of the secret and the description differ") }
        let n = payload.items.count
        let expectedLength = payload.answerMode == .intersection ? n * Scalar.byteCount : Scalar.byteCount
        guard length == expectedLength, payload.blindedElements.count == n * GroupElement.byteCount else {
            throw invalid("the secret or the blinded elements do not match \(n) items")
        }
        let secret = try SecretBytes(count: length) { out in
            bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[14..<(14 + length)])) }
            // Every blind must be a canonical non-zero scalar (a zero blind would break inversion).
            for offset in stride(from: 0, to: length, by: Scalar.byteCount) {
                guard (try? Scalar(rawRepresentation: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[offset..<(offset + 32)]))) != nil else {
                    throw invalid("a stored blind is not a valid scalar")
                }
            }
        }
        let elements = UnbalancedPRF.elements(fromBody: [UInt8](payload.blindedElements))
        let context = UnbalancedQueryContext(sessionID: payload.sessionID, keyID: payload.keyID, purposeDigest: payload.purpose.digest,
                                             answerMode: payload.answerMode)
        let member = UnbalancedPSIMember(restoring: payload.items, purpose: payload.purpose,
                                         request: UnbalancedRequest(context: context, blindedElements: elements, origin: "request"),
                                         secret: secret, parallelism: parallelism)
        let records = payload.records ?? payload.items.map { ListRecord(identifier: $0, original: $0.canonical, lineNumber: 0) }
        guard records.map(\.identifier) == payload.items else { throw invalid("saved records do not match the saved items") }
        return (member, records)
    }
}

extension UnbalancedPSIMember {
    /// Saves the member (including its blinds) to a state file with mode 0600, for
    /// ``finish(response:lookup:)`` in a later process.
    public func save(to url: URL) throws {
        try MemberStateFile.write(self, records: nil, to: url)
    }

    /// Restores a member saved with ``save(to:)``.
    ///
    /// - Throws: ``StateFileError`` when the file is readable by others, is not a member's
    ///   state, or is damaged.
    public init(restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        self = try MemberStateFile.read(from: url, parallelism: parallelism).0
    }
}
