public import Foundation

/// What ties a member's request and the hub's response together: both carry the session, key,
/// purpose and mode in their headers, and the request names the setup it was made against. The
/// member signs the request for the hub; the hub signs the response for the member.
public struct UnbalancedQueryContext: Sendable, Equatable {
    /// A fresh random identifier chosen by the member for this query.
    public let sessionID: SessionID
    /// The digest of the setup the request was made against (``UnbalancedSetup/digest``); the
    /// member finishes only against that setup.
    public let setupDigest: [UInt8]
    /// The key of the setup the request was made from.
    public let keyID: HubKeyID
    /// SHA-256 of the purpose label.
    public let purposeDigest: [UInt8]
    /// The answer mode of the setup.
    public let answerMode: UnbalancedAnswerMode
    /// The member's identity key (sender of the request, recipient of the response).
    public let member: PartyPublicKey
    /// The hub's identity key (recipient of the request, sender of the response).
    public let hub: PartyPublicKey
    /// The identifier type of the member's items (the setup's).
    public let identifierType: IdentifierType

    /// Creates a context.
    public init(sessionID: SessionID, setupDigest: [UInt8], keyID: HubKeyID, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode,
                member: PartyPublicKey, hub: PartyPublicKey, identifierType: IdentifierType) {
        self.sessionID = sessionID
        self.setupDigest = setupDigest
        self.keyID = keyID
        self.purposeDigest = purposeDigest
        self.answerMode = answerMode
        self.member = member
        self.hub = hub
        self.identifierType = identifierType
    }

    /// The header of a request or response of `itemCount` elements, `fields` in its extension block.
    func header(_ kind: UnbalancedMessageKind, itemCount: Int, fields: UnbalancedFields) throws -> MessageHeader {
        MessageHeader(suite: .ristretto255SHA512, protocolID: .unbalanced, kind: kind.rawValue, mode: answerMode.rawValue,
                      elementSize: GroupElement.byteCount, identifierType: identifierType, purposeDigest: purposeDigest,
                      sessionID: sessionID, keyID: keyID.bytes, sender: kind == .request ? member : hub,
                      recipient: kind == .request ? hub : member, count: itemCount, extensions: try fields.extensions())
    }
}

/// A member's request: its items blinded (intersection mode: one random blind each, in the
/// member's order; cardinality-only: one blind for the whole request).
public struct UnbalancedRequest: Sendable {
    /// The query's context.
    public let context: UnbalancedQueryContext
    /// The blinded elements.
    public let blindedElements: [GroupElement]
    /// Where it was read from, for error messages.
    let origin: String
    /// SHA-256 of the file it was read from (for the run's receipt); nil when not read from a file.
    var fileDigest: [UInt8]?

    /// Wraps blinded elements (for a service that moves them over its own transport).
    public init(context: UnbalancedQueryContext, blindedElements: [GroupElement]) {
        self.init(context: context, blindedElements: blindedElements, origin: "request")
    }

    init(context: UnbalancedQueryContext, blindedElements: [GroupElement], origin: String) {
        self.context = context
        self.blindedElements = blindedElements
        self.origin = origin
    }

    /// Writes the request as a message file signed by the member (atomically).
    ///
    /// - Precondition: `identity` is the context's ``UnbalancedQueryContext/member``.
    /// - Returns: the file's SHA-256.
    @discardableResult
    public func write(to url: URL, signedBy identity: PartyIdentity) throws -> [UInt8] {
        let writer = try MessageFileWriter(url: url, header: try fileHeader(), signer: identity)
        try writeBody(to: writer)
        try writer.commit()
        return writer.fileDigest!
    }

    /// The request's file header, the setup digest in its extension block.
    func fileHeader() throws -> MessageHeader {
        try context.header(.request, itemCount: blindedElements.count, fields: UnbalancedFields(setupDigest: context.setupDigest))
    }

    /// Appends the request's blinded elements.
    func writeBody(to writer: MessageFileWriter) throws {
        try blindedElements.withUnsafeBytes { try writer.append(elements: $0) }
    }

