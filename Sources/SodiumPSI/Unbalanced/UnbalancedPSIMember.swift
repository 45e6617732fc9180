public import Foundation

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

/// What a member learned from a query of a labeled setup: the matches, and the label of each.
public struct UnbalancedPSILabeledResult: Sendable, Equatable {
    /// The matches (or their number).
    public let result: UnbalancedPSIResult
    /// The label of each match, in the order of its indices (the newest, when a delta gave an
    /// item a new label); empty when the setup carries no labels.
    public let labels: [SetupLabel]
}

/// A member of an unbalanced PSI: queries a hub's published setup with its own, smaller list.
///
/// ```swift
/// let setup = try UnbalancedSetup.read(from: setupURL, hub: hubKey, reader: me.publicKey, purpose: purpose)
/// let member = try UnbalancedPSIMember(items: mine, purpose: purpose, identifierType: type, setup: setup, identity: me)
/// try member.request.write(to: requestURL, signedBy: me)   // the hub answers with `respond(to:)`
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
    /// The member's identity (it signs the request; the state file keeps only its public key).
    public let identity: PartyIdentity
    /// Intersection mode: `count × 32` bytes of blinds; cardinality-only: the one blind `r`.
    let secret: SecretBytes
    let parallelism: Parallelism

    /// The query's context (session, key, purpose, mode).
    public var context: UnbalancedQueryContext { request.context }

    /// Blinds the items for a query against the setup with digest `setupDigest`, under `keyID`
    /// in `answerMode`.
    ///
    /// - Parameters:
    ///   - items: the member's list; repeats are collapsed.
    ///   - purpose: the purpose label of the hub's list.
    ///   - identifierType: the type of the items (the hub's list must be of the same).
    ///   - setupDigest: the setup's ``UnbalancedSetup/digest`` (the request carries it, and
    ///     ``finish(response:lookup:)`` accepts only that setup).
    ///   - keyID: the key of the setup (the request carries it).
    ///   - answerMode: the answer mode of the setup.
    ///   - identity: the member's identity.
    ///   - hub: the hub's identity key (the request's recipient, the response's only accepted signer).
    ///   - parallelism: threads.
    /// - Throws: ``PSIError/itemTypeMismatch(index:found:expected:)`` for an item of another
    ///   type, ``PSIError/invalidInput`` in the negligible case an item hashes to the identity.
    public init(items: [Identifier], purpose: PurposeLabel, identifierType: IdentifierType, setupDigest: [UInt8], keyID: HubKeyID,
                answerMode: UnbalancedAnswerMode, identity: PartyIdentity, hub: PartyPublicKey,
                parallelism: Parallelism = .allCores) throws {
        try identifierType.check(items)
        let items = distinctItems(items).0
        let inputs = UnbalancedPRF.Inputs(items, purpose: purpose, identifierType: identifierType)
        let context = UnbalancedQueryContext(sessionID: .random(), setupDigest: setupDigest, keyID: keyID, purposeDigest: purpose.digest,
                                             answerMode: answerMode, member: identity.publicKey, hub: hub, identifierType: identifierType)
        let elements: [GroupElement]
        switch answerMode {
        case .intersection:
            let batch = try OPRF.blind(inputs.arrays, mode: .verifiable, parallelism: parallelism)
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
        self.identity = identity
        self.parallelism = parallelism
        self.request = UnbalancedRequest(context: context, blindedElements: elements, origin: "request")
    }

    /// Blinds the items for a query against `setup` (its digest, key, answer mode and hub).
    ///
    /// - Throws: ``MessageFileError/purposeMismatch(path:found:expected:)`` when the setup is
    ///   for another purpose, ``MessageFileError/identifierTypeMismatch(path:found:expected:)``
    ///   when the hub's list is of another identifier type, and the errors of
    ///   ``init(items:purpose:identifierType:setupDigest:keyID:answerMode:identity:hub:parallelism:)``.
    public init(items: [Identifier], purpose: PurposeLabel, identifierType: IdentifierType, setup: UnbalancedSetup,
                identity: PartyIdentity, parallelism: Parallelism = .allCores) throws {
        guard setup.purposeDigest == purpose.digest else {
            throw MessageFileError.purposeMismatch(path: setup.origin, found: setup.purposeDigest.hexString, expected: purpose.digest.hexString)
        }
        guard setup.identifierType == identifierType else {
            throw MessageFileError.identifierTypeMismatch(path: setup.origin, found: setup.identifierType.description,
                                                          expected: identifierType.description)
        }
        try self.init(items: items, purpose: purpose, identifierType: identifierType, setupDigest: setup.digest, keyID: setup.keyID,
                      answerMode: setup.answerMode, identity: identity, hub: setup.hub, parallelism: parallelism)
    }

    init(restoring items: [Identifier], purpose: PurposeLabel, request: UnbalancedRequest, identity: PartyIdentity,
         secret: SecretBytes, parallelism: Parallelism) {
        self.items = items
        self.purpose = purpose
        self.request = request
        self.identity = identity
        self.secret = secret
        self.parallelism = parallelism
    }

    /// Verifies and finalises the hub's response, and looks the values up in the setup.
    ///
    /// In intersection mode the response's DLEQ proofs are verified against the setup's public
    /// key before anything is unblinded: a response evaluated under another key, or altered, is
    /// refused and no result is produced.
    ///
    /// - Parameters:
    ///   - response: the hub's answer to ``request``.
    ///   - lookup: the setup the request was made against, with its deltas.
    /// - Returns: the member's matches (intersection mode) or their number (cardinality-only).
    /// - Throws: ``PSIError/untrustedSender(sender:expected:)`` for a response or setup from
    ///   another hub, ``PSIError/wrongRecipient(found:expected:)`` for a response to another
    ///   member, ``PSIError/identifierTypeMismatch(found:expected:)``,
    /// - Throws: ``UnbalancedPSIError/invalidResponseProof(path:proof:reason:)``,
    ///   ``UnbalancedPSIError/responseUnderOtherKey(path:responseKeyID:setupKeyID:)``,
    ///   ``UnbalancedPSIError/setupUnderOtherKey(path:setupKeyID:requestKeyID:)`` (a stale setup),
    ///   ``UnbalancedPSIError/setupMismatch(path:setupDigest:requestSetupDigest:)`` (another
    ///   setup under the same key), ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``MessageFileError/sessionMismatch(path:found:expected:)``,
    ///   ``MessageFileError/countMismatch(path:found:expected:)``,
    ///   ``MessageFileError/purposeMismatch(path:found:expected:)`` and
    ///   ``UnbalancedPSIError/invalidElement(path:index:reason:)``.
    ///
    /// - Warning: cardinality-only answers are shuffled and carry no proof: a hub that answers
    ///   with another key makes the member count nothing (see the threat model).
    public func finish(response: UnbalancedResponse, lookup: UnbalancedSetupLookup) throws -> UnbalancedPSIResult {
        try finishWithLabels(response: response, lookup: lookup).result
    }

    /// Verifies and finalises the hub's response like ``finish(response:lookup:)``, and
    /// decrypts the label of each match of a labeled setup.
    ///
    /// Only the labels of the member's matches are decrypted (each under the key derived from
    /// its item's OPRF output); every other label stays pseudorandom to the member.
    ///
    /// - Throws: the errors of ``finish(response:lookup:)``, and
    ///   ``UnbalancedPSIError/labelAuthenticationFailed(path:entry:)`` when a matching entry's
    ///   label does not authenticate (no result is produced).
    public func finishWithLabels(response: UnbalancedResponse, lookup: UnbalancedSetupLookup) throws -> UnbalancedPSILabeledResult {
        let context = request.context
        let path = response.origin
        for found in [response.context.hub, lookup.hub] where found != context.hub {
            throw PSIError.untrustedSender(sender: found.fingerprint, expected: context.hub.fingerprint)
        }
        guard response.context.member == context.member else {
            throw PSIError.wrongRecipient(found: response.context.member.fingerprint, expected: context.member.fingerprint)
        }
        for found in [response.context.identifierType, lookup.identifierType] where found != context.identifierType {
            throw PSIError.identifierTypeMismatch(found: found.description, expected: context.identifierType.description)
        }
        guard response.context.keyID == context.keyID else {
            throw UnbalancedPSIError.responseUnderOtherKey(path: path, responseKeyID: response.context.keyID.description,
                                                           setupKeyID: context.keyID.description)
        }
        guard lookup.keyID == context.keyID else {
            throw UnbalancedPSIError.setupUnderOtherKey(path: lookup.origin, setupKeyID: lookup.keyID.description,
                                                        requestKeyID: context.keyID.description)
        }
        guard lookup.setupDigest == context.setupDigest else {
            throw UnbalancedPSIError.setupMismatch(path: lookup.origin, setupDigest: lookup.setupDigest.hexString,
                                                   requestSetupDigest: context.setupDigest.hexString)
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
            let inputs = UnbalancedPRF.Inputs(items, purpose: purpose, identifierType: context.identifierType).arrays
            let batch = OPRF.BlindedBatch(blindedElements: request.blindedElements, mode: .verifiable, blinds: secret)
            let evaluation = OPRF.VerifiableEvaluation(evaluatedElements: evaluated, proofs: response.proofs)
            let outputs: [[UInt8]]
            do {
                outputs = try reportingElementErrors(path) {
                    try OPRF.finalize(inputs, batch: batch, evaluation: evaluation, publicKey: lookup.publicKey, parallelism: parallelism)
                }
            } catch PSIError.invalidProof(let index) {
                throw UnbalancedPSIError.invalidResponseProof(path: path, proof: index, reason: Self.unverifiedProofReason)
            } catch PSIError.proofCountMismatch(let count, let expected) {
                throw UnbalancedPSIError.invalidResponseProof(path: path, proof: min(count, expected),
                                                              reason: "is missing or extra: the response carries \(count) proofs; expected \(expected)")
            }
            var indices = [Int](), labels = [SetupLabel]()
            for (i, output) in outputs.enumerated() {
                if lookup.hasLabels {
                    if let label = try output.withUnsafeBytes({ try lookup.label(for: $0) }) {
                        indices.append(i)
                        labels.append(label)
                    }
                } else if try output.withUnsafeBytes({ try lookup.contains($0) }) {
                    indices.append(i)
                }
            }
            return UnbalancedPSILabeledResult(result: .intersection(indices: indices, items: indices.map { items[$0] }), labels: labels)
        case .cardinalityOnly:
            let inverse = try secret.withUnsafeBytes { try Scalar(rawRepresentation: $0) }.inverted()
            let unblinded = try reportingElementErrors(path) { try multiply(evaluated, by: inverse, parallelism: parallelism) }
            var count = 0
            try withUnsafeTemporaryAllocation(byteCount: UnbalancedPRF.outputByteCount, alignment: 16) { value in
                for element in unblinded {
                    UnbalancedPRF.cardinalityTag(element, into: value.baseAddress!)
                    if try lookup.contains(UnsafeRawBufferPointer(value)) { count += 1 }
                }
            }
            return UnbalancedPSILabeledResult(result: .cardinality(count: count), labels: [])
        }
    }

    /// Finalises against a setup and its deltas (builds the lookup; build an
    /// ``UnbalancedSetupLookup`` once instead when querying the same setup often).
    public func finish(response: UnbalancedResponse, setup: UnbalancedSetup, deltas: [UnbalancedSetup] = []) throws -> UnbalancedPSIResult {
        try finish(response: response, lookup: UnbalancedSetupLookup(setup: setup, deltas: deltas))
    }

    /// Why a response proof that decodes is refused.
    static let unverifiedProofReason = "does not verify against the hub public key of the setup: the hub did not answer with the setup's key, or the response was altered"
}

