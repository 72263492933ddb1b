/* Helpers over the port's primitives (wf/crypto.h). */
#include "wf/crypto.h"

void wf_sha256(const uint8_t *data, size_t len, uint8_t digest[32])
{
    wf_sha256_t ctx;
    wf_sha256_init(&ctx);
    wf_sha256_update(&ctx, data, len);
    wf_sha256_final(&ctx, digest);
}

bool wf_ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        diff |= (uint8_t)(a[i] ^ b[i]);
    }
    return diff == 0u;
}
