/* Deterministic CBOR writer: shortest heads always (RFC 8949 §4.2.1). */
#include "wf/cbor_write.h"

#include <string.h>

#include "wf/cbor.h"

void wf_w_init(wf_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = (buf == NULL) ? 0u : cap;
    w->len = 0;
    w->overflow = false;
}

static void put(wf_writer_t *w, const uint8_t *data, size_t n)
{
    if (w->buf != NULL) {
        if (w->overflow || n > w->cap - w->len) {
            w->overflow = true;
        } else if (n > 0u) {
            memcpy(w->buf + w->len, data, n);
        }
    }
    w->len += n;
}

void wf_w_head(wf_writer_t *w, uint8_t major, uint64_t arg)
{
    uint8_t h[9];
    size_t n, i;
    uint8_t mt = (uint8_t)(major << 5);
    if (arg < 24u) { h[0] = (uint8_t)(mt | arg); n = 0; }
    else if (arg <= 0xffu) { h[0] = (uint8_t)(mt | 24u); n = 1; }
    else if (arg <= 0xffffu) { h[0] = (uint8_t)(mt | 25u); n = 2; }
    else if (arg <= 0xffffffffu) { h[0] = (uint8_t)(mt | 26u); n = 4; }
    else { h[0] = (uint8_t)(mt | 27u); n = 8; }
    for (i = 0; i < n; i++) {
        h[1u + i] = (uint8_t)(arg >> (8u * (n - 1u - i)));
    }
    put(w, h, n + 1u);
}

void wf_w_uint(wf_writer_t *w, uint64_t value) { wf_w_head(w, WF_CBOR_UINT, value); }

void wf_w_int(wf_writer_t *w, int64_t value)
{
    if (value >= 0) { wf_w_head(w, WF_CBOR_UINT, (uint64_t)value); }
    else { wf_w_head(w, WF_CBOR_NINT, (uint64_t)(-(value + 1))); }
}

void wf_w_text(wf_writer_t *w, const char *text, size_t len)
{
    wf_w_head(w, WF_CBOR_TSTR, len);
    put(w, (const uint8_t *)text, len);
}

void wf_w_cstr(wf_writer_t *w, const char *text) { wf_w_text(w, text, strlen(text)); }

void wf_w_bytes(wf_writer_t *w, const uint8_t *data, size_t len)
{
    wf_w_head(w, WF_CBOR_BSTR, len);
    put(w, data, len);
}

void wf_w_bool(wf_writer_t *w, bool value)
{
    uint8_t b = value ? 0xf5u : 0xf4u;
    put(w, &b, 1);
}

void wf_w_float64(wf_writer_t *w, double value)
{
    uint8_t h[9];
    uint64_t bits;
    int i;
    memcpy(&bits, &value, sizeof bits);
    h[0] = 0xfbu;
    for (i = 0; i < 8; i++) {
        h[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    put(w, h, sizeof h);
}

void wf_w_array(wf_writer_t *w, uint64_t count) { wf_w_head(w, WF_CBOR_ARRAY, count); }
void wf_w_map(wf_writer_t *w, uint64_t count) { wf_w_head(w, WF_CBOR_MAP, count); }

wf_status_t wf_w_finish(const wf_writer_t *w, size_t *len)
{
    *len = w->len;
    return (w->buf != NULL && w->overflow) ? WF_BUFFER_TOO_SMALL : WF_OK;
}
