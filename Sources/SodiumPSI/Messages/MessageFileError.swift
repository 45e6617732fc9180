public import Foundation

/// Why a message file was refused or could not be written. Every case names the file.
///
/// Messages carry public facts only (header fields, digests, positions), never element bytes.
public enum MessageFileError: Error, Sendable, Equatable {
    /// The file could not be opened, read or written.
    case io(path: String, reason: String)
    /// The file does not start with the message magic.
    case badMagic(path: String)
    /// A format version this library does not read.
    case unsupportedVersion(path: String, found: UInt16, supported: UInt16)
    /// Another (or an unknown) suite.
    case suiteMismatch(path: String, found: String, expected: String)
    /// Another (or an unknown) protocol.
    case protocolMismatch(path: String, found: String, expected: String)
    /// A message of another protocol step.
    case wrongStep(path: String, found: String, expected: String)
    /// Another protocol mode (for mutual PSI, another outcome).
    case modeMismatch(path: String, found: String, expected: String)
    /// Elements of another size.
    case elementSizeMismatch(path: String, found: Int, expected: Int)
    /// Made under another purpose label (digests in hex).
    case purposeMismatch(path: String, found: String, expected: String)
    /// Belongs to another session.
    case sessionMismatch(path: String, found: String, expected: String)
    /// Made under another key.
    case keyMismatch(path: String, found: String, expected: String)
    /// Declares another number of elements than the protocol requires here.
    case countMismatch(path: String, found: Int, expected: Int)
    /// Declares more elements than the local policy accepts.
    case peerSetTooLarge(path: String, count: Int, limit: Int)
    /// Declares more elements than any file can hold (the declared count, as stored).
    case countTooLarge(path: String, count: UInt64, elementSize: Int, length: Int)
    /// Shorter than its header says.
    case truncated(path: String, length: Int, expected: Int)
    /// Longer than its header says.
    case trailingBytes(path: String, length: Int, expected: Int)
    /// The trailing SHA-256 does not match the content: corrupted or altered.
    case digestMismatch(path: String)
    /// An element is not valid for the suite (see `reason`).
    case invalidElement(path: String, index: Int, reason: String)
    /// An element repeats an earlier one.
    case duplicateElement(path: String, index: Int, firstIndex: Int)
    /// A writer was committed with another number of elements than its header declares.
    case writtenCountMismatch(path: String, written: Int, declared: Int)
    /// Signed by a party that is not trusted for this step (`sender` is its fingerprint;
    /// `expected` names the trusted keys).
    case untrustedSender(path: String, sender: String, expected: String)
    /// Addressed to another party than the reader (fingerprints, or "any reader").
    case wrongRecipient(path: String, found: String, expected: String)
    /// The sender's signature of the stored digest does not verify: the header or the digest was
    /// altered, or the file was not made by the sender it names (`sender` is its fingerprint).
    case badSignature(path: String, sender: String)
    /// Made from another identifier type (kind, case folding) than the one agreed.
    case identifierTypeMismatch(path: String, found: String, expected: String)
    /// The header's extension block is malformed.
    case badExtensionBlock(path: String, problem: ExtensionBlockProblem)
    /// The header lacks the extension record its step requires, or holds it with the wrong
    /// length or an invalid value (`type` is the record type; see ``MessageExtensions/RecordType``).
    case badExtensionRecord(path: String, type: UInt8, reason: String)
    /// Verifiable mutual PSI: proof `proof` of step 3 does not verify against the initiator's
    /// commitment `a·G`: step 3 is not the responder's set re-blinded, in the order sent, with
    /// the scalar the initiator committed to in step 1. No result is produced.
    case invalidProof(path: String, proof: Int)
}

extension MessageFileError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .badMagic(path):
            return "\(path): not a SodiumPSI message file (bad magic); expected a file starting with SPSI\\r\\n\\x1a\\n — was it transferred in text mode?"
        case let .unsupportedVersion(path, found, supported) where found < supported:
            return "\(path): format version \(found) is no longer read; re-run the exchange with this version (it writes and reads version \(supported))"
        case let .unsupportedVersion(path, found, supported):
            return "\(path): message format version \(found); this version of the library reads version \(supported)"
        case let .suiteMismatch(path, found, expected):
            return "\(path): message uses suite \(found); expected suite \(expected)"
        case let .protocolMismatch(path, found, expected):
            return "\(path): message belongs to the \(found) protocol; expected the \(expected) protocol"
        case let .wrongStep(path, found, expected):
            return "\(path): message is a \(found); expected a \(expected)"
        case let .modeMismatch(path, found, expected):
            return "\(path): message was made for \(found); expected \(expected) (both sides must use the same outcome)"
        case let .elementSizeMismatch(path, found, expected):
            return "\(path): elements are \(found) bytes; expected \(expected)"
        case let .purposeMismatch(path, found, expected):
            return "\(path): message was made under purpose label digest \(found); expected \(expected) (both sides must use the same --purpose)"
        case let .sessionMismatch(path, found, expected):
            return "\(path): message belongs to session \(found); expected session \(expected)"
        case let .keyMismatch(path, found, expected):
            return "\(path): message was made under key \(found); expected key \(expected)"
        case let .countMismatch(path, found, expected):
            return "\(path): message holds \(found) elements; expected \(expected)"
        case let .peerSetTooLarge(path, count, limit):
            return "\(path): the peer's set holds \(count) items, more than the allowed maximum of \(limit) (--max-peer-items)"
        case let .countTooLarge(path, count, elementSize, length):
            return "\(path): header declares \(count) elements of \(elementSize) bytes, more than any file can hold; the file is \(length) bytes"
        case let .truncated(path, length, expected):
            return "\(path): file is truncated: \(length) bytes; expected \(expected) bytes"
        case let .trailingBytes(path, length, expected):
            return "\(path): file has trailing bytes: \(length) bytes; expected \(expected) bytes"
        case let .digestMismatch(path):
            return "\(path): content does not match its SHA-256 digest; the file is corrupted or was altered"
        case let .invalidElement(path, index, reason):
            return "\(path): element \(index) is invalid: \(reason)"
        case let .duplicateElement(path, index, firstIndex):
            return "\(path): element \(index) repeats element \(firstIndex); expected distinct elements"
        case let .writtenCountMismatch(path, written, declared):
            return "\(path): \(written) elements were written but the header declares \(declared); nothing was saved"
        case let .untrustedSender(path, sender, expected):
            return "\(path): message is signed by \(sender), which is not trusted here; expected a message from \(expected)"
        case let .wrongRecipient(path, found, expected):
            return "\(path): message is addressed to \(found); expected a message for \(expected) (this party)"
        case let .badSignature(path, sender):
            return "\(path): the signature does not verify with the sender's key \(sender); the file was altered or was not made by that sender"
        case let .identifierTypeMismatch(path, found, expected):
            return "\(path): message was made from \(found); expected \(expected) (both sides must declare the same identifier kind and case folding)"
        case let .badExtensionBlock(path, problem):
            return "\(path): bad header extension block: \(problem)"
        case let .badExtensionRecord(path, type, reason):
            return "\(path): header extension record \(type) \(reason)"
        case let .invalidProof(path, proof):
            return "\(path): proof \(proof) does not verify against the initiator's commitment a·G: step 3 is not the responder's set re-blinded in the order sent with the committed scalar; no result is produced"
        }
    }
}
