/*
 * Strict deterministic CBOR reader (RFC 8949 §3 well-formedness, §4.2.1 deterministic encoding),
 * as profiled by docs/protocol.md §1. No allocation; recursion depth is bounded by
 * WF_CBOR_MAX_DEPTH.
 */
#include "wf/cbor.h"

#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Heads                                                                                       */

wf_status_t wf_cbor_head(const uint8_t *base, size_t len, size_t off, wf_item_t *out)
{
    size_t extra;
    size_t i;
    uint8_t ib;

    if (base == NULL || out == NULL || off >= len) {
        return WF_CBOR_MALFORMED;
    }
    ib = base[off];
    out->major = (uint8_t)(ib >> 5);
    out->info = (uint8_t)(ib & 0x1fu);
    out->off = off;
    out->arg = out->info;
    if (out->info < 24u || out->info == 31u) {
        extra = 0;
    } else if (out->info <= 27u) {
        extra = (size_t)1u << (out->info - 24u); /* 1, 2, 4, 8 bytes (RFC 8949 §3) */
    } else {
        return WF_CBOR_MALFORMED;                  /* 28..30 are reserved */
    }
    if (extra > len - off - 1u) {
        return WF_CBOR_MALFORMED;
    }
    if (extra > 0u) {
        out->arg = 0;
        for (i = 0; i < extra; i++) {
            out->arg = (out->arg << 8) | base[off + 1u + i];
        }
    }
    out->content = off + 1u + extra;
    return WF_OK;
}

/* Shortest form (RFC 8949 §4.2.1 "preferred serialization" of heads). */
static bool head_is_shortest(const wf_item_t *h)
{
    switch (h->info) {
    case 24: return h->arg >= 24u;
    case 25: return h->arg > 0xffu;
    case 26: return h->arg > 0xffffu;
    case 27: return h->arg > 0xffffffffu;
    default: return true;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The one-pass checker                                                                        */

typedef struct {
    const uint8_t *base;
    size_t len;
    bool canonical; /* stays true until the first deterministic-encoding violation */
    uint32_t items; /* data items seen so far, bounded by WF_CBOR_MAX_ITEMS */
} checker_t;

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80u) { i++; continue; }
        if (c >= 0xc2u && c <= 0xdfu) { more = 1; cp = c & 0x1fu; }
        else if (c >= 0xe0u && c <= 0xefu) { more = 2; cp = c & 0x0fu; }
        else if (c >= 0xf0u && c <= 0xf4u) { more = 3; cp = c & 0x07u; }
        else { return false; }
        if (more > n - i - 1u) { return false; }
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0u) != 0x80u) { return false; }
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((more == 2 && cp < 0x800u) || (more == 3 && cp < 0x10000u) || cp > 0x10ffffu ||
            (cp >= 0xd800u && cp <= 0xdfffu)) {
            return false;
        }
        i += more + 1u;
    }
    return true;
}

static int compare_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = memcmp(a, b, n);
    if (c != 0) { return c; }
    return (an > bn) - (an < bn);
}

static wf_status_t check_item(checker_t *c, size_t off, size_t *end, unsigned depth, bool *is_break);

/* Children of a definite (count known) or indefinite (until break) array or map. */
static wf_status_t check_children(checker_t *c, const wf_item_t *h, size_t *pos, unsigned depth)
{
    bool indefinite = (h->info == 31u);
    bool is_map = (h->major == WF_CBOR_MAP);
    uint64_t items = indefinite ? UINT64_MAX : (is_map ? h->arg * 2u : h->arg);
    size_t prev_key = 0, prev_key_len = 0;
    bool have_prev = false;
    uint64_t n;

    if (!indefinite && is_map && h->arg > (UINT64_MAX / 2u)) {
        return WF_CBOR_MALFORMED;
    }
    for (n = 0; n < items; n++) {
        size_t start = *pos, stop;
        bool brk = false;
        wf_status_t st = check_item(c, start, &stop, depth + 1u, &brk);
        if (st != WF_OK) { return st; }
        if (brk) {
            if (!indefinite || (is_map && (n % 2u) != 0u)) {
                return WF_CBOR_MALFORMED; /* break where no item may end */
            }
            *pos = stop;
            return WF_OK;
        }
        if (is_map && (n % 2u) == 0u) {
            /* keys ascending by encoded bytes, none repeated (RFC 8949 §4.2.1) */
            if (have_prev && compare_bytes(c->base + prev_key, prev_key_len, c->base + start,
                                           stop - start) >= 0) {
                c->canonical = false;
            }
            prev_key = start;
            prev_key_len = stop - start;
            have_prev = true;
        }
        *pos = stop;
    }
    return indefinite ? WF_CBOR_MALFORMED : WF_OK; /* unreachable for indefinite */
}

