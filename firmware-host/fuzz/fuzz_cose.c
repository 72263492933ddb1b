/* libFuzzer: COSE_Sign1 envelopes and the key document behind them (parse, verify, payload). */
#include "fuzz_ctx.h"
#include "wf/cose.h"
#include "wf/payloads.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)wf_fuzz_ctx();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_fuzz_ctx_t *c = wf_fuzz_ctx();
    wf_sign1_t msg;
    static wf_keydoc_t doc;
    wf_verify_env_t env = {c->device.now, c->device.skew, c->scratch, sizeof c->scratch};

    wf_fuzz_expect_wire_status(wf_sign1_parse(data, size, WF_KEYDOC_MAX, &msg));
    wf_fuzz_expect_wire_status(wf_keydoc_open(data, size, c->root_pk, c->device.keydoc_serial, &env, &doc));
    return 0;
}