// MARK: - State file

/// A member's state between `request` and `finish`, for exchanges over files.
///
/// A ``SecretContainer`` (mode 0600, refused when others can read it or another user owns it,
/// digest-checked) of content 3, layout version 5. The secret is the blinds (intersection mode:
/// 32 bytes an item; cardinality-only: the one blind `r`); the body holds the member's records
/// (``RecordCoding``, `recordBytes` bytes) and then its blinded elements (32 bytes an item);
/// the description is JSON (``Description``), including the digest of the setup the request names.
enum MemberStateFile {
    struct Description: Codable {
        var purpose: PurposeLabel
        var answerMode: UnbalancedAnswerMode
        /// The member's identity key (the secret identity is never stored).
        var member: PartyPublicKey
        var hub: PartyPublicKey
        var identifierType: IdentifierType
        var keyID: HubKeyID
        var sessionID: SessionID
        /// The digest of the setup the request names (32 bytes).
        var setupDigest: Data
        var itemCount: Int
        var recordBytes: Int
        /// The request the member sent and when its request step started, for the receipt
        /// (nil in a state saved by ``UnbalancedPSIMember/save(to:)``).
        var transcript: PartyStateFile.Transcript?
    }

    /// A sealed member state, to be committed (see ``SecretContainer/Writer/commit(replacing:)``).
    static func writer(_ member: UnbalancedPSIMember, records: [ListRecord]?, transcript: PartyStateFile.Transcript? = nil,
                       to url: URL) throws -> SecretContainer.Writer {
        let context = member.context
        let records = records ?? member.items.map { ListRecord(identifier: $0, original: $0.canonical, lineNumber: 0) }
        let writer = try member.secret.withUnsafeBytes { try SecretContainer.Writer(url: url, content: .memberState, secret: $0) }
        var encoded = [UInt8]()
        for record in records { RecordCoding.encode(record, into: &encoded) }
        try writer.write(encoded)
        try member.request.blindedElements.withUnsafeBytes { try writer.write($0) }
        let description = Description(purpose: member.purpose, answerMode: context.answerMode, member: context.member,
                                      hub: context.hub, identifierType: context.identifierType, keyID: context.keyID,
                                      sessionID: context.sessionID, setupDigest: Data(context.setupDigest), itemCount: records.count,
                                      recordBytes: encoded.count, transcript: transcript)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writer.seal(description: [UInt8](try encoder.encode(description)))
        return writer
    }