static wf_status_t check_item(checker_t *c, size_t off, size_t *end, unsigned depth, bool *is_break)
{
    wf_item_t h;
    wf_status_t st;
    size_t pos;

    *is_break = false;
    if (depth > WF_CBOR_MAX_DEPTH) {
        return WF_CBOR_MALFORMED;
    }
    st = wf_cbor_head(c->base, c->len, off, &h);
    if (st != WF_OK) { return st; }
    if (h.major == WF_CBOR_SIMPLE && h.info == 31u) {
        *is_break = true;
        *end = h.content;
        return WF_OK;
    }
    if (++c->items > WF_CBOR_MAX_ITEMS) {
        return WF_CBOR_TOO_LARGE;
    }
    if (h.major != WF_CBOR_SIMPLE && !head_is_shortest(&h)) {
        c->canonical = false; /* floats (major 7) have their own sizes, checked below */
    }
    pos = h.content;
    switch (h.major) {
    case WF_CBOR_UINT:
    case WF_CBOR_NINT:
        if (h.info == 31u) { return WF_CBOR_MALFORMED; }
        break;
    case WF_CBOR_BSTR:
    case WF_CBOR_TSTR:
        if (h.info == 31u) {
            /* indefinite string: chunks of the same major type until break */
            c->canonical = false;
            for (;;) {
                wf_item_t ch;
                st = wf_cbor_head(c->base, c->len, pos, &ch);
                if (st != WF_OK) { return st; }
                if (c->base[pos] == 0xffu) { pos++; break; }
                if (ch.major != h.major || ch.info == 31u) { return WF_CBOR_MALFORMED; }
                if (ch.arg > c->len - ch.content) { return WF_CBOR_MALFORMED; }
                pos = ch.content + (size_t)ch.arg;
            }
            break;
        }
        if (h.arg > c->len - pos) { return WF_CBOR_MALFORMED; }
        if (h.major == WF_CBOR_TSTR && !utf8_valid(c->base + pos, (size_t)h.arg)) {
            c->canonical = false; /* the reference decoder would not give the same text back */
        }
        pos += (size_t)h.arg;
        break;
    case WF_CBOR_ARRAY:
    case WF_CBOR_MAP:
        if (h.info == 31u) { c->canonical = false; }
        else if (h.arg > c->len - pos) { return WF_CBOR_MALFORMED; } /* each item ≥ 1 byte */
        st = check_children(c, &h, &pos, depth);
        if (st != WF_OK) { return st; }
        break;
    case WF_CBOR_TAG:
        /* No tag is in the profile: COSE's tag 18 is the byte d2 the envelope reader consumes
         * before this walk (protocol.md §1). Refused at the head, before its content. */
        return (h.info == 31u) ? WF_CBOR_MALFORMED : WF_CBOR_UNSUPPORTED;
    default: /* WF_CBOR_SIMPLE */
        if (h.info == 24u) {
            return (h.arg < 32u) ? WF_CBOR_MALFORMED   /* RFC 8949 §3.3 */
                                 : WF_CBOR_UNSUPPORTED; /* simple values 32..255 */
        }
        if (h.info >= 25u) {
            return WF_CBOR_UNSUPPORTED; /* floats: only telemetry has them, and no host reads it */
        }
        if (h.arg < 20u || h.arg > 22u) {
            return WF_CBOR_UNSUPPORTED; /* only false, true, null; undefined (23) included */
        }
        break;
    }
    *end = pos;
    return WF_OK;
}

