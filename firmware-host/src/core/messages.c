/* MQTT messages (protocol.md §5), as protocol/messages.ts. */
#include "wf/messages.h"

#include <string.h>

#include "wf/abi.h"
#include "wf/cbor_write.h"
#include "wf/text.h"

#define TRY(expr)                                  \
    do {                                           \
        wf_status_t st_ = (expr);                  \
        if (st_ != WF_OK) { return st_; }          \
    } while (0)

static const char *const state_names[WF_STATE_COUNT_] = {
    "idle", "assigned", "downloading", "verifying", "installing",
    "probation", "committed", "failed", "rolled_back", "stale",
};

const char *wf_state_name(wf_state_t state)
{
    return ((unsigned)state < (unsigned)WF_STATE_COUNT_) ? state_names[state] : "idle";
}

wf_state_t wf_state_from_name(wf_slice_t name)
{
    unsigned i;
    for (i = 0; i < (unsigned)WF_STATE_COUNT_; i++) {
        if (wf_slice_eq(name, state_names[i])) { return (wf_state_t)i; }
    }
    return WF_STATE_COUNT_;
}

/* Size bound, then one strict pass, then the top-level map (decodeCbor + MapReader.of). */
static wf_status_t open_message(const uint8_t *buf, size_t len, size_t max, wf_map_t *f)
{
    if (buf == NULL) { return WF_BAD_PARAMETER; }
    if (len > max) { return WF_CBOR_TOO_LARGE; }
    TRY(wf_cbor_check(buf, len));
    return wf_map_open(f, buf, len, 0);
}

/* Optional array (1..WF_ROOT_CHAIN_MAX) of root chain links, each a bstr ≤ WF_ROOT_LINK_MAX. */
static wf_status_t read_roots(wf_map_t *f, uint32_t key, wf_slice_t *roots, uint8_t *n)
{
    wf_array_t arr;
    size_t at, off;
    *n = 0;
    if (wf_map_find(f, key, &at) != WF_OK) { return WF_OK; }
    TRY(wf_cbor_get_array(f->base, f->len, at, 1, WF_ROOT_CHAIN_MAX, &arr));
    while (wf_array_next(&arr, &off) == WF_OK) {
        TRY(wf_cbor_get_bytes(f->base, f->len, off, 0, WF_ROOT_LINK_MAX, &roots[*n]));
        (*n)++;
    }
    return WF_OK;
}

wf_status_t wf_bundle_decode(const uint8_t *buf, size_t len, wf_bundle_t *out)
{
    wf_map_t f;
    wf_array_t arr;
    size_t off;

    TRY(open_message(buf, len, WF_BUNDLE_MAX, &f));
    TRY(wf_map_bytes(&f, 1, 0, WF_KEYDOC_MAX, &out->keydoc));
    TRY(wf_map_bytes(&f, 2, 0, WF_DIRECTIVE_MAX, &out->directive));
    TRY(wf_map_array(&f, 3, 1, WF_MAX_COMPONENTS, &arr));
    out->n_manifests = 0;
    while (wf_array_next(&arr, &off) == WF_OK) {
        TRY(wf_cbor_get_bytes(buf, len, off, 0, WF_MANIFEST_MAX, &out->manifests[out->n_manifests]));
        out->n_manifests++;
    }
    TRY(read_roots(&f, 4, out->roots, &out->n_roots));
    return wf_map_done(&f);
}

wf_status_t wf_freshness_msg_decode(const uint8_t *buf, size_t len, wf_freshness_msg_t *out)
{
    wf_map_t f;
    TRY(open_message(buf, len, WF_FRESHNESS_MSG_MAX, &f));
    TRY(wf_map_bytes(&f, 1, 0, WF_KEYDOC_MAX, &out->keydoc));
    TRY(wf_map_bytes(&f, 2, 0, WF_FRESHNESS_STMT_MAX, &out->statement));
    TRY(read_roots(&f, 3, out->roots, &out->n_roots));
    return wf_map_done(&f);
}

