/*
 * Independent computation of the x25519-ELL2-SHA512 mutual-PSI known answers used by
 * Tests/SodiumPSITests/X25519SuiteTests.swift, written directly against libsodium's C API
 * (no code shared with the Swift library; expand_message_xmd is written out here from RFC 9380).
 *
 *   cc -O2 -o /tmp/x25519_kat scripts/kat/x25519_ell2_sha512_kat.c -lsodium && /tmp/x25519_kat PREFIX_HEX
 *
 * PREFIX_HEX is the hashed-message prefix of the exchange (Docs/protocol.md, "Hashing an item"),
 * in hex; each item's message is PREFIX || tag || value. Item to point:
 *   h = expand_message_xmd(SHA-512, message, DST = "SodiumPSI-V2-mutual-x25519-ELL2-SHA512", 64)
 *   u = crypto_sign_ed25519_pk_to_curve25519(crypto_core_ed25519_from_hash(h))
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const char *label, const unsigned char *b, size_t n) {
    printf("%s ", label);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

/* RFC 9380 §5.3.1 expand_message_xmd with SHA-512, len_in_bytes = 64 (one block). */
static void expand64(unsigned char out[64], const unsigned char *msg, size_t msg_len, const char *dst) {
    unsigned char z_pad[128] = { 0 }, b0[64], dst_len = (unsigned char) strlen(dst);
    unsigned char tail[3] = { 0, 64, 0 }, one = 1;
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, z_pad, sizeof z_pad);
    crypto_hash_sha512_update(&st, msg, msg_len);
    crypto_hash_sha512_update(&st, tail, 3);
    crypto_hash_sha512_update(&st, (const unsigned char *) dst, dst_len);
    crypto_hash_sha512_update(&st, &dst_len, 1);
    crypto_hash_sha512_final(&st, b0);
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, b0, 64);
    crypto_hash_sha512_update(&st, &one, 1);
    crypto_hash_sha512_update(&st, (const unsigned char *) dst, dst_len);
    crypto_hash_sha512_update(&st, &dst_len, 1);
    crypto_hash_sha512_final(&st, out);
}

static int item_to_u(unsigned char u[32], const unsigned char *prefix, size_t prefix_len, unsigned char tag, const char *value) {
    unsigned char msg[1024], h[64], p[32];
    size_t n = 0;
    memcpy(msg, prefix, prefix_len); n += prefix_len;
    msg[n++] = tag;
    memcpy(msg + n, value, strlen(value)); n += strlen(value);
    expand64(h, msg, n, "SodiumPSI-V2-mutual-x25519-ELL2-SHA512");
    if (crypto_core_ed25519_from_hash(p, h) != 0) return -1;
    return crypto_sign_ed25519_pk_to_curve25519(u, p);
}

int main(int argc, char **argv) {
    if (sodium_init() < 0 || argc != 2) { fprintf(stderr, "usage: %s PREFIX_HEX\n", argv[0]); return 1; }
    unsigned char prefix[512];
    size_t prefix_len;
    if (sodium_hex2bin(prefix, sizeof prefix, argv[1], strlen(argv[1]), NULL, &prefix_len, NULL) != 0) return 1;
    unsigned char a[32], b[32], u[32], au[32], bau[32], bu[32], abu[32];
    for (int i = 0; i < 32; i++) { a[i] = (unsigned char) (i + 1); b[i] = (unsigned char) (0xa0 + i); }
    const char *values[] = { "+8613800138000", "+8613912345678" };
    hex("prefix", prefix, prefix_len);
    for (int i = 0; i < 2; i++) {
        if (item_to_u(u, prefix, prefix_len, 0x01, values[i]) != 0) return 2;
        if (crypto_scalarmult_curve25519(au, a, u) != 0) return 2;
        if (crypto_scalarmult_curve25519(bau, b, au) != 0) return 2;
        if (crypto_scalarmult_curve25519(bu, b, u) != 0) return 2;
        if (crypto_scalarmult_curve25519(abu, a, bu) != 0) return 2;
        if (memcmp(bau, abu, 32) != 0) return 3;
        printf("item %s\n", values[i]);
        hex("  u", u, 32);
        hex("  a*u", au, 32);
        hex("  b*u", bu, 32);
        hex("  b*a*u", bau, 32);
    }
    return 0;
}
