/*
 * wf-verdict: the C host's verdict on protocol inputs, one line per file ("<file> <REASON>",
 * REASON being OK or the wire reason code). test/cbor-differential.test.ts runs it over
 * protocol/corpus next to the TypeScript reference and requires the same reason (one verdict).
 *
 *   wf-verdict <index.json> <kind> <file>...
 *
 * index.json is protocol/vectors/index.json: the device context (root key, clock, sequence...)
 * every kind is checked against. Kinds:
 *   cbor            wf_cbor_check under the 32 KiB bundle bound
 *   keydoc          a COSE_Sign1 key document opened with the pinned root key (wf_keydoc_open)
 *   bundle          the whole device check (wf_check_bundle)
 *   freshness       the freshness message check (wf_check_freshness)
 *   hello, report, chunk_request, chunk_response   the message decoders
 * Exit status: 0 when every file got a verdict, 2 on usage or I/O errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testlib.h"
#include "wf/abi.h"
#include "wf/cbor.h"
#include "wf/checks.h"
#include "wf/messages.h"
#include "wf/payloads.h"

typedef struct {
    const jval_t *ctx;
    uint8_t root_pk[32];
    wf_running_t running;
    uint8_t scratch[WF_SIG_SCRATCH];
} verdict_env_t;

static uint64_t ctx_num(const verdict_env_t *e, const char *key)
{
    const jval_t *v = json_get(e->ctx, key);
    return (v != NULL && v->type == J_NUM) ? (uint64_t)v->num : 0u;
}

static wf_status_t check_bundle(verdict_env_t *e, const uint8_t *buf, size_t len)
{
    static wf_checked_bundle_t out;
    wf_device_ctx_t ctx;
    const jval_t *caps = json_get(e->ctx, "capabilities");
    char csv[256] = "";
    size_t i;

    memset(&ctx, 0, sizeof ctx);
    ctx.device_id = json_str(e->ctx, "device");
    ctx.root_public_key = e->root_pk;
    ctx.now = ctx_num(e, "now");
    ctx.skew = (uint32_t)ctx_num(e, "skew");
    for (i = 0; caps != NULL && i < caps->n; i++) {
        strncat(csv, caps->items[i]->str, sizeof csv - strlen(csv) - 2u);
        strcat(csv, ",");
    }
    ctx.capabilities = wf_capabilities_parse(csv);
    ctx.memory = ctx_num(e, "memory");
    ctx.committed_sequence = ctx_num(e, "committed_sequence");
    ctx.keydoc_serial = ctx_num(e, "keydoc_serial");
    ctx.running = &e->running;
    ctx.n_running = 1;
    return wf_check_bundle(buf, len, &ctx, e->scratch, sizeof e->scratch, &out);
}

static const char *const KINDS[] = {"cbor", "keydoc", "bundle", "freshness", "hello", "report", "chunk_request",
                                    "chunk_response"};

static bool known_kind(const char *kind)
{
    size_t i;
    for (i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
        if (strcmp(KINDS[i], kind) == 0) { return true; }
    }
    return false;
}

static wf_status_t verdict(verdict_env_t *e, const char *kind, const uint8_t *buf, size_t len)
{
    if (strcmp(kind, "cbor") == 0) {
        return (len > WF_BUNDLE_MAX) ? WF_CBOR_TOO_LARGE : wf_cbor_check(buf, len);
    }
    if (strcmp(kind, "keydoc") == 0) {
        wf_verify_env_t env = {ctx_num(e, "now"), (uint32_t)ctx_num(e, "skew"), e->scratch, sizeof e->scratch};
        static wf_keydoc_t doc;
        return wf_keydoc_open(buf, len, e->root_pk, ctx_num(e, "keydoc_serial"), &env, &doc);
    }
    if (strcmp(kind, "bundle") == 0) { return check_bundle(e, buf, len); }
    if (strcmp(kind, "freshness") == 0) {
        static wf_checked_freshness_t out;
        wf_device_ctx_t ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.device_id = json_str(e->ctx, "device");
        ctx.root_public_key = e->root_pk;
        ctx.now = ctx_num(e, "now");
        ctx.skew = (uint32_t)ctx_num(e, "skew");
        ctx.keydoc_serial = ctx_num(e, "keydoc_serial");
        return wf_check_freshness(buf, len, &ctx, 0, e->scratch, sizeof e->scratch, &out);
    }
    if (strcmp(kind, "hello") == 0) {
        wf_hello_view_t h;
        return wf_hello_decode(buf, len, &h);
    }
    if (strcmp(kind, "report") == 0) {
        wf_report_view_t r;
        return wf_report_decode(buf, len, &r);
    }
    if (strcmp(kind, "chunk_request") == 0) {
        wf_chunk_request_t r;
        return wf_chunk_request_decode(buf, len, &r);
    }
    if (strcmp(kind, "chunk_response") == 0) {
        wf_chunk_response_t r;
        return wf_chunk_response_decode(buf, len, WF_CHUNK_MAX, &r);
    }
    return WF_BAD_PARAMETER;
}

int main(int argc, char **argv)
{
    static verdict_env_t e;
    uint8_t *index_text;
    size_t len;
    jval_t *index;
    const jval_t *run;
    int i;

    if (argc < 3) {
        fprintf(stderr, "usage: wf-verdict <index.json> <kind> <file>...\n");
        return 2;
    }
    index_text = wf_test_read_file(argv[1], &len);
    if (index_text == NULL) {
        fprintf(stderr, "wf-verdict: cannot read %s\n", argv[1]);
        return 2;
    }
    index = json_parse((const char *)index_text);
    e.ctx = json_get(index, "context");
    run = json_get(e.ctx, "running");
    if (e.ctx == NULL || run == NULL || wf_test_unhex(json_str(index, "root_public_key"), e.root_pk, 32) != 32) {
        fprintf(stderr, "wf-verdict: %s is not a vector index\n", argv[1]);
        return 2;
    }
    e.running.component = json_str(run, "component");
    e.running.version = json_str(run, "version");
    wf_test_unhex(json_str(run, "manifest"), e.running.manifest_digest, 32);
    if (!known_kind(argv[2])) {
        fprintf(stderr, "wf-verdict: unknown kind %s\n", argv[2]);
        return 2;
    }
    for (i = 3; i < argc; i++) {
        uint8_t *bytes = wf_test_read_file(argv[i], &len);
        if (bytes == NULL) {
            fprintf(stderr, "wf-verdict: cannot read %s\n", argv[i]);
            return 2;
        }
        printf("%s %s\n", argv[i], wf_status_reason(verdict(&e, argv[2], bytes, len)));
        free(bytes);
    }
    json_free(index);
    free(index_text);
    return 0;
}
