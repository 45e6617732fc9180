public import Foundation

/// Every error the `SodiumPSI` library throws.
///
/// Cases carry only public facts (sizes, positions, digests of public labels); never a secret
/// scalar, a blind, or an un-blinded item.
public enum PSIError: Error, Sendable, Equatable {
    // MARK: Group elements and scalars
    /// A group element or scalar had the wrong number of bytes.
    case invalidLength(what: String, length: Int, expected: Int)
    /// Bytes that are not the canonical encoding of a ristretto255 element.
    case invalidElementEncoding(index: Int?)
    /// The identity element, which is never a valid blinded or evaluated element.
    case identityElement(index: Int?)
    /// A scalar that is not reduced modulo the group order ℓ.
    case nonCanonicalScalar
    /// The zero scalar, which would map every element to the identity.
    case zeroScalar
    /// A scalar multiplication produced the identity (only possible with invalid inputs).
    case scalarMultiplicationFailed
    /// An all-zero x25519 value, which no honest blinding produces.
    case zeroValue(index: Int?)
    /// An x25519 value of low order: multiplying it gives the all-zero value.
    case lowOrderElement(index: Int?)
    /// An x25519 value that is not the u-coordinate of a point of Curve25519's prime-order
    /// subgroup: a point of the twist, or a curve point with a small-order component. Every
    /// value an honest peer sends lies in that subgroup.
    case outsidePrimeOrderSubgroup(index: Int?)
    /// The same element appears twice in a set received from the peer.
    case duplicateElement(index: Int, firstIndex: Int)

    // MARK: OPRF
    /// RFC 9497 DeriveKeyPair found no non-zero scalar within 256 attempts.
    case deriveKeyPairError
    /// An input hashed to the identity element (RFC 9497 InvalidInputError).
    case invalidInput
    /// The numbers of inputs, blinds and evaluated elements of a batch differ.
    case batchSizeMismatch(inputs: Int, blinds: Int, evaluatedElements: Int)
    /// An input, key-info string or label longer than the length prefix allows.
    case inputTooLong(what: String, length: Int, maximum: Int)
    /// A batch was made in another RFC 9497 mode than the step given it (base mode has no
    /// proof to check; verifiable mode must not be finalised without one).
    case oprfModeMismatch(expected: String, found: String)

    // MARK: DLEQ proofs
    /// A DLEQ statement's inputs and outputs differ in number.
    case proofBatchMismatch(inputs: Int, outputs: Int)
    /// One DLEQ proof covers 1 to 65,535 pairs (RFC 9497 numbers them with two bytes).
    case proofBatchSize(count: Int, maximum: Int)
    /// A batch carries another number of DLEQ proofs than its size requires (one per 65,535 pairs).
    case proofCountMismatch(count: Int, expected: Int)
    /// A DLEQ proof does not verify: the outputs it covers were not all made with the
    /// committed key, or the proof or an element was altered. `index` is the proof's position
    /// (0 for a batch of at most 65,535 pairs), so its pairs are `65,535·index ..< 65,535·(index + 1)`.
    case invalidProof(index: Int)

    // MARK: Protocol
    /// A purpose label that is empty, too long, or not valid UTF-8 text.
    case invalidPurposeLabel(reason: String)
    /// A message was made under another purpose label.
    case purposeMismatch(expected: String, found: String)
    /// A message was made under another cryptographic suite.
    case suiteMismatch(expected: String, found: String)
    /// A suite this library no longer runs, by its id (the description says which and why).
    case retiredSuite(id: UInt8)
    /// A suite name that is neither a suite nor a retired one.
    case unknownSuite(name: String, known: [String])
    /// A message belongs to another session.
    case sessionMismatch(expected: String, found: String)
    /// A message was made for another outcome (both learn, one learns, cardinality only).
    case outcomeMismatch(expected: String, found: String)
    /// A message of the wrong protocol step.
    case unexpectedMessage(expected: String, found: String)
    /// A re-blinded set does not hold as many elements as the set that was sent.
    case countMismatch(what: String, count: Int, expected: Int)
    /// The peer's set is larger than the caller's policy allows.
    case peerSetTooLarge(count: Int, limit: Int)

