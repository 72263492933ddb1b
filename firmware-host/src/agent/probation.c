/* Probation verdict of one call (wf/probation.h) and the simulated hardware's seeded values. */
#include "wf/probation.h"

#include <stdio.h>
#include <string.h>

#include "wf/crypto.h"

wf_status_t wf_entry_fault(const char *entry, wf_status_t st, int32_t rc, const char *engine_error,
                           char *detail, size_t cap)
{
    if (st != WF_OK) {
        snprintf(detail, cap, "%s: %s", entry, engine_error != NULL ? engine_error : "trap");
        return st;
    }
    if (rc == 0) {
        if (cap > 0u) { detail[0] = '\0'; }
        return WF_OK;
    }
    snprintf(detail, cap, "%s returned %d", entry, (int)rc);
    return strcmp(entry, "wf_init") == 0 ? WF_MODULE_INIT_FAILED : WF_MODULE_HEALTH;
}

double wf_seeded_unit(const char *seed, const char *what)
{
    uint8_t h[32];
    wf_sha256_t ctx;
    uint32_t hi, lo;
    wf_sha256_init(&ctx);
    wf_sha256_update(&ctx, (const uint8_t *)"wasmfleet-sim", 14); /* includes the NUL */
    wf_sha256_update(&ctx, (const uint8_t *)seed, strlen(seed) + 1u);
    wf_sha256_update(&ctx, (const uint8_t *)what, strlen(what));
    wf_sha256_final(&ctx, h);
    hi = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3];
    lo = ((uint32_t)h[4] << 24) | ((uint32_t)h[5] << 16) | ((uint32_t)h[6] << 8) | h[7];
    return ((double)hi * 2097152.0 + (double)(lo >> 11)) / 9007199254740992.0;
}
