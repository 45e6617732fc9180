/*
 * Independent computation of the x25519-ELL2-SHA512 mutual-PSI known answers used by
 * Tests/SodiumPSITests/X25519SuiteTests.swift, written directly against libsodium's C API
 * (no code shared with the Swift library).
 *
 *   cc -O2 -o /tmp/x25519_kat scripts/kat/x25519_ell2_sha512_kat.c -lsodium
 *   /tmp/x25519_kat PURPOSE SESSION_HEX INITIATOR_SEED_HEX RESPONDER_SEED_HEX KIND FLAGS ITEM_HEX...
 *
 * The hashed context is built here from its fields (kat_common.h: the purpose label, the
 * session, the two parties' Ed25519 seeds, the identifier kind and flags; suite 3); ITEM_HEX:
 * each item's encoding (kind tag, then the canonical value's UTF-8 bytes). The test gives the
 * command line.
 *
 * Item to point: u = u-coordinate of RFC 9380 encode_to_curve, suite
 * curve25519_XMD:SHA-512_ELL2_NU_, msg = CONTEXT || ITEM,
 * DST = "SodiumPSI-V2-mutual-x25519-ELL2-SHA512": expand_message_xmd (SHA-512, 48 bytes)
 * read as a big-endian integer mod p, Elligator 2, cofactor clearing. Here: 16 zero bytes and
 * those 48 bytes into crypto_core_ed25519_from_hash (which reads 64 bytes big-endian mod p),
 * then crypto_sign_ed25519_pk_to_curve25519.
 *
 * Before anything else the program reproduces RFC 9380 Appendix J.4.2 (the suite's own test
 * vectors, P.x) with the same code. It checks every value it prints along a second route: the
 * same products computed on Edwards points with crypto_scalarmult_ed25519 (whose clamping is
 * X25519's), each a valid point of the prime-order subgroup (crypto_core_ed25519_is_valid_point)
 * whose Montgomery u-coordinate is the printed value.
 *
 * Secrets: a = 01 02 ... 20, b = a0 a1 ... bf (32 bytes each), clamped by X25519.
 */
#include "kat_common.h"

static const char DST[] = "SodiumPSI-V2-mutual-x25519-ELL2-SHA512";

/* encode_to_curve: the Edwards point (prime-order subgroup) and its Montgomery u. */
static void encode_to_curve(unsigned char ed[32], unsigned char u[32], const unsigned char *msg, size_t mlen,
                            const char *dst) {
    unsigned char wide[64] = { 0 };
    expand_message_xmd(wide + 16, 48, msg, mlen, dst);
    if (crypto_core_ed25519_from_hash(ed, wide) != 0 || crypto_sign_ed25519_pk_to_curve25519(u, ed) != 0) {
        fprintf(stderr, "map failed\n");
        exit(2);
    }
}

/* RFC 9380 J.4.2: P.x (big-endian, as the RFC prints it) for each message. */
static void rfc9380_vectors(void) {
    static const char *px[] = {
        "1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08",
        "7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026",
        "31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52",
        "027877759d155b1997d0d84683a313eb78bdb493271d935b622900459d52ceaa",
        "5fd892c0958d1a75f54c3182a18d286efab784e774d1e017ba2fb252998b5dc1",
    };
    static const char *fixed[] = { "", "abc", "abcdef0123456789" };
    unsigned char msg[5 + 512];
    for (int k = 0; k < 5; k++) {
        size_t mlen;
        if (k < 3) { mlen = strlen(fixed[k]); memcpy(msg, fixed[k], mlen); }
        else if (k == 3) { memcpy(msg, "q128_", 5); memset(msg + 5, 'q', 128); mlen = 133; }
        else { memcpy(msg, "a512_", 5); memset(msg + 5, 'a', 512); mlen = 517; }
        unsigned char ed[32], u[32], expected[32];
        encode_to_curve(ed, u, msg, mlen, "QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_");
        unhex(expected, 32, px[k]);
        for (int i = 0; i < 32; i++) {
            if (u[i] != expected[31 - i]) { fprintf(stderr, "RFC 9380 J.4.2 vector %d differs\n", k); exit(3); }
        }
    }
    printf("rfc9380 J.4.2 curve25519_XMD:SHA-512_ELL2_NU_: 5 of 5 vectors reproduced\n");
}

/* q = X25519(n, p) and, along the Edwards route, qed = n·ped, which must be a valid
 * prime-order point whose u-coordinate is q. */
static void multiply(unsigned char q[32], unsigned char qed[32], const unsigned char n[32],
                     const unsigned char p[32], const unsigned char ped[32]) {
    unsigned char check[32];
    if (crypto_scalarmult_curve25519(q, n, p) != 0 || crypto_scalarmult_ed25519(qed, n, ped) != 0 ||
        crypto_core_ed25519_is_valid_point(qed) != 1 || crypto_sign_ed25519_pk_to_curve25519(check, qed) != 0 ||
        memcmp(check, q, 32) != 0) {
        fprintf(stderr, "a product is not the u-coordinate of a prime-order point\n");
        exit(4);
    }
}

int main(int argc, char **argv) {
    if (sodium_init() < 0) return 1;
    unsigned char msg[4096];
    size_t plen = context_from_arguments(msg, 3, argc, argv);
    rfc9380_vectors();
    unsigned char a[32], b[32];
    for (int i = 0; i < 32; i++) { a[i] = (unsigned char) (i + 1); b[i] = (unsigned char) (0xa0 + i); }
    for (int k = 7; k < argc; k++) {
        size_t ilen = unhex(msg + plen, sizeof msg - plen, argv[k]);
        unsigned char ed[32], u[32], au[32], aed[32], bu[32], bed[32], bau[32], baed[32], abu[32], abed[32];
        encode_to_curve(ed, u, msg, plen + ilen, DST);
        multiply(au, aed, a, u, ed);
        multiply(bu, bed, b, u, ed);
        multiply(bau, baed, b, au, aed);
        multiply(abu, abed, a, bu, bed);
        if (memcmp(bau, abu, 32) != 0) { fprintf(stderr, "blinding does not commute\n"); return 5; }
        hex("item", msg + plen, ilen);
        hex("  u", u, 32);
        hex("  a*u", au, 32);
        hex("  b*u", bu, 32);
        hex("  b*a*u", bau, 32);
    }
    return 0;
}