    /// Reads a request for `hub`, checking its header against the hub's key, identity,
    /// members, identifier type and policy before any element is read.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - hub: the hub: its key (identifier and answer mode), purpose, identity (the request's
    ///     recipient), identifier type, members (the only senders accepted) and request limit.
    ///   - reviewCount: called with the declared count once the header is accepted, before any
    ///     element is read; throw to stop.
    /// - Throws: ``UnbalancedPSIError/requestUnderOtherKey(path:requestKeyID:hubKeyID:)``,
    ///   ``UnbalancedPSIError/requestTooLarge(path:count:limit:)``,
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``, and
    ///   ``MessageFileError`` for any other problem with the file (among them
    ///   ``MessageFileError/untrustedSender(path:sender:expected:)`` for a sender that is not a member).
    public static func read(from url: URL, for hub: UnbalancedPSIHub,
                            reviewCount: (Int) throws -> Void = { _ in }) throws -> UnbalancedRequest {
        let key = hub.key
        let reader = try openQuery(url, .request, expecting: MessageExpectation(
            identifierType: hub.identifierType, purposeDigest: hub.purpose.digest, keyID: key.keyID.bytes,
            trustedSenders: hub.members, recipient: hub.identity.publicKey,
            maximumCount: hub.maximumRequestSize), mode: key.answerMode)
        let keyID = try HubKeyID(bytes: reader.header.keyID)
        let fields = try UnbalancedFields.decode(reader.header.extensions, kind: .request, answerMode: key.answerMode, itemCount: 0,
                                                 keyID: keyID, path: url.path)
        try reviewCount(reader.header.count)
        let context = UnbalancedQueryContext(sessionID: reader.header.sessionID, setupDigest: fields.setupDigest!, keyID: keyID,
                                             purposeDigest: reader.header.purposeDigest, answerMode: key.answerMode,
                                             member: reader.header.sender, hub: hub.identity.publicKey,
                                             identifierType: hub.identifierType)
        var read = UnbalancedRequest(context: context, blindedElements: try readElements(reader), origin: url.path)
        read.fileDigest = reader.fileDigest
        return read
    }
}

/// The hub's response: the request's elements multiplied by the hub's key, in the request's
/// order with the DLEQ proofs of RFC 9497's verifiable mode (intersection mode), or shuffled
/// without a proof (cardinality-only).
public struct UnbalancedResponse: Sendable {
    /// The query's context (the request's).
    public let context: UnbalancedQueryContext
    /// The evaluated elements.
    public let evaluatedElements: [GroupElement]
    /// Intersection mode: one DLEQ proof per 65,535 evaluated elements, that every element was
    /// evaluated with the key behind the setup's public key. Cardinality-only: none (a shuffled
    /// answer has no pairs to prove).
    public let proofs: [DLEQProof]
    /// Where it was read from, for error messages.
    let origin: String
    /// SHA-256 of the file it was read from (for the run's receipt); nil when not read from a file.
    var fileDigest: [UInt8]?

    /// Wraps evaluated elements and proofs (for a service that moves them over its own transport).
    public init(context: UnbalancedQueryContext, evaluatedElements: [GroupElement], proofs: [DLEQProof]) {
        self.init(context: context, evaluatedElements: evaluatedElements, proofs: proofs, origin: "response")
    }

    init(context: UnbalancedQueryContext, evaluatedElements: [GroupElement], proofs: [DLEQProof], origin: String) {
        self.context = context
        self.evaluatedElements = evaluatedElements
        self.proofs = proofs
        self.origin = origin
    }

    /// Writes the response as a message file signed by the hub (atomically).
    ///
    /// - Precondition: ``proofs`` holds the number of proofs the mode requires, and `identity`
    ///   is the context's ``UnbalancedQueryContext/hub``.
    /// - Returns: the file's SHA-256.
    @discardableResult
    public func write(to url: URL, signedBy identity: PartyIdentity) throws -> [UInt8] {
        try writeMessage(context.header(.response, itemCount: evaluatedElements.count, fields: UnbalancedFields(proofs: proofs)),
                         evaluatedElements, to: url, signer: identity)
    }

