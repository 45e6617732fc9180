/*
 * What the known-answer programs of scripts/kat/ share, written directly against libsodium's
 * C API (no code shared with the Swift library): RFC 9380 expand_message_xmd with SHA-512, the
 * mutual-PSI hashed context and the comparison hashes, as Docs/protocol.md specifies them.
 */
#ifndef SODIUM_PSI_KAT_COMMON_H
#define SODIUM_PSI_KAT_COMMON_H

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9380 §5.3.1 with SHA-512: len bytes (at most 255 · 64) of msg under dst into out. */
static inline void expand_message_xmd(unsigned char *out, size_t len, const unsigned char *msg, size_t mlen,
                               const char *dst) {
    unsigned char b0[64], bi[64], x[64], zpad[128] = { 0 };
    unsigned char lib[2] = { (unsigned char) (len >> 8), (unsigned char) len }, zero = 0;
    unsigned char dlen = (unsigned char) strlen(dst);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, zpad, sizeof zpad);
    crypto_hash_sha512_update(&st, msg, mlen);
    crypto_hash_sha512_update(&st, lib, 2);
    crypto_hash_sha512_update(&st, &zero, 1);
    crypto_hash_sha512_update(&st, (const unsigned char *) dst, dlen);
    crypto_hash_sha512_update(&st, &dlen, 1);
    crypto_hash_sha512_final(&st, b0);
    memset(bi, 0, sizeof bi); /* so that b_1 = H(b_0 || 1 || DST') below */
    for (unsigned char i = 1; (size_t) (i - 1) * 64 < len; i++) {
        for (int j = 0; j < 64; j++) x[j] = b0[j] ^ bi[j];
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, x, 64);
        crypto_hash_sha512_update(&st, &i, 1);
        crypto_hash_sha512_update(&st, (const unsigned char *) dst, dlen);
        crypto_hash_sha512_update(&st, &dlen, 1);
        crypto_hash_sha512_final(&st, bi);
        size_t off = (size_t) (i - 1) * 64, n = len - off < 64 ? len - off : 64;
        memcpy(out + off, bi, n);
    }
}

static inline void hex(const char *label, const unsigned char *b, size_t n) {
    printf("%s ", label);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

static inline size_t unhex(unsigned char *out, size_t cap, const char *s) {
    size_t n = strlen(s) / 2;
    if (strlen(s) % 2 != 0 || n > cap) { fprintf(stderr, "bad hex: %s\n", s); exit(1); }
    for (size_t i = 0; i < n; i++) {
        unsigned int v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) { fprintf(stderr, "bad hex: %s\n", s); exit(1); }
        out[i] = (unsigned char) v;
    }
    return n;
}

/* Appends I2OSP(n, 2) || field at out + *at. */
static inline void put_field(unsigned char *out, size_t *at, const unsigned char *field, size_t n) {
    out[(*at)++] = (unsigned char) (n >> 8);
    out[(*at)++] = (unsigned char) n;
    memcpy(out + *at, field, n);
    *at += n;
}

/*
 * The mutual hashed context (Docs/protocol.md, "Hashing an item"): tag, context version 1, suite,
 * SHA-256(purpose), initiator key, responder key, session, identifier kind and flags, each
 * length-prefixed. The identity keys come from their Ed25519 seeds. Returns its length.
 */
static inline size_t mutual_context(unsigned char out[256], unsigned char suite, const char *purpose,
                             const unsigned char initiator_seed[32], const unsigned char responder_seed[32],
                             const unsigned char session[16], unsigned char kind, unsigned char flags) {
    static const char tag[] = "SodiumPSI-mutual-context";
    unsigned char digest[32], pk[32], sk[64], version = 1, type[2] = { kind, flags };
    size_t at = 0;
    put_field(out, &at, (const unsigned char *) tag, strlen(tag));
    put_field(out, &at, &version, 1);
    put_field(out, &at, &suite, 1);
    crypto_hash_sha256(digest, (const unsigned char *) purpose, strlen(purpose));
    put_field(out, &at, digest, 32);
    crypto_sign_seed_keypair(pk, sk, initiator_seed);
    put_field(out, &at, pk, 32);
    crypto_sign_seed_keypair(pk, sk, responder_seed);
    put_field(out, &at, pk, 32);
    put_field(out, &at, session, 16);
    put_field(out, &at, type, 2);
    sodium_memzero(sk, sizeof sk);
    return at;
}

/* C_k(Q) = SHA-512(I2OSP(len(T), 1) || T || I2OSP(k, 1) || Q), T = "SodiumPSI-V2-mutual-compare";
 * a message keeps its first L bytes. */
static inline void compare_hash(unsigned char out[64], unsigned char k, const unsigned char q[32]) {
    static const char tag[] = "SodiumPSI-V2-mutual-compare";
    unsigned char tlen = (unsigned char) strlen(tag);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, &tlen, 1);
    crypto_hash_sha512_update(&st, (const unsigned char *) tag, tlen);
    crypto_hash_sha512_update(&st, &k, 1);
    crypto_hash_sha512_update(&st, q, 32);
    crypto_hash_sha512_final(&st, out);
}

/* The arguments both programs take: PURPOSE SESSION_HEX INITIATOR_SEED_HEX RESPONDER_SEED_HEX
 * KIND FLAGS, then the items' encodings in hex. Builds and prints the context; returns its length. */
static inline size_t context_from_arguments(unsigned char context[256], unsigned char suite, int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s PURPOSE SESSION_HEX INITIATOR_SEED_HEX RESPONDER_SEED_HEX KIND FLAGS ITEM_HEX...\n", argv[0]);
        exit(1);
    }
    unsigned char session[16], iseed[32], rseed[32];
    if (unhex(session, 16, argv[2]) != 16 || unhex(iseed, 32, argv[3]) != 32 || unhex(rseed, 32, argv[4]) != 32) {
        fprintf(stderr, "session: 16 bytes, seeds: 32 bytes each\n");
        exit(1);
    }
    size_t n = mutual_context(context, suite, argv[1], iseed, rseed, session,
                              (unsigned char) atoi(argv[5]), (unsigned char) atoi(argv[6]));
    hex("context", context, n);
    return n;
}

#endif