    // MARK: Trust
    /// Bytes that are not a valid Ed25519 public key of a party.
    case invalidPublicKey
}

extension PSIError: LocalizedError {
    public var errorDescription: String? {
        func at(_ index: Int?) -> String { index.map { " at position \($0)" } ?? "" }
        switch self {
        case let .invalidLength(what, length, expected):
            return "\(what) is \(length) bytes long; expected \(expected) bytes"
        case let .invalidElementEncoding(index):
            return "element\(at(index)) is not a canonical encoding; expected a valid 32-byte element of the exchange's suite"
        case let .identityElement(index):
            return "element\(at(index)) is the identity; expected a non-identity ristretto255 element"
        case let .zeroValue(index):
            return "element\(at(index)) is all zero; expected a blinded x25519 value"
        case let .lowOrderElement(index):
            return "element\(at(index)) is a low-order x25519 point; expected a blinded x25519 value"
        case .nonCanonicalScalar:
            return "scalar is not reduced modulo the group order; expected a canonical 32-byte little-endian scalar below ℓ"
        case .zeroScalar:
            return "scalar is zero; expected a non-zero scalar"
        case .scalarMultiplicationFailed:
            return "scalar multiplication produced the identity element"
        case let .outsidePrimeOrderSubgroup(index):
            return "element\(at(index)) is not in the prime-order subgroup of Curve25519 (a point of the twist, or with a small-order component); expected a blinded x25519 value"
        case let .duplicateElement(index, firstIndex):
            return "element at position \(index) repeats the element at position \(firstIndex); expected every element of the peer's set to be distinct"
        case .deriveKeyPairError:
            return "DeriveKeyPair found no non-zero scalar in 256 attempts"
        case .invalidInput:
            return "input hashes to the identity element (RFC 9497 InvalidInputError)"
        case let .batchSizeMismatch(inputs, blinds, evaluated):
            return "batch sizes differ: \(inputs) inputs, \(blinds) blinds, \(evaluated) evaluated elements; expected equal counts"
        case let .inputTooLong(what, length, maximum):
            return "\(what) is \(length) bytes long; at most \(maximum) bytes are allowed"
        case let .oprfModeMismatch(expected, found):
            return "OPRF batch was made in \(found) mode; expected \(expected) mode"
        case let .proofBatchMismatch(inputs, outputs):
            return "DLEQ statement has \(inputs) inputs and \(outputs) outputs; expected equal counts"
        case let .proofBatchSize(count, maximum):
            return "one DLEQ proof covers 1 to \(maximum) pairs; this batch has \(count)"
        case let .proofCountMismatch(count, expected):
            return "batch carries \(count) DLEQ proofs; expected \(expected) (one per \(DLEQ.maximumBatchSize) elements)"
        case let .invalidProof(index):
            return "DLEQ proof \(index) does not verify: the elements it covers were not all evaluated with the committed key, or were altered"
        case let .invalidPurposeLabel(reason):
            return "invalid purpose label: \(reason)"
        case let .purposeMismatch(expected, found):
            return "message was made for purpose label digest \(found); expected \(expected) (both sides must agree on the purpose label)"
        case let .suiteMismatch(expected, found):
            return "message uses suite \(found); expected suite \(expected)"
        case let .retiredSuite(id):
            return "refused \(PSISuite.describeUnknown(id))"
        case let .unknownSuite(name, known):
            return "unknown suite '\(name)'; expected one of \(known.joined(separator: ", "))"
        case let .sessionMismatch(expected, found):
            return "message belongs to session \(found); expected session \(expected)"
        case let .outcomeMismatch(expected, found):
            return "message was made for outcome '\(found)'; expected '\(expected)'"
        case let .unexpectedMessage(expected, found):
            return "message is a \(found); expected a \(expected)"
        case let .countMismatch(what, count, expected):
            return "\(what) holds \(count) elements; expected \(expected)"
        case let .peerSetTooLarge(count, limit):
            return "peer's set holds \(count) items, more than the allowed maximum of \(limit)"
        case .invalidPublicKey:
            return "not a valid Ed25519 public key; expected 32 bytes (64 hex digits) of a point of the prime-order subgroup"
        }
    }
}
