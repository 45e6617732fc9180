public import Foundation

/// What ties a member's request and the hub's response together: both carry the session, key,
/// purpose and mode in their headers, and the request names the setup it was made against.
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

    /// Creates a context.
    public init(sessionID: SessionID, setupDigest: [UInt8], keyID: HubKeyID, purposeDigest: [UInt8], answerMode: UnbalancedAnswerMode) {
        self.sessionID = sessionID
        self.setupDigest = setupDigest
        self.keyID = keyID
        self.purposeDigest = purposeDigest
        self.answerMode = answerMode
    }

    /// The header of a request or response whose list part holds `itemCount` elements.
    func header(_ kind: UnbalancedMessageKind, itemCount: Int) -> MessageHeader {
        MessageHeader(suite: .ristretto255SHA512, protocolID: .unbalanced, kind: kind.rawValue, mode: answerMode.rawValue,
                      elementSize: GroupElement.byteCount, purposeDigest: purposeDigest, sessionID: sessionID, keyID: keyID.bytes,
                      count: fieldElementCount(kind, itemCount: itemCount) + itemCount)
    }

    func fieldElementCount(_ kind: UnbalancedMessageKind, itemCount: Int) -> Int {
        UnbalancedFields.elementCount(kind, answerMode: answerMode, elementSize: GroupElement.byteCount, itemCount: itemCount)
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

    /// Wraps blinded elements (for a service that moves them over its own transport).
    public init(context: UnbalancedQueryContext, blindedElements: [GroupElement]) {
        self.init(context: context, blindedElements: blindedElements, origin: "request")
    }

    init(context: UnbalancedQueryContext, blindedElements: [GroupElement], origin: String) {
        self.context = context
        self.blindedElements = blindedElements
        self.origin = origin
    }

    /// Writes the request as a message file (atomically).
    public func write(to url: URL) throws {
        try writeMessage(context.header(.request, itemCount: blindedElements.count), UnbalancedFields(setupDigest: context.setupDigest),
                         blindedElements, to: url)
    }

    /// Reads a request, checking its header against the hub's key and policy before any
    /// element is read.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - purpose: the purpose the hub serves.
    ///   - key: the hub's key (its identifier and answer mode).
    ///   - maximumCount: the largest request the hub answers.
    ///   - reviewCount: called with the declared count once the header is accepted, before any
    ///     element is read; throw to stop.
    /// - Throws: ``UnbalancedPSIError/requestUnderOtherKey(path:requestKeyID:hubKeyID:)``,
    ///   ``UnbalancedPSIError/requestTooLarge(path:count:limit:)``,
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``, and
    ///   ``MessageFileError`` for any other problem with the file.
    public static func read(from url: URL, purpose: PurposeLabel, key: HubKey, maximumCount: Int,
                            reviewCount: (Int) throws -> Void = { _ in }) throws -> UnbalancedRequest {
        let fieldElements = UnbalancedFields.elementCount(.request, answerMode: key.answerMode, elementSize: GroupElement.byteCount, itemCount: 0)
        let reader: MessageFileReader
        do {
            reader = try openQuery(url, .request, expecting: MessageExpectation(
                purposeDigest: purpose.digest, keyID: key.keyID.bytes, maximumCount: maximumCount + fieldElements), mode: key.answerMode)
        } catch UnbalancedPSIError.requestTooLarge(let path, let count, let limit) {
            throw UnbalancedPSIError.requestTooLarge(path: path, count: count - fieldElements, limit: limit - fieldElements)
        }
        let keyID = try HubKeyID(bytes: reader.header.keyID)
        let fields = try readFields(reader, .request, fieldElements: fieldElements, keyID: keyID)
        try reviewCount(reader.header.count - fieldElements)
        let context = UnbalancedQueryContext(sessionID: reader.header.sessionID, setupDigest: fields.setupDigest!, keyID: keyID,
                                             purposeDigest: reader.header.purposeDigest, answerMode: key.answerMode)
        return UnbalancedRequest(context: context, blindedElements: try readElements(reader), origin: url.path)
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

    /// Writes the response as a message file (atomically).
    ///
    /// - Precondition: ``proofs`` holds the number of proofs the mode requires.
    public func write(to url: URL) throws {
        try writeMessage(context.header(.response, itemCount: evaluatedElements.count), UnbalancedFields(proofs: proofs),
                         evaluatedElements, to: url)
    }

    /// Reads the response to a request.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - request: the request's context; the response must carry the same session, key,
    ///     purpose and mode.
    ///   - count: the request's element count (the response holds as many evaluated elements,
    ///     and its proofs).
    /// - Throws: ``UnbalancedPSIError/responseUnderOtherKey(path:responseKeyID:setupKeyID:)``,
    ///   ``UnbalancedPSIError/answerModeMismatch(path:found:expected:)``,
    ///   ``UnbalancedPSIError/invalidResponseProof(path:proof:reason:)`` for a proof that is not
    ///   a proof encoding, and ``MessageFileError`` (digest, session, count of all elements, …).
    public static func read(from url: URL, request: UnbalancedQueryContext, count: Int) throws -> UnbalancedResponse {
        let fieldElements = request.fieldElementCount(.response, itemCount: count)
        let reader: MessageFileReader
        do {
            reader = try openQuery(url, .response, expecting: MessageExpectation(
                purposeDigest: request.purposeDigest, sessionID: request.sessionID, keyID: request.keyID.bytes,
                count: fieldElements + count), mode: request.answerMode)
        } catch UnbalancedPSIError.requestUnderOtherKey(let path, let found, let expected) {
            throw UnbalancedPSIError.responseUnderOtherKey(path: path, responseKeyID: found, setupKeyID: expected)
        }
        let fields = try readFields(reader, .response, fieldElements: fieldElements, keyID: request.keyID)
        return UnbalancedResponse(context: request, evaluatedElements: try readElements(reader), proofs: fields.proofs, origin: url.path)
    }
}

/// Reads and decodes a request's or response's field elements (the header's count is checked).
///
/// - Throws: ``UnbalancedPSIError/missingFields(path:count:expected:)`` for a file that does
///   not even hold its field elements.
private func readFields(_ reader: MessageFileReader, _ kind: UnbalancedMessageKind, fieldElements: Int,
                        keyID: HubKeyID) throws -> UnbalancedFields {
    guard reader.header.count >= fieldElements else {
        throw UnbalancedPSIError.missingFields(path: reader.url.path, count: reader.header.count, expected: fieldElements)
    }
    guard fieldElements > 0 else { return UnbalancedFields() }
    let bytes = try reader.readChunk(maximumElements: fieldElements) ?? []
    return try UnbalancedFields.decode(bytes, kind: kind, keyID: keyID, path: reader.url.path)
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

private func writeMessage(_ header: MessageHeader, _ fields: UnbalancedFields, _ elements: [GroupElement], to url: URL) throws {
    let writer = try MessageFileWriter(url: url, header: header)
    try fields.encoded(elementSize: header.elementSize).withUnsafeBytes { try writer.append(elements: $0) }
    try elements.withUnsafeBytes { try writer.append(elements: $0) }
    try writer.commit()
}