wf_status_t wf_chunk_request_decode(const uint8_t *buf, size_t len, wf_chunk_request_t *out)
{
    wf_map_t f;
    uint64_t v;
    TRY(open_message(buf, len, WF_CHUNK_REQUEST_MAX, &f));
    TRY(wf_map_bytes(&f, 1, 32, 32, &out->sha256));
    TRY(wf_map_uint(&f, 2, 0, WF_CHUNK_INDEX_MAX, &v));
    out->index = (uint32_t)v;
    TRY(wf_map_uint(&f, 3, WF_CHUNK_MIN, WF_CHUNK_MAX, &v));
    out->chunk_size = (uint32_t)v;
    return wf_map_done(&f);
}

wf_status_t wf_chunk_request_encode(const wf_chunk_request_t *req, uint8_t *buf, size_t cap,
                                    size_t *len)
{
    wf_writer_t w;
    if (req->sha256.len != 32u || req->chunk_size < WF_CHUNK_MIN || req->chunk_size > WF_CHUNK_MAX) {
        return WF_BAD_PARAMETER;
    }
    wf_w_init(&w, buf, cap);
    wf_w_map(&w, 3);
    wf_w_uint(&w, 1);
    wf_w_bytes(&w, req->sha256.ptr, 32);
    wf_w_uint(&w, 2);
    wf_w_uint(&w, req->index);
    wf_w_uint(&w, 3);
    wf_w_uint(&w, req->chunk_size);
    return wf_w_finish(&w, len);
}

wf_status_t wf_chunk_response_decode(const uint8_t *buf, size_t len, uint32_t max_chunk,
                                     wf_chunk_response_t *out)
{
    wf_map_t f;
    uint64_t v;
    bool has_error = false;

    TRY(open_message(buf, len, (size_t)max_chunk + WF_CHUNK_OVERHEAD, &f));
    TRY(wf_map_bytes(&f, 1, 32, 32, &out->sha256));
    TRY(wf_map_uint(&f, 2, 0, WF_CHUNK_INDEX_MAX, &v));
    out->index = (uint32_t)v;
    TRY(wf_map_opt_bytes(&f, 3, 0, max_chunk, &out->data, &out->has_data));
    TRY(wf_map_opt_text(&f, 4, 0, 64, &out->error, &has_error));
    TRY(wf_map_done(&f));
    if (out->has_data == has_error) { return WF_CBOR_FIELD_INVALID; } /* exactly one of 3, 4 */
    return WF_OK;
}

/* ---- hello ------------------------------------------------------------------------------ */

static uint32_t count_bits(uint32_t v)
{
    uint32_t n = 0;
    while (v != 0u) { n += v & 1u; v >>= 1; }
    return n;
}

static void write_running(wf_writer_t *w, const wf_running_ref_t *r, uint8_t n)
{
    uint8_t i;
    wf_w_array(w, n);
    for (i = 0; i < n; i++) {
        wf_w_map(w, 3);
        wf_w_uint(w, 1);
        wf_w_cstr(w, r[i].component);
        wf_w_uint(w, 2);
        wf_w_cstr(w, r[i].version);
        wf_w_uint(w, 3);
        wf_w_bytes(w, r[i].manifest_digest, 32);
    }
}

