/*
 * Independent computation of the x25519-sha256 mutual-PSI known answers used by
 * Tests/SodiumPSITests/X25519SuiteTests.swift, written directly against libsodium's C API
 * (no code shared with the Swift library).
 *
 *   cc -O2 -o /tmp/x25519_kat scripts/kat/x25519_sha256_kat.c -lsodium && /tmp/x25519_kat
 *
 * Item to point: u = SHA-256(I2OSP(len(DST), 1) || DST || I2OSP(len(P), 2) || P || tag || value),
 * top bit cleared; DST = "SodiumPSI-V1-mutual-x25519-SHA256".
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void hex(const char *label, const unsigned char *b, size_t n) {
    printf("%s ", label);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

static void item_to_u(unsigned char u[32], const char *purpose, unsigned char tag, const char *value) {
    static const char dst[] = "SodiumPSI-V1-mutual-x25519-SHA256";
    crypto_hash_sha256_state st;
    unsigned char b;
    crypto_hash_sha256_init(&st);
    b = (unsigned char) strlen(dst);
    crypto_hash_sha256_update(&st, &b, 1);
    crypto_hash_sha256_update(&st, (const unsigned char *) dst, strlen(dst));
    unsigned char len[2] = { (unsigned char) (strlen(purpose) >> 8), (unsigned char) strlen(purpose) };
    crypto_hash_sha256_update(&st, len, 2);
    crypto_hash_sha256_update(&st, (const unsigned char *) purpose, strlen(purpose));
    crypto_hash_sha256_update(&st, &tag, 1);
    crypto_hash_sha256_update(&st, (const unsigned char *) value, strlen(value));
    crypto_hash_sha256_final(&st, u);
    u[31] &= 0x7f;
}

int main(void) {
    if (sodium_init() < 0) return 1;
    unsigned char a[32], b[32], u[32], au[32], bau[32], bu[32], abu[32];
    for (int i = 0; i < 32; i++) { a[i] = (unsigned char) (i + 1); b[i] = (unsigned char) (0xa0 + i); }
    const char *purpose = "kat: agent phone numbers";
    const char *values[] = { "+8613800138000", "+8613912345678" };
    hex("secret_a", a, 32);
    hex("secret_b", b, 32);
    for (int i = 0; i < 2; i++) {
        item_to_u(u, purpose, 0x01, values[i]);
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
