/* wf/crypto.h on libsodium, for every port: Debian's libsodium on POSIX; on the board, libsodium
 * 1.0.20's portable C (SHA-256/512 "cp", Ed25519 ref10) compiled from the pinned sources
 * scripts/fetch-deps.sh extracts (WF_SODIUM_SUBSET: only those headers exist there).
 * No primitive is written here. */
#ifdef WF_SODIUM_SUBSET
#include "crypto_hash_sha256.h"
#include "crypto_sign_ed25519.h"
#else
#include <sodium.h>
#endif

#include "wf/crypto.h"

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(wf_sha256_t),
               "wf_sha256_t too small for libsodium's state");

void wf_sha256_init(wf_sha256_t *ctx)
{
    (void)crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)ctx);
}

void wf_sha256_update(wf_sha256_t *ctx, const uint8_t *data, size_t len)
{
    (void)crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)ctx, data, len);
}

void wf_sha256_final(wf_sha256_t *ctx, uint8_t digest[32])
{
    (void)crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)ctx, digest);
}

bool wf_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                       const uint8_t public_key[32])
{
    return crypto_sign_ed25519_verify_detached(sig, msg, len, public_key) == 0;
}
