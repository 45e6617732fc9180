import Foundation

/// The values of unbalanced-PSI messages that are not list data: the hub's public key (setups
/// and deltas), the digest of the setup a request is made against (requests), and the DLEQ
/// proofs of an intersection-mode response.
///
/// On the wire they are the **field elements**: the first elements of the body, counted in the
/// header's element count and covered by the digest like every other element. Their bytes, in
/// the order below, are zero-padded to whole elements of the message's element size:
///
/// | message | fields | field elements |
/// | --- | --- | --- |
/// | setup, delta | `pkS` (32 bytes) | ⌈32 / element size⌉ |
/// | request | setup digest (32 bytes) | 1 |
/// | response, intersection | one 64-byte proof per 65,535 elements | 2·⌈n / 65,535⌉ |
/// | response, cardinality-only | none | 0 |
///
/// This is the one place that knows the layout: when the message format's header extension
/// block arrives, the fields move there and only ``encoded(elementSize:)`` and
/// ``decode(_:kind:keyID:path:)`` change.
struct UnbalancedFields: Sendable, Equatable {
    /// The hub's public key `pkS` (setups and deltas).
    var publicKey: GroupElement?
    /// SHA-256 of the setup file the request is made against (requests).
    var setupDigest: [UInt8]?
    /// The DLEQ proofs of an intersection-mode response.
    var proofs: [DLEQProof] = []

    /// Field elements of a message of `kind` whose list part holds `itemCount` elements.
    static func elementCount(_ kind: UnbalancedMessageKind, answerMode: UnbalancedAnswerMode, elementSize: Int, itemCount: Int) -> Int {
        switch kind {
        case .setup, .setupDelta:
            return (GroupElement.byteCount + elementSize - 1) / elementSize
        case .request:
            return 1
        case .response:
            return answerMode == .intersection ? 2 * OPRF.verifiableParameters.dleq.proofCount(pairs: itemCount) : 0
        }
    }

    /// The field elements' bytes: the fields in order, zero-padded to whole elements.
    func encoded(elementSize: Int) -> [UInt8] {
        var bytes = publicKey?.rawRepresentation ?? []
        bytes += setupDigest ?? []
        for proof in proofs { bytes += proof.rawRepresentation }
        let padded = (bytes.count + elementSize - 1) / elementSize * elementSize
        return bytes + [UInt8](repeating: 0, count: padded - bytes.count)
    }

    /// Decodes the field elements' bytes of a received message.
    ///
    /// - Throws: ``UnbalancedPSIError/invalidSetup(path:reason:)`` for a setup whose public key
    ///   is not a valid element, does not match the header's key identifier, or whose padding is
    ///   not zero; ``UnbalancedPSIError/invalidResponseProof(path:proof:reason:)`` for a proof
    ///   scalar that is not below ℓ.
    static func decode(_ bytes: [UInt8], kind: UnbalancedMessageKind, keyID: HubKeyID,
                       path: String) throws -> UnbalancedFields {
        var fields = UnbalancedFields()
        switch kind {
        case .setup, .setupDelta:
            guard let key = try? GroupElement(validating: bytes[0..<GroupElement.byteCount]) else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "its hub public key is not a valid ristretto255 element")
            }
            guard HubKeyID(publicKey: key) == keyID else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "its hub public key has key id \(HubKeyID(publicKey: key)), not the header's \(keyID)")
            }
            guard bytes[GroupElement.byteCount...].allSatisfy({ $0 == 0 }) else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "the padding after its hub public key is not zero")
            }
            fields.publicKey = key
        case .request:
            fields.setupDigest = bytes
        case .response:
            fields.proofs = try stride(from: 0, to: bytes.count, by: DLEQProof.byteCount).enumerated().map { index, offset in
                do { return try DLEQProof(rawRepresentation: bytes[offset..<(offset + DLEQProof.byteCount)]) } catch {
                    throw UnbalancedPSIError.invalidResponseProof(path: path, proof: index, reason: "is not a proof encoding (a scalar is not below the group order)")
                }
            }
        }
        return fields
    }
}
