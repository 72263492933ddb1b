/*
 * protocol/vectors (protocol.md §7): every valid vector is accepted with the expected fields,
 * every invalid one is rejected with exactly the expected reason code.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testlib.h"
#include "wf/abi.h"
#include "wf/checks.h"
#include "wf/messages.h"

static const char *dir;
static uint8_t root_pk[32];
static uint8_t scratch[WF_SIG_SCRATCH];

static uint64_t num_or(const jval_t *a, const jval_t *b, const char *key, uint64_t dflt)
{
    const jval_t *v = json_get(a, key);
    if (v == NULL) { v = json_get(b, key); }
    return (v != NULL && v->type == J_NUM) ? (uint64_t)v->num : dflt;
}

static const jval_t *get_or(const jval_t *a, const jval_t *b, const char *key)
{
    const jval_t *v = json_get(a, key);
    return v != NULL ? v : json_get(b, key);
}

static bool slice_hex_eq(wf_slice_t s, const char *hex)
{
    uint8_t buf[256];
    int n = wf_test_unhex(hex, buf, sizeof buf);
    return n >= 0 && (size_t)n == s.len && memcmp(buf, s.ptr, s.len) == 0;
}

/* The trusted root of a vector's context (root_version + root_key), or NULL: the provisioned one. */
static const wf_root_state_t *trusted_root(const jval_t *over, const jval_t *ctxj)
{
    static wf_root_state_t root;
    const char *key = json_str(over, "root_key") ? json_str(over, "root_key") : json_str(ctxj, "root_key");
    uint64_t version = num_or(over, ctxj, "root_version", 0);
    if (key == NULL || version == 0u) { return NULL; }
    root.version = version;
    CHECK(wf_test_unhex(key, root.public_key, 32) == 32);
    return &root;
}

static wf_status_t run_freshness(const jval_t *v, const jval_t *ctxj, const uint8_t *bytes, size_t len,
                                 wf_checked_freshness_t *out)
{
    const jval_t *over = json_get(v, "context");
    wf_device_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.device_id = json_str(ctxj, "device");
    ctx.root_public_key = root_pk;
    ctx.root = trusted_root(over, ctxj);
    ctx.now = num_or(over, ctxj, "now", 0);
    ctx.skew = (uint32_t)num_or(over, ctxj, "skew", WF_CLOCK_SKEW_S);
    ctx.keydoc_serial = num_or(over, ctxj, "keydoc_serial", 0);
    return wf_check_freshness(bytes, len, &ctx, num_or(over, ctxj, "last_issued_at", 0), scratch,
                              sizeof scratch, out);
}

static wf_status_t run_bundle(const jval_t *v, const jval_t *ctxj, const uint8_t *bytes, size_t len,
                              wf_checked_bundle_t *out)
{
    const jval_t *over = json_get(v, "context");
    wf_device_ctx_t ctx;
    wf_running_t running;
    const jval_t *caps = get_or(over, ctxj, "capabilities");
    const jval_t *run = get_or(over, ctxj, "running");
    size_t i;
    char caps_csv[256] = "";

    memset(&ctx, 0, sizeof ctx);
    ctx.root = trusted_root(over, ctxj);
    ctx.device_id = json_str(over, "device") ? json_str(over, "device") : json_str(ctxj, "device");
    ctx.root_public_key = root_pk;
    ctx.now = num_or(over, ctxj, "now", 0);
    ctx.skew = (uint32_t)num_or(over, ctxj, "skew", WF_CLOCK_SKEW_S);
    for (i = 0; caps && i < caps->n; i++) {
        strcat(caps_csv, caps->items[i]->str);
        strcat(caps_csv, ",");
    }
    ctx.capabilities = wf_capabilities_parse(caps_csv);
    ctx.memory = num_or(over, ctxj, "memory", 0);
    ctx.committed_sequence = num_or(over, ctxj, "committed_sequence", 0);
    ctx.keydoc_serial = num_or(over, ctxj, "keydoc_serial", 0);
    if (run != NULL && run->type == J_OBJ) {
        running.component = json_str(run, "component");
        running.version = json_str(run, "version");
        memset(running.manifest_digest, 0, 32);
        if (json_str(run, "manifest")) { wf_test_unhex(json_str(run, "manifest"), running.manifest_digest, 32); }
        ctx.running = &running;
        ctx.n_running = 1;
    }
    return wf_check_bundle(bytes, len, &ctx, scratch, sizeof scratch, out);
}