wf_status_t wf_hello_encode(const wf_hello_t *h, uint8_t *buf, size_t cap, size_t *len)
{
    wf_writer_t w;
    uint32_t caps = h->capabilities & ~WF_CAP_UNKNOWN;
    uint32_t bit;
    /* capability names sorted: the WF_CAP_* bits are assigned in alphabetical order */
    wf_w_init(&w, buf, cap);
    wf_w_map(&w, (h->running != NULL && h->n_running > 0u) ? 7u : 6u);
    wf_w_uint(&w, 1);
    wf_w_cstr(&w, h->host);
    wf_w_uint(&w, 2);
    wf_w_uint(&w, h->abi);
    wf_w_uint(&w, 3);
    wf_w_array(&w, count_bits(caps));
    for (bit = 1; bit != 0u && bit <= caps; bit <<= 1) {
        if ((caps & bit) != 0u) { wf_w_cstr(&w, wf_capability_name(bit)); }
    }
    wf_w_uint(&w, 4);
    wf_w_uint(&w, h->max_chunk);
    wf_w_uint(&w, 5);
    wf_w_uint(&w, h->memory);
    wf_w_uint(&w, 6);
    wf_w_cstr(&w, h->agent);
    if (h->running != NULL && h->n_running > 0u) {
        wf_w_uint(&w, 7);
        write_running(&w, h->running, h->n_running);
    }
    return wf_w_finish(&w, len);
}

wf_status_t wf_hello_decode(const uint8_t *buf, size_t len, wf_hello_view_t *out)
{
    wf_map_t f;
    wf_array_t arr;
    size_t off;
    bool present;

    TRY(open_message(buf, len, WF_HELLO_MAX, &f));
    TRY(wf_map_text(&f, 1, 0, 8, &out->host));
    if (!wf_slice_eq(out->host, "v8") && !wf_slice_eq(out->host, "wasm3") &&
        !wf_slice_eq(out->host, "wamr")) {
        return WF_CBOR_FIELD_INVALID;
    }
    TRY(wf_map_uint(&f, 2, 1, 255, &out->abi));
    TRY(wf_map_array(&f, 3, 0, 32, &arr));
    out->n_capabilities = 0;
    while (wf_array_next(&arr, &off) == WF_OK) {
        TRY(wf_cbor_get_text(buf, len, off, 1, 32, &out->capabilities[out->n_capabilities]));
        out->n_capabilities++;
    }
    TRY(wf_map_uint(&f, 4, WF_CHUNK_MIN, WF_CHUNK_MAX, &out->max_chunk));
    TRY(wf_map_uint(&f, 5, 0, WF_CBOR_UINT_MAX, &out->memory));
    TRY(wf_map_text(&f, 6, 0, 64, &out->agent));
    if (wf_map_find(&f, 7, &off) == WF_OK) {
        TRY(wf_cbor_get_array(buf, len, off, 0, WF_MAX_COMPONENTS, &arr));
    }
    (void)present;
    return wf_map_done(&f);
}

/* ---- report ----------------------------------------------------------------------------- */

wf_status_t wf_report_encode(const wf_report_t *r, uint8_t *buf, size_t cap, size_t *len)
{
    wf_writer_t w;
    uint64_t n = 4; /* state, sequence, running, time */
    size_t dlen = 0;
    bool has_reason = (r->reason != WF_OK);

    if (has_reason) { n++; }
    if (r->target_sequence != 0u) { n++; }
    if (r->has_progress) { n++; }
    if (r->detail != NULL && r->detail[0] != '\0') {
        n++;
        dlen = strlen(r->detail);
        if (dlen > WF_DETAIL_MAX) {
            dlen = WF_DETAIL_MAX;
            while (dlen > 0u && (((uint8_t)r->detail[dlen]) & 0xc0u) == 0x80u) {
                dlen--; /* never cut inside a UTF-8 sequence */
            }
        }
    }
    wf_w_init(&w, buf, cap);
    wf_w_map(&w, n);
    wf_w_uint(&w, 1);
    wf_w_cstr(&w, wf_state_name(r->state));
    if (has_reason) {
        wf_w_uint(&w, 2);
        wf_w_cstr(&w, wf_status_reason(r->reason));
    }
    wf_w_uint(&w, 3);
    wf_w_uint(&w, r->sequence);
    wf_w_uint(&w, 4);
    write_running(&w, r->running, (r->running != NULL) ? r->n_running : 0u);
    if (r->target_sequence != 0u) {
        wf_w_uint(&w, 5);
        wf_w_uint(&w, r->target_sequence);
    }
    if (r->has_progress) {
        wf_w_uint(&w, 6);
        wf_w_map(&w, 2);
        wf_w_uint(&w, 1);
        wf_w_uint(&w, r->progress_bytes);
        wf_w_uint(&w, 2);
        wf_w_uint(&w, r->progress_total);
    }
    if (dlen > 0u) {
        wf_w_uint(&w, 7);
        wf_w_text(&w, r->detail, dlen);
    }
    wf_w_uint(&w, 8);
    wf_w_uint(&w, r->time);
    return wf_w_finish(&w, len);
}

