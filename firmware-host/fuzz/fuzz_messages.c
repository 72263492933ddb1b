/* libFuzzer: every decoder a device runs on what the server sends (the whole bundle check, chunk
 * responses) and the ones the server side of the protocol defines (hello, report, chunk request). */
#include "fuzz_ctx.h"
#include "wf/checks.h"
#include "wf/messages.h"

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
    static wf_checked_bundle_t bundle;
    wf_hello_view_t hello;
    wf_report_view_t report;
    wf_chunk_request_t req;
    wf_chunk_response_t resp;

    wf_fuzz_expect_wire_status(wf_check_bundle(data, size, &c->device, c->scratch, sizeof c->scratch, &bundle));
    wf_fuzz_expect_wire_status(wf_hello_decode(data, size, &hello));
    wf_fuzz_expect_wire_status(wf_report_decode(data, size, &report));
    wf_fuzz_expect_wire_status(wf_chunk_request_decode(data, size, &req));
    wf_fuzz_expect_wire_status(wf_chunk_response_decode(data, size, WF_CHUNK_MAX, &resp));
    return 0;
}