static void expect_bundle(const char *name, const jval_t *expect, const wf_checked_bundle_t *b)
{
    const jval_t *comps = json_get(expect, "components");
    size_t i;
    int before = wf_test_failed;
    CHECK(b->directive.sequence == (uint64_t)json_get(expect, "sequence")->num);
    CHECK(comps != NULL && b->n_releases == comps->n);
    for (i = 0; comps && i < comps->n && i < b->n_releases; i++) {
        const jval_t *c = comps->items[i];
        const wf_release_t *r = &b->releases[i];
        wf_slice_t digest = {r->manifest_digest, 32};
        CHECK(wf_slice_eq(r->manifest.component, json_str(c, "component")));
        CHECK(wf_slice_eq(r->manifest.version, json_str(c, "version")));
        CHECK(slice_hex_eq(digest, json_str(c, "manifest")));
        CHECK(slice_hex_eq(r->manifest.image_sha256, json_str(c, "sha256")));
        CHECK(r->manifest.image_size == (uint64_t)json_get(c, "size")->num);
    }
    if (wf_test_failed != before) { fprintf(stderr, "  in vector %s\n", name); }
}

static void expect_chunk_response(const jval_t *expect, const wf_chunk_response_t *r)
{
    CHECK(slice_hex_eq(r->sha256, json_str(expect, "sha256")));
    CHECK(r->index == (uint32_t)json_get(expect, "index")->num);
    if (json_str(expect, "data")) { CHECK(r->has_data && slice_hex_eq(r->data, json_str(expect, "data"))); }
    if (json_str(expect, "error")) { CHECK(!r->has_data && wf_slice_eq(r->error, json_str(expect, "error"))); }
}

/* Every prefix and every single-bit flip of the valid bundle is refused with a wire reason
 * (never OK, never a host-internal status), and ASan/UBSan see no bad access on the way. */
static void mutate_valid_bundle(const jval_t *vectors, const jval_t *ctxj)
{
    size_t i, bit, len = 0, refused = 0, cut = 0;
    const jval_t *valid = NULL;
    uint8_t *orig, *buf;
    char path[1024];
    static wf_checked_bundle_t out;

    for (i = 0; vectors != NULL && i < vectors->n; i++) {
        if (strcmp(json_str(vectors->items[i], "name"), "bundle-valid") == 0) { valid = vectors->items[i]; }
    }
    CHECK(valid != NULL);
    if (valid == NULL) { return; }
    snprintf(path, sizeof path, "%s/%s", dir, json_str(valid, "file"));
    orig = wf_test_read_file(path, &len);
    CHECK(orig != NULL);
    if (orig == NULL) { return; }
    buf = malloc(len);
    for (i = 0; i < len; i++) {
        wf_status_t st = run_bundle(valid, ctxj, orig, i, &out);
        if (st != WF_OK && st < WF_HOST_ONLY_) { cut++; }
        else { fprintf(stderr, "prefix of %zu bytes gave %s\n", i, wf_status_name(st)); }
    }
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            wf_status_t st;
            memcpy(buf, orig, len);
            buf[i] ^= (uint8_t)(1u << bit);
            st = run_bundle(valid, ctxj, buf, len, &out);
            if (st != WF_OK && st < WF_HOST_ONLY_) { refused++; }
            else { fprintf(stderr, "flip of byte %zu bit %zu gave %s\n", i, bit, wf_status_name(st)); }
        }
    }
    CHECK(cut == len);
    CHECK(refused == len * 8u);
    printf("bundle-valid: %zu prefixes and %zu single-bit flips all refused with a reason\n", cut, refused);
    free(buf);
    free(orig);
}

