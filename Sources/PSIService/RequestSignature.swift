public import Foundation
public import SodiumPSI
internal import CSodium

/// The HTTP request-signing scheme of the hub service (Docs/service.md, "Authentication").
///
/// Every request that names a member is signed by the member's Ed25519 identity over
///
/// ```
/// "SodiumPSI-HTTP-Request-V2" LF HUB LF METHOD LF PATH LF TIMESTAMP LF REQUEST-ID LF hex(SHA-256(body))
/// ```
///
/// (HUB the 64 hex digits of the hub's identity key the request is meant for, PATH with its
/// query, TIMESTAMP in decimal Unix seconds), sent in the headers `PSI-Hub` (that hub key),
/// `PSI-Member` (64 hex digits of the member's key), `PSI-Timestamp`, `PSI-Request-ID` (16 to
/// 64 of `[A-Za-z0-9_-]`) and `PSI-Signature` (128 hex digits). The leading label keeps these
/// signatures apart from message-file signatures by the same key; the hub key keeps a request
/// signed for one hub from being replayed to another hub that knows the same member key.
public struct RequestSignature: Sendable, Equatable {
    /// Header names.
    public static let hubHeader = "PSI-Hub"
    public static let memberHeader = "PSI-Member"
    public static let timestampHeader = "PSI-Timestamp"
    public static let requestIDHeader = "PSI-Request-ID"
    public static let signatureHeader = "PSI-Signature"
    static let label = "SodiumPSI-HTTP-Request-V2"

    /// The signer.
    public let member: PartyPublicKey
    /// Unix seconds.
    public let timestamp: Int64
    /// The request id (the ledger's key with the member).
    public let requestID: String
    /// The Ed25519 signature.
    public let signature: [UInt8]

    /// The bytes signed.
    public static func signedBytes(hub: PartyPublicKey, method: String, path: String, timestamp: Int64, requestID: String,
                                   bodyDigest: [UInt8]) -> [UInt8] {
        Array("\(label)\n\(hub.hex)\n\(method.uppercased())\n\(path)\n\(timestamp)\n\(requestID)\n\(hex(bodyDigest))".utf8)
    }

    /// Signs a request for the hub whose identity key is `hub`.
    public static func sign(hub: PartyPublicKey, method: String, path: String, body: [UInt8], requestID: String, identity: PartyIdentity,
                            now: Date = Date()) -> [(String, String)] {
        let timestamp = Int64(now.timeIntervalSince1970.rounded(.down))
        let signature = identity.signature(of: signedBytes(hub: hub, method: method, path: path, timestamp: timestamp, requestID: requestID,
                                                           bodyDigest: sha256(body)))
        return [(hubHeader, hub.hex), (memberHeader, identity.publicKey.hex), (timestampHeader, String(timestamp)), (requestIDHeader, requestID),
                (signatureHeader, hex(signature))]
    }

    /// Why a request's signature headers were refused.
    public enum Refusal: Error, Equatable, Sendable {
        case missing(header: String)
        case malformed(header: String, expected: String)
        case unknownMember(fingerprint: String)
        case otherHub(signedFor: String, thisHub: String)
        case badSignature
        case outsideClockWindow(skewSeconds: Int64, windowSeconds: Int)

        /// A sentence for the member.
        public var reason: String {
            switch self {
            case .missing(let h): "the header \(h) is missing"
            case .malformed(let h, let expected): "the header \(h) is malformed; expected \(expected)"
            case .unknownMember(let f): "the key \(f) is not a member of this hub"
            case .otherHub(let other, let this): "the request is signed for the hub \(other); this hub is \(this)"
            case .badSignature: "the request signature does not verify (hub, method, path, timestamp, request id and body SHA-256 under the member's key)"
            case .outsideClockWindow(let skew, let window): "the request's timestamp is \(skew) s from the hub's clock; accepted within \(window) s"
            }
        }
        /// A short code for metrics and the JSON error body.
        public var code: String {
            switch self {
            case .missing, .malformed: "missing_or_malformed_signature"
            case .unknownMember: "unknown_member"
            case .otherHub: "other_hub"
            case .badSignature: "bad_signature"
            case .outsideClockWindow: "outside_clock_window"
            }
        }
    }

    /// Parses and verifies the headers of a request.
    ///
    /// - Parameters:
    ///   - hub: this hub's identity key: a request signed for another hub is refused (its
    ///     `PSI-Hub` header names the other), and the signature is checked over this key.
    ///   - isMember: the members' keys; an unknown key is refused before its signature is checked.
    public static func verify(headers: (String) -> String?, hub: PartyPublicKey, method: String, path: String, body: [UInt8],
                              isMember: (PartyPublicKey) -> Bool, now: Date, windowSeconds: Int) throws(Refusal) -> RequestSignature {
        func value(_ name: String) throws(Refusal) -> String {
            guard let v = headers(name) else { throw .missing(header: name) }
            return v
        }
        guard let signedFor = try? PartyPublicKey(hex: try value(hubHeader)) else {
            throw .malformed(header: hubHeader, expected: "64 hex digits of the hub's Ed25519 identity key")
        }
        guard let member = try? PartyPublicKey(hex: try value(memberHeader)) else {
            throw .malformed(header: memberHeader, expected: "64 hex digits of an Ed25519 public key")
        }
        guard let timestamp = Int64(try value(timestampHeader)) else { throw .malformed(header: timestampHeader, expected: "Unix seconds") }
        let requestID = try value(requestIDHeader)
        guard isValidRequestID(requestID) else { throw .malformed(header: requestIDHeader, expected: "16 to 64 characters of A-Z a-z 0-9 _ -") }
        guard let signature = unhex(try value(signatureHeader)), signature.count == 64 else {
            throw .malformed(header: signatureHeader, expected: "128 hex digits of an Ed25519 signature")
        }
        guard signedFor == hub else { throw .otherHub(signedFor: signedFor.fingerprint, thisHub: hub.fingerprint) }
        guard isMember(member) else { throw .unknownMember(fingerprint: member.fingerprint) }
        let bytes = signedBytes(hub: hub, method: method, path: path, timestamp: timestamp, requestID: requestID, bodyDigest: sha256(body))
        guard member.isValidSignature(signature, of: bytes) else { throw .badSignature }
        let skew = timestamp - Int64(now.timeIntervalSince1970.rounded(.down))
        guard abs(skew) <= Int64(windowSeconds) else { throw .outsideClockWindow(skewSeconds: skew, windowSeconds: windowSeconds) }
        return RequestSignature(member: member, timestamp: timestamp, requestID: requestID, signature: signature)
    }

    /// Whether `id` is a valid request id.
    public static func isValidRequestID(_ id: String) -> Bool {
        (16...64).contains(id.utf8.count) && id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }
}

/// Lower-case hex.
package func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// Bytes from hex, or nil.
package func unhex(_ text: String) -> [UInt8]? {
    let u = Array(text.utf8)
    guard u.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    var out = [UInt8]()
    out.reserveCapacity(u.count / 2)
    var i = 0
    while i < u.count {
        guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
        out.append(h << 4 | l)
        i += 2
    }
    return out
}
