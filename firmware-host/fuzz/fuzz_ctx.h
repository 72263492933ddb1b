/* Shared by the libFuzzer harnesses: the device context of protocol/vectors/index.json, read
 * once in LLVMFuzzerInitialize (WF_VECTORS_DIR, else the path baked in at build time), so the
 * fuzzed bundles and key documents meet the same checks as the vectors and the corpus. */
#ifndef WF_FUZZ_CTX_H
#define WF_FUZZ_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "wf/checks.h"
#include "wf/payloads.h"

typedef struct {
    wf_device_ctx_t device;
    wf_running_t running;
    uint8_t root_pk[32];
    uint8_t scratch[WF_SIG_SCRATCH];
} wf_fuzz_ctx_t;

/** The loaded context; aborts when the vector index cannot be read (a broken setup). */
wf_fuzz_ctx_t *wf_fuzz_ctx(void);

/** A wire reason for every status a decoder may return on hostile input: never a host-internal
 *  one (those mean a bug or a too-small buffer of ours). Aborts otherwise, so libFuzzer reports it. */
void wf_fuzz_expect_wire_status(int status);

#endif
