/*
 * Crypto the core needs, bound at link time to a port's maintained library (POSIX: Debian's
 * libsodium; board: libsodium 1.0.20 sources fetched pinned by scripts/fetch-deps.sh). The core
 * never implements a primitive itself.
 */
#ifndef WF_CRYPTO_H
#define WF_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Opaque SHA-256 state, large and aligned enough for the port's own state type (ports check
 *  the size at compile time). */
typedef struct {
    uint64_t opaque[16];
} wf_sha256_t;

void wf_sha256_init(wf_sha256_t *ctx);
void wf_sha256_update(wf_sha256_t *ctx, const uint8_t *data, size_t len);
void wf_sha256_final(wf_sha256_t *ctx, uint8_t digest[32]);

/** One-shot SHA-256 (core helper over the three calls above). */
void wf_sha256(const uint8_t *data, size_t len, uint8_t digest[32]);

/** Ed25519 (RFC 8032, pure) signature check. True only when `sig` verifies. */
bool wf_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                       const uint8_t public_key[32]);

/** Constant-time equality for digests and key ids. */
bool wf_ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
