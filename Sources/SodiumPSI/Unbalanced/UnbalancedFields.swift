import Foundation

/// The values of unbalanced-PSI messages that are not list data: the hub's public key (setups
/// and deltas), the digest of the setup a request is made against (requests), and the DLEQ
/// proofs of an intersection-mode response.
///
/// On the wire they are typed records of the header's extension block (see
/// ``MessageExtensions/RecordType``), covered by the digest and the sender's signature with the
/// rest of the header; the body holds list data only:
///
/// | message | record | value |
/// | --- | --- | --- |
/// | setup, delta | 1, hub public key | `pkS` (32 bytes) |
/// | request | 2, setup digest | the setup's trailing SHA-256 (32 bytes) |
/// | response, intersection | 3, DLEQ proofs | one 64-byte proof `c || s` per 65,535 elements |
/// | response, cardinality-only | none | |
struct UnbalancedFields: Sendable, Equatable {
    /// The hub's public key `pkS` (setups and deltas).
    var publicKey: GroupElement?
    /// SHA-256 of the setup file the request is made against (requests).
    var setupDigest: [UInt8]?
    /// The DLEQ proofs of an intersection-mode response.
    var proofs: [DLEQProof] = []

    /// The most evaluated elements one response can prove: as many 65,535-element segments as
    /// proofs fit in one extension record.
    static let maximumProvenElements = MessageExtensions.maximumValueByteCount / DLEQProof.byteCount
        * DLEQ.maximumBatchSize

    /// The extension block carrying these fields.
    func extensions() throws -> MessageExtensions {
        var block = MessageExtensions()
        if let publicKey { try block.set(publicKey.rawRepresentation, for: .hubPublicKey) }
        if let setupDigest { try block.set(setupDigest, for: .setupDigest) }
        if !proofs.isEmpty { try block.set(proofs.flatMap(\.rawRepresentation), for: .dleqProofs) }
        return block
    }

    /// Decodes the records a received message of `kind` requires; records of other types are ignored.
    ///
    /// - Parameters:
    ///   - itemCount: for a response, the number of evaluated elements (its proofs' count follows).
    /// - Throws: ``MessageFileError/badExtensionRecord(path:type:reason:)`` for a missing record
    ///   or one of the wrong length; ``UnbalancedPSIError/invalidSetup(path:reason:)`` for a setup
    ///   whose public key is not a valid element or does not match the header's key identifier;
    ///   ``UnbalancedPSIError/invalidResponseProof(path:proof:reason:)`` for a proof scalar that
    ///   is not below ℓ.
    static func decode(_ block: MessageExtensions, kind: UnbalancedMessageKind, answerMode: UnbalancedAnswerMode,
                       itemCount: Int, keyID: HubKeyID, path: String) throws -> UnbalancedFields {
        func record(_ type: MessageExtensions.RecordType, length: Int) throws -> [UInt8] {
            try block.required(type, length: length, path: path)
        }
        var fields = UnbalancedFields()
        switch kind {
        case .setup, .setupDelta:
            let bytes = try record(.hubPublicKey, length: GroupElement.byteCount)
            guard let key = try? GroupElement(validating: bytes) else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "its hub public key is not a valid ristretto255 element")
            }
            guard HubKeyID(publicKey: key) == keyID else {
                throw UnbalancedPSIError.invalidSetup(path: path, reason: "its hub public key has key id \(HubKeyID(publicKey: key)), not the header's \(keyID)")
            }
            fields.publicKey = key
        case .request:
            fields.setupDigest = try record(.setupDigest, length: MessageHeader.digestByteCount)
        case .response:
            guard answerMode == .intersection else { return fields }
            let count = OPRF.verifiableParameters.dleq.proofCount(pairs: itemCount)
            let bytes = try record(.dleqProofs, length: count * DLEQProof.byteCount)
            fields.proofs = try (0..<count).map { index in
                let offset = index * DLEQProof.byteCount
                do { return try DLEQProof(rawRepresentation: bytes[offset..<(offset + DLEQProof.byteCount)]) } catch {
                    throw UnbalancedPSIError.invalidResponseProof(path: path, proof: index, reason: "is not a proof encoding (a scalar is not below the group order)")
                }
            }
        }
        return fields
    }
}