    /// - Throws: ``PSIError/identityMismatch(found:expected:)`` when `identity` is not the
    ///   member's the state was made with, and ``StateFileError`` for a damaged file.
    static func read(from url: URL, identity: PartyIdentity, parallelism: Parallelism,
                     expectedOwner: uid_t = geteuid()) throws -> (UnbalancedPSIMember, [ListRecord], PartyStateFile.Transcript?) {
        func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: url.path, reason: reason) }
        let container = try SecretContainer.Reader(url: url, content: .memberState, invalid: invalid, expectedOwner: expectedOwner)
        let d: Description
        do { d = try JSONDecoder().decode(Description.self, from: Data(container.description)) } catch {
            throw invalid("the state description cannot be decoded")
        }
        guard identity.publicKey == d.member else {
            throw PSIError.identityMismatch(found: identity.publicKey.fingerprint, expected: d.member.fingerprint)
        }
        // Every count is checked against the file's real sizes, overflow-checked, before it is used.
        let n = d.itemCount
        guard n >= 0, d.recordBytes >= 0, let elementBytes = checkedProduct(UInt64(n), UInt64(GroupElement.byteCount)),
              checkedSum([UInt64(d.recordBytes), elementBytes]) == UInt64(container.bodyByteCount),
              d.recordBytes >= RecordCoding.minimumByteCount * n else {
            throw invalid("its sections do not add up to its length")
        }
        let expectedSecret = d.answerMode == .intersection ? elementBytes : UInt64(Scalar.byteCount)
        guard UInt64(container.secret.count) == expectedSecret else {
            throw invalid("the secret is \(container.secret.count) bytes; expected \(expectedSecret) for \(n) items in \(d.answerMode) mode")
        }
        // Every blind must be a canonical non-zero scalar (a zero blind would break inversion).
        try container.secret.withUnsafeBytes { blinds in
            for offset in stride(from: 0, to: blinds.count, by: Scalar.byteCount) {
                guard (try? Scalar(rawRepresentation: UnsafeRawBufferPointer(rebasing: blinds[offset..<(offset + Scalar.byteCount)]))) != nil else {
                    throw invalid("a stored blind is not a valid scalar")
                }
            }
        }
        var decoder = RecordCoding.Decoder(file: container.file, offset: container.bodyOffset, byteCount: d.recordBytes)
        var records = [ListRecord]()
        records.reserveCapacity(n)
        for index in 0..<n {
            guard let record = try decoder.next() else { throw invalid("record \(index) is damaged") }
            records.append(record)
        }
        let elements = UnbalancedPRF.elements(fromBody: try container.bodyBytes(at: d.recordBytes, count: Int(elementBytes)))
        guard d.setupDigest.count == MessageHeader.digestByteCount else {
            throw invalid("its setup digest is \(d.setupDigest.count) bytes; expected \(MessageHeader.digestByteCount)")
        }
        let context = UnbalancedQueryContext(sessionID: d.sessionID, setupDigest: [UInt8](d.setupDigest), keyID: d.keyID,
                                             purposeDigest: d.purpose.digest, answerMode: d.answerMode, member: d.member, hub: d.hub,
                                             identifierType: d.identifierType)
        let member = UnbalancedPSIMember(restoring: records.map(\.identifier), purpose: d.purpose,
                                         request: UnbalancedRequest(context: context, blindedElements: elements, origin: "request"),
                                         identity: identity, secret: container.secret, parallelism: parallelism)
        return (member, records, d.transcript)
    }
}

extension UnbalancedPSIMember {
    /// Saves the member (including its blinds) to a state file with mode 0600, for
    /// ``finish(response:lookup:)`` in a later process.
    public func save(to url: URL) throws {
        try MemberStateFile.writer(self, records: nil, to: url).commit(replacing: true)
    }

    /// Restores a member saved with ``save(to:)``.
    ///
    /// - Parameters:
    ///   - url: the state file.
    ///   - identity: the member's identity (the state keeps only its public key).
    ///   - parallelism: threads.
    /// - Throws: ``StateFileError`` when the file is readable by others or belongs to another
    ///   user, is not a member's state, or is damaged; ``PSIError/identityMismatch(found:expected:)``
    ///   for another identity.
    public init(restoringFrom url: URL, identity: PartyIdentity, parallelism: Parallelism = .allCores) throws {
        self = try MemberStateFile.read(from: url, identity: identity, parallelism: parallelism).0
    }
}
