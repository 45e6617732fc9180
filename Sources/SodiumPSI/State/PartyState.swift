public import Foundation
internal import CSodium

/// Saving and restoring a party between protocol steps, for exchanges over files.
///
/// A state file holds the party's secret scalar, so it is written with mode 0600 and refused
/// when others can read it (see ``SecretFile``). Layout: the magic `SPSISTAT`, a version byte,
/// a role byte, the 32-byte secret, then a JSON document with the public rest of the state.
enum PartyStateFile {
    static let magic = Array("SPSISTAT".utf8)
    static let version: UInt8 = 1
    static let secretByteCount = 32

    enum Role: UInt8 { case initiator = 1, responder = 2 }

    /// Everything but the secret.
    struct Payload: Codable {
        var suite: PSISuite
        var purpose: PurposeLabel
        var outcome: MutualPSIOutcome
        var maximumPeerSetSize: Int
        var items: [Identifier]
        var inputSummary: InputSummary
        var sentOrder: [Int]
        /// The exchange, once known (always for the initiator; after `respond` for the responder).
        var context: ExchangeContext?
        /// Elements this party sent in its blinded set.
        var blindedElements: Data
        /// Responder only: the initiator's set re-blinded, kept to compare with step 3.
        var peerDoublyBlinded: Data?
        /// How the operator wrote each item (file exchanges only), parallel to `items`.
        var records: [ListRecord]?

        func configuration(parallelism: Parallelism, progress: ProgressHandler?) -> MutualPSIConfiguration {
            MutualPSIConfiguration(purpose: purpose, outcome: outcome, suite: suite, maximumPeerSetSize: maximumPeerSetSize,
                                   parallelism: parallelism, progress: progress)
        }
    }