    /// Reads the response to a request.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - request: the request's context; the response must be signed by its hub, addressed
    ///     to its member, and carry the same session, key, identifier type, purpose and mode.
    ///   - count: the request's element count (the response holds as many evaluated elements,
    ///     and its proofs).
    /// - Throws: ``UnbalancedPSIError/responseUnderOtherKey(path:responseKeyID:setupKeyID:)``,
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``UnbalancedPSIError/invalidResponseProof(path:proof:reason:)`` for a proof that is not
    ///   a proof encoding, and ``MessageFileError`` (digest, session, count of all elements, …).
    public static func read(from url: URL, request: UnbalancedQueryContext, count: Int) throws -> UnbalancedResponse {
        let reader: MessageFileReader
        do {
            reader = try openQuery(url, .response, expecting: MessageExpectation(
                identifierType: request.identifierType, purposeDigest: request.purposeDigest, sessionID: request.sessionID,
                keyID: request.keyID.bytes, trustedSenders: [request.hub], recipient: request.member,
                count: count), mode: request.answerMode)
        } catch UnbalancedPSIError.requestUnderOtherKey(let path, let found, let expected) {
            throw UnbalancedPSIError.responseUnderOtherKey(path: path, responseKeyID: found, setupKeyID: expected)
        }
        let fields = try UnbalancedFields.decode(reader.header.extensions, kind: .response, answerMode: request.answerMode,
                                                 itemCount: count, keyID: request.keyID, path: url.path)
        var read = UnbalancedResponse(context: request, evaluatedElements: try readElements(reader), proofs: fields.proofs, origin: url.path)
        read.fileDigest = reader.fileDigest
        return read
    }
}

/// Opens a request or response and checks its header; maps the generic key, size and mode
/// refusals to the unbalanced protocol's own errors.
private func openQuery(_ url: URL, _ kind: UnbalancedMessageKind, expecting partial: MessageExpectation,
                       mode: UnbalancedAnswerMode) throws -> MessageFileReader {
    var expectation = partial
    expectation.suite = .ristretto255SHA512
    expectation.protocolID = .unbalanced
    expectation.kinds = [kind.rawValue]
    expectation.mode = mode.rawValue
    expectation.elementSize = GroupElement.byteCount
    do {
        return try MessageFileReader(url: url, expecting: expectation)
    } catch MessageFileError.keyMismatch(let path, let found, let expected) {
        throw UnbalancedPSIError.requestUnderOtherKey(path: path, requestKeyID: found, hubKeyID: expected)
    } catch MessageFileError.peerSetTooLarge(let path, let count, let limit) {
        throw UnbalancedPSIError.requestTooLarge(path: path, count: count, limit: limit)
    } catch MessageFileError.modeMismatch(let path, let found, let expected) {
        throw UnbalancedPSIError.answerModeMismatch(path: path, found: found, expected: expected)
    }
}

/// Reads every element; the digest is verified before the elements are returned.
private func readElements(_ reader: MessageFileReader) throws -> [GroupElement] {
    var body = [UInt8]()
    body.reserveCapacity(reader.header.count * GroupElement.byteCount)
    while let chunk = try reader.readChunk(maximumElements: 1 << 15) { body += chunk }
    return UnbalancedPRF.elements(fromBody: body)
}

/// Writes a request or response; returns the file's SHA-256.
private func writeMessage(_ header: MessageHeader, _ elements: [GroupElement], to url: URL,
                          signer: PartyIdentity) throws -> [UInt8] {
    let writer = try MessageFileWriter(url: url, header: header, signer: signer)
    try elements.withUnsafeBytes { try writer.append(elements: $0) }
    try writer.commit()
    return writer.fileDigest!
}