int main(void)
{
    char path[1024];
    uint8_t *index_text;
    size_t index_len, i, counted = 0;
    jval_t *index;
    const jval_t *vectors, *ctxj;

    dir = getenv("WF_VECTORS_DIR");
    if (dir == NULL) { dir = "../protocol/vectors"; }
    snprintf(path, sizeof path, "%s/index.json", dir);
    index_text = wf_test_read_file(path, &index_len);
    if (index_text == NULL) {
        fprintf(stderr, "no vectors at %s\n", path);
        return 1;
    }
    index = json_parse((const char *)index_text);
    vectors = json_get(index, "vectors");
    ctxj = json_get(index, "context");
    CHECK(wf_test_unhex(json_str(index, "root_public_key"), root_pk, 32) == 32);
    CHECK(vectors != NULL && vectors->n > 0);

    for (i = 0; vectors && i < vectors->n; i++) {
        const jval_t *v = vectors->items[i];
        const char *name = json_str(v, "name"), *kind = json_str(v, "kind");
        const char *reason = json_str(v, "reason");
        bool valid = json_get(v, "valid")->b;
        const jval_t *expect = json_get(v, "expect");
        uint8_t *bytes;
        size_t len;
        wf_status_t st;
        static wf_checked_bundle_t bundle;
        static wf_checked_freshness_t fresh;
        wf_chunk_response_t resp;
        wf_chunk_request_t req;
        wf_hello_view_t hello;
        wf_report_view_t report;
        int before = wf_test_failed;

        snprintf(path, sizeof path, "%s/%s", dir, json_str(v, "file"));
        bytes = wf_test_read_file(path, &len);
        CHECK(bytes != NULL);
        if (bytes == NULL) { continue; }
        if (strcmp(kind, "bundle") == 0) {
            st = run_bundle(v, ctxj, bytes, len, &bundle);
            if (valid && st == WF_OK) { expect_bundle(name, expect, &bundle); }
        } else if (strcmp(kind, "freshness") == 0) {
            st = run_freshness(v, ctxj, bytes, len, &fresh);
            if (valid && st == WF_OK) {
                CHECK(fresh.statement.issued_at == (uint64_t)json_get(expect, "issued_at")->num);
                CHECK(fresh.statement.expires == (uint64_t)json_get(expect, "expires")->num);
            }
        } else if (strcmp(kind, "chunk_response") == 0) {
            st = wf_chunk_response_decode(bytes, len, WF_CHUNK_MAX, &resp);
            if (valid && st == WF_OK) { expect_chunk_response(expect, &resp); }
        } else if (strcmp(kind, "chunk_request") == 0) {
            st = wf_chunk_request_decode(bytes, len, &req);
            if (valid && st == WF_OK) {
                CHECK(slice_hex_eq(req.sha256, json_str(expect, "sha256")));
                CHECK(req.index == (uint32_t)json_get(expect, "index")->num);
                CHECK(req.chunk_size == (uint32_t)json_get(expect, "chunk_size")->num);
            }
        } else if (strcmp(kind, "hello") == 0) {
            st = wf_hello_decode(bytes, len, &hello);
            if (valid && st == WF_OK) {
                CHECK(wf_slice_eq(hello.host, json_str(expect, "host")));
                CHECK(hello.abi == (uint64_t)json_get(expect, "abi")->num);
                CHECK(hello.max_chunk == (uint64_t)json_get(expect, "max_chunk")->num);
                CHECK(hello.memory == (uint64_t)json_get(expect, "memory")->num);
                CHECK(wf_slice_eq(hello.agent, json_str(expect, "agent")));
                CHECK(hello.n_capabilities == json_get(expect, "capabilities")->n);
            }
        } else if (strcmp(kind, "report") == 0) {
            st = wf_report_decode(bytes, len, &report);
            if (valid && st == WF_OK) {
                CHECK(strcmp(wf_state_name(report.state), json_str(expect, "state")) == 0);
                CHECK(report.sequence == (uint64_t)json_get(expect, "sequence")->num);
                CHECK(report.time == (uint64_t)json_get(expect, "time")->num);
                if (json_get(expect, "target_sequence")) {
                    CHECK(report.has_target && report.target_sequence == (uint64_t)json_get(expect, "target_sequence")->num);
                }
                if (json_get(expect, "progress")) {
                    const jval_t *p = json_get(expect, "progress");
                    CHECK(report.has_progress);
                    CHECK(report.progress_bytes == (uint64_t)json_get(p, "bytes")->num);
                    CHECK(report.progress_total == (uint64_t)json_get(p, "total")->num);
                }
            }
        } else {
            fprintf(stderr, "unknown vector kind %s (%s)\n", kind, name);
            CHECK(0);
            free(bytes);
            continue;
        }
        if (valid) {
            CHECK_STATUS(st, WF_OK);
        } else {
            /* the reason must be one of ours, spelled the same, and be what we return */
            CHECK(reason != NULL && wf_status_from_reason(reason, strlen(reason)) != WF_NOT_FOUND);
            if (reason != NULL && strcmp(wf_status_reason(st), reason) != 0) {
                wf_test_failed++;
                fprintf(stderr, "vector %s: got %s, want %s\n", name, wf_status_reason(st), reason);
            } else {
                wf_test_passed++;
            }
        }
        if (wf_test_failed != before) { fprintf(stderr, "  (vector %s)\n", name); }
        counted++;
        free(bytes);
    }
    printf("vectors: %zu checked\n", counted);
    mutate_valid_bundle(vectors, ctxj);
    json_free(index);
    free(index_text);
    return wf_test_finish("test_vectors");
}
