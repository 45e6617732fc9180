/// The bytes hashed before every item, in mutual and in unbalanced PSI: the public facts of the
/// exchange, so that a value blinded in one exchange is useless in any other.
///
/// An unambiguous encoding: each field is `I2OSP(len(field), 2) || field`, in this order.
///
/// | field | mutual | unbalanced |
/// | --- | --- | --- |
/// | tag | `SodiumPSI-mutual-context` | `SodiumPSI-unbalanced-context` |
/// | context version | `01` | `01` |
/// | suite id | the exchange's | `01` (ristretto255-SHA512) |
/// | purpose | SHA-256 of the purpose label (32 bytes) | the same |
/// | initiator | the initiator's Ed25519 identity key (32 bytes) | — |
/// | responder | the responder's Ed25519 identity key (32 bytes) | — |
/// | session | the initiator's session identifier (16 bytes) | — |
/// | identifier type | kind tag and flags (2 bytes, as in the message header) | the same |
///
/// The mutual context is 156 bytes; absorbed once after RFC 9380's 128-byte zero block, it
/// leaves 28 bytes in the cached SHA-512 state, so a phone number's hash still needs one
/// compression before the two of `expand_message_xmd`'s output blocks, as without a context.
///
/// An unbalanced hub evaluates its list once for every member, so the members' identities
/// cannot enter its OPRF inputs; signatures and the setup digest bind a query to its parties
/// and its setup instead (see `Docs/threat-model.md`).
struct HashedContext: Sendable, Equatable {
    /// The version of this encoding (its fields and their order). Message format version 3
    /// carries values hashed under context version 1; a change of either bumps the format version.
    static let version: UInt8 = 1
    static let mutualTag = Array("SodiumPSI-mutual-context".utf8)
    static let unbalancedTag = Array("SodiumPSI-unbalanced-context".utf8)

    /// The encoded context.
    let bytes: [UInt8]

    /// The context of a mutual exchange: both parties, the session, suite, purpose and identifier type.
    init(mutual context: ExchangeContext) {
        bytes = Self.encode([Self.mutualTag, [Self.version], [context.suite.rawValue], context.purposeDigest,
                             context.initiator.bytes, context.responder.bytes, context.sessionID.bytes,
                             context.identifierType.headerBytes])
    }

    /// The context of an unbalanced setup and its queries: purpose and identifier type.
    init(unbalancedPurpose purpose: PurposeLabel, identifierType: IdentifierType) {
        bytes = Self.encode([Self.unbalancedTag, [Self.version], [PSISuite.ristretto255SHA512.rawValue], purpose.digest,
                             identifierType.headerBytes])
    }

    private static func encode(_ fields: [[UInt8]]) -> [UInt8] {
        fields.flatMap { i2osp2($0.count) + $0 }
    }
}

extension IdentifierType {
    /// Header bytes 16–17: the kind tag and the flags.
    var headerBytes: [UInt8] { [kind.rawValue, flags] }
}
