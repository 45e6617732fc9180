import Foundation
import Testing
@testable import SodiumPSI

@Suite("Party identities")
struct PartyIdentityTests {
    /// RFC 8032 §7.1 test 1: the seed's public key and its signature of the empty message.
    @Test("Ed25519 keys and signatures match RFC 8032 test 1")
    func rfc8032() throws {
        let seed = try #require([UInt8](hexString: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        let identity = try PartyIdentity(seed: seed)
        #expect(identity.publicKey.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = identity.signature(of: [])
        #expect(signature.hexString == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(identity.publicKey.isValidSignature(signature, of: []))
        #expect(!identity.publicKey.isValidSignature(signature, of: [0]))
        #expect(!PartyIdentity().publicKey.isValidSignature(signature, of: []))
    }

    @Test("Public keys: hex round trip, JSON, and refusal of invalid keys")
    func publicKeys() throws {
        let key = PartyIdentity().publicKey
        #expect(try PartyPublicKey(hex: key.hex) == key)
        #expect(try JSONDecoder().decode(PartyPublicKey.self, from: JSONEncoder().encode(key)) == key)
        #expect(key.fingerprint.hasPrefix("ed25519:"))
        #expect(key.fingerprint.count == "ed25519:".count + 32 + 7)
        #expect(throws: PSIError.invalidPublicKey) { try PartyPublicKey(bytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: PSIError.invalidPublicKey) { try PartyPublicKey(hex: "zz" + key.hex.dropFirst(2)) }
        #expect(throws: PSIError.invalidLength(what: "Ed25519 public key", length: 31, expected: 32)) {
            try PartyPublicKey(bytes: Array(key.bytes.prefix(31)))
        }
        #expect(throws: PSIError.invalidLength(what: "identity seed", length: 16, expected: 32)) {
            try PartyIdentity(seed: [UInt8](repeating: 1, count: 16))
        }
    }
}