static bool is_reason_text(wf_slice_t s)
{
    size_t i;
    if (s.len == 0u) { return false; }
    for (i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) { return false; }
    }
    return true;
}

wf_status_t wf_report_decode(const uint8_t *buf, size_t len, wf_report_view_t *out)
{
    wf_map_t f, p;
    wf_array_t arr;
    wf_slice_t state;
    size_t off;
    bool present;

    memset(out, 0, sizeof *out);
    TRY(open_message(buf, len, WF_REPORT_MAX, &f));
    TRY(wf_map_text(&f, 1, 0, 16, &state));
    out->state = wf_state_from_name(state);
    if (out->state == WF_STATE_COUNT_) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_opt_text(&f, 2, 0, 64, &out->reason, &present));
    if (present && !is_reason_text(out->reason)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_uint(&f, 3, 0, WF_CBOR_UINT_MAX, &out->sequence));
    TRY(wf_map_array(&f, 4, 0, WF_MAX_COMPONENTS, &arr));
    out->n_running = (uint8_t)arr.count;
    while (wf_array_next(&arr, &off) == WF_OK) {
        wf_map_t c;
        wf_slice_t s;
        TRY(wf_map_open(&c, buf, len, off));
        TRY(wf_map_text(&c, 1, 0, 64, &s));
        if (!wf_is_component(s)) { return WF_CBOR_FIELD_INVALID; }
        TRY(wf_map_text(&c, 2, 0, 32, &s));
        if (!wf_is_semver(s)) { return WF_CBOR_FIELD_INVALID; }
        TRY(wf_map_bytes(&c, 3, 32, 32, &s));
        TRY(wf_map_done(&c));
    }
    TRY(wf_map_opt_uint(&f, 5, 0, WF_CBOR_UINT_MAX, &out->target_sequence, &out->has_target));
    if (wf_map_find(&f, 6, &off) == WF_OK) {
        TRY(wf_map_open(&p, buf, len, off));
        TRY(wf_map_uint(&p, 1, 0, WF_CBOR_UINT_MAX, &out->progress_bytes));
        TRY(wf_map_uint(&p, 2, 0, WF_CBOR_UINT_MAX, &out->progress_total));
        TRY(wf_map_done(&p));
        out->has_progress = true;
    }
    TRY(wf_map_opt_text(&f, 7, 0, WF_DETAIL_MAX, &out->detail, &present));
    TRY(wf_map_uint(&f, 8, 0, WF_CBOR_UINT_MAX, &out->time));
    return wf_map_done(&f);
}

wf_status_t wf_telemetry_encode(const char *name, size_t name_len, double value, uint64_t time,
                                uint8_t *buf, size_t cap, size_t *len)
{
    wf_writer_t w;
    if (name_len == 0u || name_len > 64u) { return WF_BAD_PARAMETER; }
    wf_w_init(&w, buf, cap);
    wf_w_map(&w, 3);
    wf_w_uint(&w, 1);
    wf_w_text(&w, name, name_len);
    wf_w_uint(&w, 2);
    wf_w_float64(&w, value);
    wf_w_uint(&w, 3);
    wf_w_uint(&w, time);
    return wf_w_finish(&w, len);
}

wf_status_t wf_online_encode(bool online, uint8_t *buf, size_t cap, size_t *len)
{
    wf_writer_t w;
    wf_w_init(&w, buf, cap);
    wf_w_bool(&w, online);
    return wf_w_finish(&w, len);
}