    static func write(role: Role, secret: SecretBytes, payload: Payload, to url: URL) throws {
        var bytes = magic + [version, role.rawValue]
        bytes += secret.withUnsafeBytes { Array($0) }
        defer { sodium_memzero(&bytes, bytes.count) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        bytes += try encoder.encode(payload)
        try SecretFile.write(bytes, to: url)
    }

    static func read(role: Role, from url: URL) throws -> (SecretBytes, Payload) {
        var bytes = try SecretFile.read(from: url)
        defer { sodium_memzero(&bytes, bytes.count) }
        let header = magic.count + 2
        func invalid(_ reason: String) -> StateFileError { .invalidStateFile(path: url.path, reason: reason) }
        guard bytes.count >= header + secretByteCount, Array(bytes[0..<magic.count]) == magic else {
            throw invalid("it does not start with the state-file magic SPSISTAT")
        }
        guard bytes[magic.count] == version else {
            throw invalid("format version \(bytes[magic.count]); expected \(version)")
        }
        guard bytes[magic.count + 1] == role.rawValue else {
            throw invalid("it belongs to the \(bytes[magic.count + 1] == Role.initiator.rawValue ? "initiator" : "responder"); expected the \(role == .initiator ? "initiator" : "responder")'s state")
        }
        let payload: Payload
        do { payload = try JSONDecoder().decode(Payload.self, from: Data(bytes[(header + secretByteCount)...])) } catch {
            throw invalid("the state description cannot be decoded")
        }
        do {
            let secret = try MutualSuite(payload.suite).secret(from: bytes[header..<(header + secretByteCount)])
            return (secret, payload)
        } catch {
            throw invalid("the secret is not valid for suite \(payload.suite)")
        }
    }

    /// The saved records, or records made from the items when none were saved.
    static func records(_ payload: Payload, path: String) throws -> [ListRecord] {
        guard let records = payload.records else {
            return payload.items.map { .init(identifier: $0, original: $0.canonical, lineNumber: 0) }
        }
        guard records.map(\.identifier) == payload.items else {
            throw StateFileError.invalidStateFile(path: path, reason: "saved records do not match the saved items")
        }
        return records
    }

    static func encode(_ elements: [BlindedElement]) -> Data {
        var data = Data(capacity: elements.count * BlindedElement.byteCount)
        for element in elements { element.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// Elements this library wrote itself; they are checked again all the same.
    static func decode(_ data: Data, suite: PSISuite, path: String) throws -> [BlindedElement] {
        guard data.count % BlindedElement.byteCount == 0 else {
            throw StateFileError.invalidStateFile(path: path, reason: "element data is not a multiple of 32 bytes")
        }
        let elements = data.withUnsafeBytes { raw in
            (0..<(data.count / BlindedElement.byteCount)).map { BlindedElement(unchecked: raw.baseAddress! + $0 * BlindedElement.byteCount) }
        }
        do { try MutualSuite(suite).check(elements, parallelism: .allCores) } catch let error as PSIError {
            throw StateFileError.invalidStateFile(path: path, reason: "a stored element is not valid: \(error.localizedDescription)")
        }
        return elements
    }
}

extension MutualPSIInitiator {
    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``MutualPSIInitiator/finish(responderBlindedSet:initiatorSetReblinded:)`` in a later process.
    public func save(to url: URL) throws {
        try save(to: url, records: nil)
    }

    func save(to url: URL, records: [ListRecord]?) throws {
        let payload = PartyStateFile.Payload(
            suite: configuration.suite, purpose: configuration.purpose, outcome: configuration.outcome,
            maximumPeerSetSize: configuration.maximumPeerSetSize, items: items, inputSummary: inputSummary,
            sentOrder: sentOrder, context: context, blindedElements: PartyStateFile.encode(blindedSet.elements),
            peerDoublyBlinded: nil, records: records)
        try PartyStateFile.write(role: .initiator, secret: secret, payload: payload, to: url)
    }

    /// Restores an initiator and the records saved with it.
    static func restore(from url: URL, parallelism: Parallelism,
                        progress: ProgressHandler?) throws -> (MutualPSIInitiator, [ListRecord]) {
        let (secret, payload) = try PartyStateFile.read(role: .initiator, from: url)
        let initiator = try MutualPSIInitiator(secret: secret, payload: payload, path: url.path, parallelism: parallelism,
                                               progress: progress)
        return (initiator, try PartyStateFile.records(payload, path: url.path))
    }

    /// Restores an initiator saved with ``save(to:)``.
    ///
    /// - Throws: ``StateFileError`` when the file is readable by others, is not an initiator's
    ///   state, or is damaged.
    public init(restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        self = try Self.restore(from: url, parallelism: parallelism, progress: nil).0
    }

    private init(secret: SecretBytes, payload p: PartyStateFile.Payload, path: String, parallelism: Parallelism,
                 progress: ProgressHandler?) throws {
        guard let context = p.context, p.sentOrder.count == p.items.count else {
            throw StateFileError.invalidStateFile(path: path, reason: "the initiator's exchange is incomplete")
        }
        self.init(restoring: p.configuration(parallelism: parallelism, progress: progress), context: context, items: p.items, inputSummary: p.inputSummary,
                  blindedSet: MutualPSIMessage(kind: .initiatorBlindedSet, context: context,
                                               elements: try PartyStateFile.decode(p.blindedElements, suite: p.suite, path: path)),
                  secret: secret, sentOrder: p.sentOrder)
    }
}

extension MutualPSIResponder {
    /// Saves this party (including its secret) to a state file with mode 0600, for
    /// ``respond(to:)`` or ``finish(responderSetReblinded:)`` in a later process.
    public func save(to url: URL) throws {
        try save(to: url, records: nil)
    }

    func save(to url: URL, records: [ListRecord]?) throws {
        let payload = PartyStateFile.Payload(
            suite: configuration.suite, purpose: configuration.purpose, outcome: configuration.outcome,
            maximumPeerSetSize: configuration.maximumPeerSetSize, items: items, inputSummary: inputSummary,
            sentOrder: sentOrder, context: exchange?.context, blindedElements: PartyStateFile.encode(blindedElements),
            peerDoublyBlinded: exchange.map { PartyStateFile.encode($0.initiatorDoubly) }, records: records)
        try PartyStateFile.write(role: .responder, secret: secret, payload: payload, to: url)
    }

    /// Restores a responder and the records saved with it.
    static func restore(from url: URL, parallelism: Parallelism,
                        progress: ProgressHandler?) throws -> (MutualPSIResponder, [ListRecord]) {
        let (secret, payload) = try PartyStateFile.read(role: .responder, from: url)
        let responder = try MutualPSIResponder(secret: secret, payload: payload, path: url.path, parallelism: parallelism,
                                               progress: progress)
        return (responder, try PartyStateFile.records(payload, path: url.path))
    }

    /// Restores a responder saved with ``save(to:)``.
    ///
    /// - Throws: ``StateFileError`` when the file is readable by others, is not a responder's
    ///   state, or is damaged.
    public init(restoringFrom url: URL, parallelism: Parallelism = .allCores) throws {
        self = try Self.restore(from: url, parallelism: parallelism, progress: nil).0
    }

    private init(secret: SecretBytes, payload p: PartyStateFile.Payload, path: String, parallelism: Parallelism,
                 progress: ProgressHandler?) throws {
        guard p.sentOrder.count == p.items.count else {
            throw StateFileError.invalidStateFile(path: path, reason: "item and order counts differ")
        }
        let configuration = p.configuration(parallelism: parallelism, progress: progress)
        var exchange: (ExchangeContext, [BlindedElement])?
        if let context = p.context, let doubly = p.peerDoublyBlinded {
            exchange = (context, try PartyStateFile.decode(doubly, suite: p.suite, path: path))
        }
        self.init(restoring: configuration, items: p.items, inputSummary: p.inputSummary, secret: secret,
                  blindedElements: try PartyStateFile.decode(p.blindedElements, suite: p.suite, path: path),
                  sentOrder: p.sentOrder, exchange: exchange)
    }
}
