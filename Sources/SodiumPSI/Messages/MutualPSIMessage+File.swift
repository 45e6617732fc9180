public import Foundation

extension MessageHeader {
    /// The header of a mutual-PSI message of step `kind` in the exchange `context`: sent by
    /// the party whose step it is, to the other.
    static func mutual(_ kind: MutualPSIMessage.Kind, context: ExchangeContext, count: Int,
                       elementSize: Int = BlindedElement.byteCount,
                       extensions: MessageExtensions = MessageExtensions()) -> MessageHeader {
        let parties = context.parties(of: kind)
        return MessageHeader(suite: context.suite, protocolID: .mutual, kind: kind.rawValue,
                             mode: context.outcome.modeByte(verifiable: context.verifiable),
                             elementSize: elementSize, identifierType: context.identifierType,
                             purposeDigest: context.purposeDigest, sessionID: context.sessionID,
                             sender: parties.sender, recipient: parties.recipient, count: count, extensions: extensions)
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
                           mode: configuration.outcome.modeByte(verifiable: configuration.verifiable), elementSize: elementSize,
                           identifierType: configuration.identifierType, purposeDigest: configuration.purpose.digest,
                           sessionID: sessionID, keyID: [UInt8](repeating: 0, count: 16),
                           trustedSenders: [configuration.peer], recipient: configuration.identity.publicKey,
                           count: count, maximumCount: maximumCount)
    }
}

extension MutualPSIMessage {
    /// Writes the message's bytes (``serializedBytes``) to a file, atomically: the file is a
    /// message file any step or `psi inspect` reads.
    public func write(to url: URL) throws {
        let file = try AtomicFile(path: url.path, mode: 0o644)
        try file.write(serializedBytes)
        try file.commit()
    }

    /// Reads a message file: its format and signature are checked here, everything else by the
    /// step that consumes it (see ``init(serializedBytes:)``).
    ///
    /// - Throws: ``MessageFileError`` naming the file.
    public static func read(from url: URL) throws -> MutualPSIMessage {
        let bytes = try readWholeFile(url) { MessageFileError.io(path: url.path, reason: $0) }
        return try MutualPSIMessage(serializedBytes: bytes, name: url.path)
    }
}
