public import Foundation

extension MessageHeader {
    /// The header of a mutual-PSI message of step `kind` in the exchange `context`: sent by
    /// the party whose step it is, to the other.
    static func mutual(_ kind: MutualPSIMessage.Kind, context: ExchangeContext, count: Int,
                       elementSize: Int = BlindedElement.byteCount) -> MessageHeader {
        let parties = context.parties(of: kind)
        return MessageHeader(suite: context.suite, protocolID: .mutual, kind: kind.rawValue, mode: context.outcome.rawValue,
                             elementSize: elementSize, identifierType: context.identifierType,
                             purposeDigest: context.purposeDigest, sessionID: context.sessionID,
                             sender: parties.sender, recipient: parties.recipient, count: count)
    }
}

extension MessageExpectation {
    /// What a mutual-PSI message of step `kind` must be for the party configured by
    /// `configuration`: signed by its peer, addressed to it, of its identifier type, suite,
    /// purpose and outcome (see ``MutualPSIMessage/read(from:kind:configuration:sessionID:count:checkEncodings:)``).
    static func mutual(_ kind: MutualPSIMessage.Kind, configuration: MutualPSIConfiguration, sessionID: SessionID?,
                       maximumCount: Int? = nil, count: Int? = nil,
                       elementSize: Int? = BlindedElement.byteCount) -> MessageExpectation {
        MessageExpectation(suite: configuration.suite, protocolID: .mutual, kinds: [kind.rawValue],
                           mode: configuration.outcome.rawValue, elementSize: elementSize,
                           identifierType: configuration.identifierType, purposeDigest: configuration.purpose.digest,
                           sessionID: sessionID, keyID: [UInt8](repeating: 0, count: 16),
                           trustedSenders: [configuration.peer], recipient: configuration.identity.publicKey,
                           count: count, maximumCount: maximumCount)
    }
}

extension MutualPSIMessage {
    /// The file header for this message.
    var fileHeader: MessageHeader { .mutual(kind, context: context, count: elements.count, elementSize: valueLength) }

    /// Writes the message as a message file signed by `identity`, atomically (see `Docs/file-format.md`).
    ///
    /// - Precondition: `identity` is the message's ``sender``.
    public func write(to url: URL, signedBy identity: PartyIdentity) throws {
        let writer = try MessageFileWriter(url: url, header: fileHeader, signer: identity)
        if valueLength == BlindedElement.byteCount {
            try writer.append(elements)
        } else {
            try ComparisonHash.packed(elements, length: valueLength).withUnsafeBytes { try writer.append(elements: $0) }
        }
        try writer.commit()
    }

    /// Reads a mutual-PSI message file, refusing it unless it is the expected step of the
    /// expected exchange, signed by the configured peer and addressed to this party, and
    /// checking every element.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - kind: the step expected.
    ///   - configuration: this party's configuration: the suite, purpose, outcome and
    ///     identifier type agreed, this party's identity (the recipient), the peer (the only
    ///     sender accepted), and the peer-set limit (checked from the header of a blinded set).
    ///   - sessionID: the exchange's session; nil only for the initiator's first message,
    ///     whose session the responder adopts.
    ///   - count: the exact element count required (a re-blinded set must hold as many
    ///     elements as the set sent), checked from the header.
    ///   - checkEncodings: check every element against the suite now. The all-zero value and
    ///     repeated elements are always refused at once. Pass false only for a set that goes
    ///     straight into ``MutualPSIResponder/respond(to:)`` or
    ///     ``MutualPSIInitiator/finish(responderBlindedSet:initiatorSetReblinded:)`` as the set
    ///     they re-blind: re-blinding checks every element anyway and reports a bad one with its
    ///     position, so checking twice only costs time.
    /// - Throws: ``MessageFileError`` naming the file and the first problem found.
    public static func read(from url: URL, kind: Kind, configuration: MutualPSIConfiguration, sessionID: SessionID?,
                            count: Int? = nil, checkEncodings: Bool = true) throws -> MutualPSIMessage {
        let compared = kind == .initiatorSetReblinded || kind == .responderSetReblinded
        // A re-blinded set's hash length depends on both set sizes, which `check` verifies.
        let reader = try MessageFileReader(url: url, expecting: .mutual(
            kind, configuration: configuration, sessionID: sessionID,
            maximumCount: compared ? nil : configuration.maximumPeerSetSize, count: count,
            elementSize: compared ? nil : BlindedElement.byteCount))
        let elements = compared
            ? try reader.readAllComparedValues()
            : try reader.readAllElements(checkEncodings: checkEncodings, parallelism: configuration.parallelism)
        let header = reader.header
        let own = configuration.identity.publicKey
        let received = ExchangeContext(suite: header.suite, outcome: configuration.outcome, purposeDigest: header.purposeDigest,
                                       sessionID: header.sessionID,
                                       initiator: kind.isSentByInitiator ? header.sender : own,
                                       responder: kind.isSentByInitiator ? own : header.sender,
                                       identifierType: configuration.identifierType)
        return MutualPSIMessage(kind: kind, context: received, elements: elements, valueLength: header.elementSize,
                                elementsChecked: true)
    }
}