wf_status_t wf_cbor_check(const uint8_t *buf, size_t len)
{
    checker_t c;
    size_t end = 0;
    bool brk = false;
    wf_status_t st;

    if (buf == NULL || len == 0u) {
        return WF_CBOR_MALFORMED;
    }
    c.base = buf;
    c.len = len;
    c.canonical = true;
    c.items = 0;
    st = check_item(&c, 0, &end, 0, &brk);
    if (st != WF_OK) { return st; }
    if (brk || end != len) {
        return WF_CBOR_MALFORMED; /* a lone break, or trailing bytes */
    }
    return c.canonical ? WF_OK : WF_CBOR_NON_CANONICAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Navigation (on accepted buffers; still bounds-checked)                                      */

wf_status_t wf_cbor_skip(const uint8_t *base, size_t len, size_t off, size_t *end)
{
    checker_t c;
    bool brk;
    wf_status_t st;
    c.base = base;
    c.len = len;
    c.canonical = true;
    c.items = 0;
    st = check_item(&c, off, end, 0, &brk);
    if (st == WF_OK && brk) { st = WF_CBOR_MALFORMED; }
    return st;
}

wf_status_t wf_cbor_get_uint(const uint8_t *base, size_t len, size_t off, uint64_t min,
                             uint64_t max, uint64_t *out)
{
    wf_item_t h;
    if (wf_cbor_head(base, len, off, &h) != WF_OK) { return WF_CBOR_MALFORMED; }
    if (h.major != WF_CBOR_UINT || h.arg > WF_CBOR_UINT_MAX || h.arg < min || h.arg > max) {
        return WF_CBOR_FIELD_INVALID;
    }
    *out = h.arg;
    return WF_OK;
}

static wf_status_t get_string(const uint8_t *base, size_t len, size_t off, uint8_t major,
                              size_t min, size_t max, wf_slice_t *out)
{
    wf_item_t h;
    if (wf_cbor_head(base, len, off, &h) != WF_OK) { return WF_CBOR_MALFORMED; }
    if (h.major != major || h.info == 31u) { return WF_CBOR_FIELD_INVALID; }
    if (h.arg > len - h.content) { return WF_CBOR_MALFORMED; }
    if (h.arg < min || h.arg > max) { return WF_CBOR_FIELD_INVALID; }
    out->ptr = base + h.content;
    out->len = (size_t)h.arg;
    return WF_OK;
}

wf_status_t wf_cbor_get_text(const uint8_t *base, size_t len, size_t off, size_t min,
                             size_t max, wf_slice_t *out)
{
    return get_string(base, len, off, WF_CBOR_TSTR, min, max, out);
}

wf_status_t wf_cbor_get_bytes(const uint8_t *base, size_t len, size_t off, size_t min,
                              size_t max, wf_slice_t *out)
{
    return get_string(base, len, off, WF_CBOR_BSTR, min, max, out);
}

wf_status_t wf_cbor_get_array(const uint8_t *base, size_t len, size_t off, uint32_t min,
                              uint32_t max, wf_array_t *out)
{
    wf_item_t h;
    if (wf_cbor_head(base, len, off, &h) != WF_OK) { return WF_CBOR_MALFORMED; }
    if (h.major != WF_CBOR_ARRAY || h.info == 31u) { return WF_CBOR_FIELD_INVALID; }
    if (h.arg < min || h.arg > max) { return WF_CBOR_FIELD_INVALID; }
    out->base = base;
    out->len = len;
    out->count = (uint32_t)h.arg;
    out->index = 0;
    out->next = h.content;
    return WF_OK;
}

wf_status_t wf_array_next(wf_array_t *a, size_t *off)
{
    size_t end;
    if (a->index >= a->count) { return WF_NOT_FOUND; }
    if (wf_cbor_skip(a->base, a->len, a->next, &end) != WF_OK) { return WF_CBOR_MALFORMED; }
    *off = a->next;
    a->next = end;
    a->index++;
    return WF_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Map reader (protocol/fields.ts MapReader)                                                   */

wf_status_t wf_map_open(wf_map_t *m, const uint8_t *base, size_t len, size_t off)
{
    wf_item_t h;
    size_t pos;
    uint64_t i;

    if (wf_cbor_head(base, len, off, &h) != WF_OK) { return WF_CBOR_MALFORMED; }
    if (h.major != WF_CBOR_MAP || h.info == 31u) { return WF_CBOR_FIELD_INVALID; }
    if (h.arg > WF_MAP_MAX_ENTRIES) { return WF_CBOR_UNKNOWN_FIELD; }
    m->base = base;
    m->len = len;
    m->count = (uint8_t)h.arg;
    m->seen = 0;
    pos = h.content;
    for (i = 0; i < h.arg; i++) {
        wf_item_t k;
        size_t val;
        if (wf_cbor_head(base, len, pos, &k) != WF_OK) { return WF_CBOR_MALFORMED; }
        m->entry[i].key = (k.major == WF_CBOR_UINT && k.arg < UINT32_MAX) ? (uint32_t)k.arg
                                                                         : UINT32_MAX;
        if (wf_cbor_skip(base, len, pos, &val) != WF_OK) { return WF_CBOR_MALFORMED; }
        if (val > UINT32_MAX) { return WF_CBOR_MALFORMED; }
        m->entry[i].off = (uint32_t)val;
        if (wf_cbor_skip(base, len, val, &pos) != WF_OK) { return WF_CBOR_MALFORMED; }
    }
    return WF_OK;
}

wf_status_t wf_map_find(wf_map_t *m, uint32_t key, size_t *off)
{
    uint8_t i;
    for (i = 0; i < m->count; i++) {
        if (m->entry[i].key == key && key != UINT32_MAX) {
            m->seen |= (uint32_t)1u << i;
            *off = m->entry[i].off;
            return WF_OK;
        }
    }
    return WF_NOT_FOUND;
}

wf_status_t wf_map_done(const wf_map_t *m)
{
    uint32_t all = (m->count >= 32u) ? UINT32_MAX : (((uint32_t)1u << m->count) - 1u);
    return ((m->seen & all) == all) ? WF_OK : WF_CBOR_UNKNOWN_FIELD;
}

/* Required-field wrappers: find, then type-check. */
#define WF_REQUIRED_(call)                                        \
    do {                                                          \
        size_t off_;                                              \
        if (wf_map_find(m, key, &off_) != WF_OK) {                \
            return WF_CBOR_FIELD_MISSING;                         \
        }                                                         \
        return call;                                              \
    } while (0)

wf_status_t wf_map_uint(wf_map_t *m, uint32_t key, uint64_t min, uint64_t max, uint64_t *out)
{
    WF_REQUIRED_(wf_cbor_get_uint(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_text(wf_map_t *m, uint32_t key, size_t min, size_t max, wf_slice_t *out)
{
    WF_REQUIRED_(wf_cbor_get_text(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_bytes(wf_map_t *m, uint32_t key, size_t min, size_t max, wf_slice_t *out)
{
    WF_REQUIRED_(wf_cbor_get_bytes(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_array(wf_map_t *m, uint32_t key, uint32_t min, uint32_t max, wf_array_t *out)
{
    WF_REQUIRED_(wf_cbor_get_array(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_map(wf_map_t *m, uint32_t key, wf_map_t *out)
{
    WF_REQUIRED_(wf_map_open(out, m->base, m->len, off_));
}

#define WF_OPTIONAL_(call)                                        \
    do {                                                          \
        size_t off_;                                              \
        *present = false;                                         \
        if (wf_map_find(m, key, &off_) != WF_OK) {                \
            return WF_OK;                                         \
        }                                                         \
        *present = true;                                          \
        return call;                                              \
    } while (0)

wf_status_t wf_map_opt_uint(wf_map_t *m, uint32_t key, uint64_t min, uint64_t max,
                            uint64_t *out, bool *present)
{
    WF_OPTIONAL_(wf_cbor_get_uint(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_opt_text(wf_map_t *m, uint32_t key, size_t min, size_t max,
                            wf_slice_t *out, bool *present)
{
    WF_OPTIONAL_(wf_cbor_get_text(m->base, m->len, off_, min, max, out));
}

wf_status_t wf_map_opt_bytes(wf_map_t *m, uint32_t key, size_t min, size_t max,
                             wf_slice_t *out, bool *present)
{
    WF_OPTIONAL_(wf_cbor_get_bytes(m->base, m->len, off_, min, max, out));
}

bool wf_slice_eq(wf_slice_t s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0u || memcmp(s.ptr, text, n) == 0);
}
