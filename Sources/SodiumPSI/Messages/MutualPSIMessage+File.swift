public import Foundation

extension MessageHeader {
    /// The header of a mutual-PSI message of step `kind` in the exchange `context`.
    static func mutual(_ kind: MutualPSIMessage.Kind, context: ExchangeContext, count: Int,
                       elementSize: Int = BlindedElement.byteCount) -> MessageHeader {
        MessageHeader(suite: context.suite, protocolID: .mutual, kind: kind.rawValue, mode: context.outcome.rawValue,
                      elementSize: elementSize, purposeDigest: context.purposeDigest,
                      sessionID: context.sessionID, count: count)
    }
}

extension MessageExpectation {
    /// What a mutual-PSI message of step `kind` must be (see
    /// ``MutualPSIMessage/read(from:kind:suite:purposeDigest:outcome:sessionID:maximumCount:count:checkEncodings:parallelism:)``).
    static func mutual(_ kind: MutualPSIMessage.Kind, suite: PSISuite, purposeDigest: [UInt8], outcome: MutualPSIOutcome,
                       sessionID: SessionID?, maximumCount: Int? = nil, count: Int? = nil,
                       elementSize: Int = BlindedElement.byteCount) -> MessageExpectation {
        MessageExpectation(suite: suite, protocolID: .mutual, kinds: [kind.rawValue], mode: outcome.rawValue,
                           elementSize: elementSize, purposeDigest: purposeDigest, sessionID: sessionID,
                           keyID: [UInt8](repeating: 0, count: 16), count: count, maximumCount: maximumCount)
    }
}

extension MutualPSIMessage {
    /// The file header for this message.
    var fileHeader: MessageHeader { .mutual(kind, context: context, count: elements.count, elementSize: valueLength) }

    /// Writes the message as a message file, atomically (see `Docs/file-format.md`).
    public func write(to url: URL) throws {
        let writer = try MessageFileWriter(url: url, header: fileHeader)
        if valueLength == BlindedElement.byteCount {
            try writer.append(elements)
        } else {
            try ComparisonHash.packed(elements, length: valueLength).withUnsafeBytes { try writer.append(elements: $0) }
        }
        try writer.commit()
    }

    /// Reads a mutual-PSI message file, refusing it unless it is the expected step of the
    /// expected exchange, and checking every element.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - kind: the step expected.
    ///   - suite: the agreed suite.
    ///   - purposeDigest: the digest of the agreed purpose label.
    ///   - outcome: the agreed outcome.
    ///   - sessionID: the exchange's session; nil only for the initiator's first message,
    ///     whose session the responder adopts.
    ///   - maximumCount: the largest set accepted (checked from the header, before reading).
    ///   - count: the exact element count required (a re-blinded set must hold as many
    ///     elements as the set sent), checked from the header.
    ///   - checkEncodings: check every element against the suite now. The all-zero value and
    ///     repeated elements are always refused at once. Pass false only for a set that goes
    ///     straight into ``MutualPSIResponder/respond(to:)`` or
    ///     ``MutualPSIInitiator/finish(responderBlindedSet:initiatorSetReblinded:)`` as the set
    ///     they re-blind: re-blinding checks every element anyway and reports a bad one with its
    ///     position, so checking twice only costs time.
    ///   - parallelism: threads for the checks.
    /// - Throws: ``MessageFileError`` naming the file and the first problem found.
    public static func read(from url: URL, kind: Kind, suite: PSISuite, purposeDigest: [UInt8], outcome: MutualPSIOutcome,
                            sessionID: SessionID?, maximumCount: Int? = nil, count: Int? = nil,
                            checkEncodings: Bool = true, parallelism: Parallelism = .allCores) throws -> MutualPSIMessage {
        let compared = kind == .initiatorSetReblinded || kind == .responderSetReblinded
        // A re-blinded set's hash length depends on both set sizes, which `check` verifies.
        var expectation = MessageExpectation.mutual(kind, suite: suite, purposeDigest: purposeDigest, outcome: outcome,
                                                    sessionID: sessionID, maximumCount: maximumCount, count: count)
        if compared { expectation.elementSize = nil }
        let reader = try MessageFileReader(url: url, expecting: expectation)
        let elements = compared
            ? try reader.readAllComparedValues()
            : try reader.readAllElements(checkEncodings: checkEncodings, parallelism: parallelism)
        let header = reader.header
        let received = ExchangeContext(suite: header.suite, outcome: outcome, purposeDigest: header.purposeDigest,
                                       sessionID: header.sessionID)
        return MutualPSIMessage(kind: kind, context: received, elements: elements, valueLength: header.elementSize,
                                elementsChecked: true)
    }
}
