public import Foundation

extension MutualPSIMessage {
    /// The file header for this message.
    var fileHeader: MessageHeader {
        MessageHeader(suite: context.suite, protocolID: .mutual, kind: kind.rawValue, mode: context.outcome.rawValue,
                      elementSize: GroupElement.byteCount, purposeDigest: context.purposeDigest,
                      sessionID: context.sessionID, count: elements.count)
    }

    /// Writes the message as a message file, atomically (see `Docs/file-format.md`).
    public func write(to url: URL) throws {
        let writer = try MessageFileWriter(url: url, header: fileHeader)
        try writer.append(elements)
        try writer.commit()
    }

    /// Reads a mutual-PSI message file, refusing it unless it is the expected step of the
    /// expected exchange, and validating every element.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - kind: the step expected.
    ///   - context: the exchange expected; nil only for the initiator's first message, whose
    ///     session the responder adopts.
    ///   - purposeDigest: the digest of the agreed purpose label.
    ///   - outcome: the agreed outcome.
    ///   - maximumCount: the largest set accepted (checked from the header, before reading).
    ///   - count: the exact element count required (a re-blinded set must hold as many
    ///     elements as the set sent), checked from the header.
    ///   - checkEncodings: check every element's encoding now. The identity and repeated
    ///     elements are always refused at once. Pass false only for a set that goes straight
    ///     into ``MutualPSIResponder/respond(to:)`` or ``MutualPSIInitiator/finish(responderBlindedSet:initiatorSetReblinded:)``
    ///     as the set they re-blind: the scalar multiplication checks every encoding anyway,
    ///     and reports a bad one with its position, so checking twice only costs time.
    ///   - parallelism: threads for the encoding checks.
    /// - Throws: ``MessageFileError`` naming the file and the first problem found.
    public static func read(from url: URL, kind: Kind, context: ExchangeContext?, purposeDigest: [UInt8],
                            outcome: MutualPSIOutcome, maximumCount: Int? = nil, count: Int? = nil, checkEncodings: Bool = true,
                            parallelism: Parallelism = .allCores) throws -> MutualPSIMessage {
        let reader = try MessageFileReader(url: url, expecting: MessageExpectation(
            suite: context?.suite ?? .ristretto255SHA512, protocolID: .mutual, kinds: [kind.rawValue],
            mode: outcome.rawValue, elementSize: GroupElement.byteCount, purposeDigest: purposeDigest,
            sessionID: context?.sessionID, keyID: [UInt8](repeating: 0, count: 16), count: count, maximumCount: maximumCount))
        let elements = try reader.readAllElements(checkEncodings: checkEncodings, parallelism: parallelism)
        let header = reader.header
        let received = ExchangeContext(suite: header.suite, outcome: outcome, purposeDigest: header.purposeDigest,
                                       sessionID: header.sessionID)
        return MutualPSIMessage(kind: kind, context: received, elements: elements)
    }
}
