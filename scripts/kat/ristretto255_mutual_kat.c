/*
 * Independent computation of the ristretto255-SHA512 mutual-PSI known answers used by
 * Tests/SodiumPSITests/RistrettoMutualKATTests.swift, written directly against libsodium's C API
 * (no code shared with the Swift library).
 *
 *   cc -O2 -o /tmp/ristretto255_kat scripts/kat/ristretto255_mutual_kat.c -lsodium
 *   /tmp/ristretto255_kat PURPOSE SESSION_HEX INITIATOR_SEED_HEX RESPONDER_SEED_HEX KIND FLAGS ITEM_HEX...
 *
 * The hashed context is built from its fields (kat_common.h; suite 1); ITEM_HEX: each item's
 * encoding (kind tag, then the canonical value's UTF-8 bytes). For each item it prints
 * H = hash_to_ristretto255(CONTEXT || ITEM) under DST "SodiumPSI-V1-mutual-ristretto255-SHA512"
 * (expand_message_xmd, SHA-512, 64 bytes, then crypto_core_ristretto255_from_hash), a·H, b·H,
 * a·b·H (computed both ways and compared), and the comparison hashes C3 and C4 of a·b·H (all
 * 64 bytes; a message keeps the first L).
 *
 * Before anything else the program reproduces RFC 9380 Appendix K.3's first expand_message_xmd
 * (SHA-512) vector with the same code.
 *
 * Secrets (little-endian scalars, below the group order): a = 01 02 ... 1f 00,
 * b = a0 a1 ... be 00, as in Docs/protocol.md's worked example.
 */
#include "kat_common.h"

static const char DST[] = "SodiumPSI-V1-mutual-ristretto255-SHA512";

static void rfc9380_vector(void) {
    unsigned char out[32], expected[32];
    expand_message_xmd(out, 32, (const unsigned char *) "", 0, "QUUX-V01-CS02-with-expander-SHA512-256");
    unhex(expected, 32, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba");
    if (memcmp(out, expected, 32) != 0) { fprintf(stderr, "RFC 9380 K.3 vector differs\n"); exit(3); }
    printf("rfc9380 K.3 expand_message_xmd(SHA-512): vector reproduced\n");
}

static void multiply(unsigned char q[32], const unsigned char n[32], const unsigned char p[32]) {
    if (crypto_scalarmult_ristretto255(q, n, p) != 0) { fprintf(stderr, "multiplication failed\n"); exit(4); }
}

int main(int argc, char **argv) {
    if (sodium_init() < 0) return 1;
    unsigned char msg[4096];
    size_t plen = context_from_arguments(msg, 1, argc, argv);
    rfc9380_vector();
    unsigned char a[32] = { 0 }, b[32] = { 0 };
    for (int i = 0; i < 31; i++) { a[i] = (unsigned char) (i + 1); b[i] = (unsigned char) (0xa0 + i); }
    for (int k = 7; k < argc; k++) {
        size_t ilen = unhex(msg + plen, sizeof msg - plen, argv[k]);
        unsigned char uniform[64], h[32], ah[32], bh[32], bah[32], abh[32], c3[64], c4[64];
        expand_message_xmd(uniform, 64, msg, plen + ilen, DST);
        crypto_core_ristretto255_from_hash(h, uniform);
        multiply(ah, a, h);
        multiply(bh, b, h);
        multiply(bah, b, ah);
        multiply(abh, a, bh);
        if (memcmp(bah, abh, 32) != 0) { fprintf(stderr, "blinding does not commute\n"); return 5; }
        compare_hash(c3, 3, abh);
        compare_hash(c4, 4, abh);
        hex("item", msg + plen, ilen);
        hex("  H", h, 32);
        hex("  a*H", ah, 32);
        hex("  b*H", bh, 32);
        hex("  a*b*H", abh, 32);
        hex("  C3", c3, 64);
        hex("  C4", c4, 64);
    }
    return 0;
}
