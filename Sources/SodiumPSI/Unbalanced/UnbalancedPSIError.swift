public import Foundation

/// Why an unbalanced-PSI step refused its input. Every case that concerns a file names it.
///
/// Messages carry public facts only (key identifiers, counts, parameters), never an element,
/// a tag, a blind or an item.
public enum UnbalancedPSIError: Error, Sendable, Equatable {
    /// A request was made against a setup under another key: the hub has rotated its key (or
    /// the member used another hub's setup). The member must fetch the current setup.
    case requestUnderOtherKey(path: String, requestKeyID: String, hubKeyID: String)
    /// A response was made under another key than the setup the request was made for.
    case responseUnderOtherKey(path: String, responseKeyID: String, setupKeyID: String)
    /// A setup (or delta) was made under another key than the request: a stale setup after a
    /// rotation, or another hub's.
    case setupUnderOtherKey(path: String, setupKeyID: String, requestKeyID: String)
    /// A request holds more items than the hub's policy allows.
    case requestTooLarge(path: String, count: Int, limit: Int)
    /// A message of another answer mode (intersection or cardinality-only).
    case answerModeMismatch(path: String, found: String, expected: String)
    /// A setup delta that does not belong to the base setup given with it.
    case deltaBaseMismatch(path: String, found: String, expected: String)
    /// A setup delta in another encoding than its base.
    case encodingMismatch(path: String, found: String, expected: String)
    /// A setup whose body is not a valid encoding (bad filter parameters, body length…).
    case invalidSetup(path: String, reason: String)
    /// A hub key file that is not a key file of this library, or is damaged.
    case invalidKeyFile(path: String, reason: String)
    /// `keygen` would overwrite an existing key without being asked to rotate it.
    case keyFileExists(path: String)
    /// An encoding parameter out of range (tag length, false-positive rate).
    case invalidEncodingParameter(reason: String)
    /// A request or response element is invalid (the identity, not canonical, or a repeat).
    case invalidElement(path: String, index: Int, reason: String)
    /// The setup given to finish a query is not the one the request was made against.
    case setupMismatch(path: String, setupDigest: String, requestSetupDigest: String)
    /// An intersection-mode response's DLEQ proof does not decode or does not verify against
    /// the setup's public key: the hub did not answer with the setup's key (or the response was
    /// altered). No result is produced.
    case invalidResponseProof(path: String, proof: Int, reason: String)
    /// A label's fields are not valid (a date that is not `YYYY-MM-DD`, a count out of range,
    /// a control character, or an item given twice with labels); `index` is the item's position.
    case invalidLabel(index: Int, reason: String)
    /// A label's fields take more bytes than the setup's fixed label size.
    case labelTooLong(index: Int, length: Int, maximum: Int)
    /// A label column of a list row holds a value that is not valid for its field (`field`
    /// names the column, e.g. "first seen column"), or the label aggregated for the
    /// identifier first given on this row does not fit (`field` is "label").
    case invalidLabelValue(path: String, line: Int, field: String, reason: String)
    /// The label of a matching entry does not authenticate under the key of the member's item:
    /// the setup was altered, the label was sealed under another key, or (with probability
    /// about the setup's false-positive rate) another item's tag equals the member's. No result
    /// is produced.
    case labelAuthenticationFailed(path: String, entry: Int)
    /// A label decrypts but its fields do not decode (the hub wrote a malformed label).
    case invalidDecryptedLabel(path: String, entry: Int, reason: String)
    /// Deltas are applied in order 1, 2, 3, …; this one has another number than expected (a
    /// delta is missing, repeated, or given out of order).
    case deltaOutOfOrder(path: String, found: Int, expected: Int)
    /// Labels were asked for where they cannot be used.
    case labelsNotSupported(reason: String)
}

extension UnbalancedPSIError: LocalizedError {
    /// What was refused, in which file, what was found and what was expected.
    public var errorDescription: String? {
        switch self {
        case let .requestUnderOtherKey(path, requestKeyID, hubKeyID):
            return "\(path): request was made under key \(requestKeyID); the hub's key is \(hubKeyID): the member must fetch the current setup and make a new request"
        case let .responseUnderOtherKey(path, responseKeyID, setupKeyID):
            return "\(path): response was made under key \(responseKeyID); expected key \(setupKeyID), the key of the setup the request was made for"
        case let .setupUnderOtherKey(path, setupKeyID, requestKeyID):
            return "\(path): setup was made under key \(setupKeyID); the request was made under key \(requestKeyID) (a stale setup after a key rotation, or another hub's): use the setup the request was made from"
        case let .requestTooLarge(path, count, limit):
            return "\(path): request holds \(count) items, more than the hub's maximum of \(limit) (--max-request-items); a member querying every possible value would learn the whole list"
        case let .answerModeMismatch(path, found, expected):
            return "\(path): message asks for \(found) answers; expected \(expected)"
        case let .deltaBaseMismatch(path, found, expected):
            return "\(path): delta belongs to setup \(found); expected a delta of setup \(expected)"
        case let .encodingMismatch(path, found, expected):
            return "\(path): setup is encoded as \(found); expected \(expected) like its base setup"
        case let .invalidSetup(path, reason):
            return "\(path): not a usable setup: \(reason)"
        case let .invalidKeyFile(path, reason):
            return "\(path): not a usable hub key file: \(reason)"
        case let .keyFileExists(path):
            return "\(path): a hub key file already exists; pass --rotate to replace it (setups and requests under the old key will then be refused)"
        case let .invalidEncodingParameter(reason):
            return "invalid setup encoding: \(reason)"
        case let .invalidElement(path, index, reason):
            return "\(path): element \(index) is invalid: \(reason)"
        case let .setupMismatch(path, setupDigest, requestSetupDigest):
            return "\(path): setup has digest \(setupDigest); the request was made against setup \(requestSetupDigest): finish with the setup the request was made from"
        case let .invalidResponseProof(path, proof, reason):
            return "\(path): proof \(proof) of the response \(reason); no result is produced"
        case let .invalidLabel(index, reason):
            return "the label of item \(index) is invalid: \(reason)"
        case let .labelTooLong(index, length, maximum):
            return "the label of item \(index) takes \(length) bytes, more than the setup's fixed label size of \(maximum) bytes (--label-bytes; shorten the note or raise the size)"
        case let .invalidLabelValue(path, line, field, reason):
            return "\(path), line \(line): the \(field) \(reason)"
        case let .labelAuthenticationFailed(path, entry):
            return "\(path): the label of entry \(entry), whose tag matches one of your items, does not authenticate under that item's key: the setup was altered or the label was sealed under another key; no result is produced"
        case let .invalidDecryptedLabel(path, entry, reason):
            return "\(path): the label of entry \(entry) decrypts but is malformed: \(reason)"
        case let .deltaOutOfOrder(path, found, expected):
            return "\(path): this is delta \(found) of its setup; expected delta \(expected): deltas are applied in order 1, 2, 3, … and none may be missing or repeated"
        case let .labelsNotSupported(reason):
            return "labels cannot be used here: \(reason)"
        }
    }
}
