/* libFuzzer: the strict CBOR reader (wf_cbor_check) and the navigation on what it accepts. */
#include <stdlib.h>

#include "fuzz_ctx.h"
#include "wf/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_status_t st = wf_cbor_check(data, size);
    size_t end;
    wf_map_t m;

    wf_fuzz_expect_wire_status(st);
    if (st != WF_OK) { return 0; }
    /* an accepted buffer is exactly one item: skip agrees, and a map indexes without error */
    if (wf_cbor_skip(data, size, 0, &end) != WF_OK || end != size) { abort(); }
    if (wf_map_open(&m, data, size, 0) == WF_OK) {
        size_t off;
        uint32_t key;
        for (key = 0; key < 16u; key++) { (void)wf_map_find(&m, key, &off); }
        (void)wf_map_done(&m);
    }
    return 0;
}
