/* Import/export check of a wasm module against host ABI v1 (protocol.md §6; the TypeScript
 * twin is protocol/wasm-inspect.ts checkAbi). */
#include "wf/wasm_check.h"

#include <string.h>

#include "wf/abi.h"

/* Reader over the module through the caller's read function, with a small window, so a
 * module can be checked where it lies (a flash slot, a file) without a RAM copy. */
typedef struct {
    wf_wasm_read_fn read;
    void *ctx;
    size_t pos, end;        /* absolute offsets */
    size_t win_off, win_len;
    uint8_t win[64];
    bool bad;
} rd_t;

static uint8_t rd_byte(rd_t *r)
{
    if (r->bad || r->pos >= r->end) { r->bad = true; return 0; }
    if (r->pos < r->win_off || r->pos >= r->win_off + r->win_len) {
        size_t n = r->end - r->pos;
        if (n > sizeof r->win) { n = sizeof r->win; }
        if (r->read(r->ctx, r->pos, r->win, n) != WF_OK) { r->bad = true; return 0; }
        r->win_off = r->pos;
        r->win_len = n;
    }
    return r->win[r->pos++ - r->win_off];
}

static uint32_t rd_u32(rd_t *r)
{
    uint32_t v = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t b = rd_byte(r);
        if (r->bad || shift > 28u) { r->bad = true; return 0; }
        v |= (uint32_t)(b & 0x7fu) << shift;
        if ((b & 0x80u) == 0u) { return v; }
        shift += 7u;
    }
}

/* Read a name of n bytes; keeps up to cap-1 of them NUL-terminated in out (longer names can
 * match no ABI name: *fits says so). */
static void rd_name(rd_t *r, uint32_t n, char *out, size_t cap, bool *fits)
{
    uint32_t i;
    *fits = (n < cap);
    if (n > r->end - r->pos) { r->bad = true; return; }
    for (i = 0; i < n; i++) {
        uint8_t c = rd_byte(r);
        if (i < cap - 1u) { out[i] = (char)c; }
    }
    out[(n < cap - 1u) ? n : cap - 1u] = '\0';
}

static rd_t rd_sub(const rd_t *r, size_t size)
{
    rd_t sub = *r;
    sub.end = r->pos + size;
    sub.win_len = 0;
    return sub;
}

/* A function type as "params>results" with i/I/f/F letters (wf/abi.h wasm_type). */
typedef struct {
    char sig[24];
} ftype_t;

static char valtype_letter(uint8_t t)
{
    switch (t) {
    case 0x7f: return 'i';
    case 0x7e: return 'I';
    case 0x7d: return 'f';
    case 0x7c: return 'F';
    default: return '?';
    }
}

static void read_types(rd_t *r, ftype_t *types, uint32_t *n_types)
{
    uint32_t n = rd_u32(r), i, k;
    if (n > WF_WASM_MAX_TYPES) { r->bad = true; return; }
    for (i = 0; i < n && !r->bad; i++) {
        size_t at = 0;
        uint32_t np, nr;
        if (rd_byte(r) != 0x60u) { r->bad = true; return; }
        np = rd_u32(r);
        for (k = 0; k < np && !r->bad; k++) {
            char c = valtype_letter(rd_byte(r));
            if (at < sizeof types[i].sig - 2u) { types[i].sig[at++] = c; }
        }
        if (at < sizeof types[i].sig - 1u) { types[i].sig[at++] = '>'; }
        nr = rd_u32(r);
        for (k = 0; k < nr && !r->bad; k++) {
            char c = valtype_letter(rd_byte(r));
            if (at < sizeof types[i].sig - 1u) { types[i].sig[at++] = c; }
        }
        types[i].sig[at] = '\0';
    }
    *n_types = n;
}

typedef struct {
    ftype_t types[WF_WASM_MAX_TYPES];
    uint32_t n_types;
    uint16_t func_type[WF_WASM_MAX_FUNCS]; /* function index space → type index */
    uint32_t n_funcs;
    uint32_t caps;
    bool pointer_imports, memory_exported;
    uint32_t mem_pages;
} scan_t;

static wf_status_t read_imports(rd_t *r, scan_t *s)
{
    uint32_t n = rd_u32(r), i;
    wf_status_t first = WF_OK;
    for (i = 0; i < n && !r->bad; i++) {
        char mod[8], name[24];
        bool mod_fits, name_fits;
        uint32_t ml = rd_u32(r);
        uint32_t nl;
        uint8_t kind;
        rd_name(r, ml, mod, sizeof mod, &mod_fits);
        nl = rd_u32(r);
        rd_name(r, nl, name, sizeof name, &name_fits);
        kind = rd_byte(r);
        const wf_abi_import_t *spec = NULL;
        uint32_t type_index = 0;
        if (r->bad) { break; }
        if (kind == 0x00u) {
            type_index = rd_u32(r);
        } else if (kind == 0x01u) { /* table: reftype + limits */
            (void)rd_byte(r);
            if (rd_byte(r) & 1u) { (void)rd_u32(r); }
            (void)rd_u32(r);
        } else if (kind == 0x02u) { /* memory: limits */
            uint8_t fl = rd_byte(r);
            (void)rd_u32(r);
            if (fl & 1u) { (void)rd_u32(r); }
        } else if (kind == 0x03u) { /* global: valtype + mut */
            (void)rd_byte(r);
            (void)rd_byte(r);
        } else {
            r->bad = true;
            break;
        }
        if (first != WF_OK) { continue; } /* keep parsing; the first violation wins */
        if (kind == 0x00u && mod_fits && name_fits && strcmp(mod, WF_ABI_MODULE) == 0) {
            spec = wf_abi_find(name, nl);
        }
        if (spec == NULL) {
            first = WF_ABI_UNKNOWN_IMPORT;
            continue;
        }
        if (type_index >= s->n_types || strcmp(s->types[type_index].sig, spec->wasm_type) != 0) {
            first = WF_ABI_BAD_SIGNATURE;
            continue;
        }
        if (s->n_funcs >= WF_WASM_MAX_FUNCS) { r->bad = true; break; }
        s->func_type[s->n_funcs++] = (uint16_t)type_index;
        s->caps |= spec->capability;
        if (spec->pointers != 0u) { s->pointer_imports = true; }
    }
    return first;
}

static void read_functions(rd_t *r, scan_t *s)
{
    uint32_t n = rd_u32(r), i;
    for (i = 0; i < n && !r->bad; i++) {
        uint32_t t = rd_u32(r);
        if (s->n_funcs >= WF_WASM_MAX_FUNCS || t >= s->n_types) { r->bad = true; return; }
        s->func_type[s->n_funcs++] = (uint16_t)t;
    }
}

static void read_memory(rd_t *r, scan_t *s)
{
    uint32_t n = rd_u32(r);
    if (n >= 1u) {
        uint8_t fl = rd_byte(r);
        uint32_t initial = rd_u32(r);
        s->mem_pages = (fl & 1u) ? rd_u32(r) : initial;
    }
}

static wf_status_t read_exports(rd_t *r, scan_t *s, uint8_t *exports)
{
    uint32_t n = rd_u32(r), i;
    wf_status_t first = WF_OK;
    *exports = 0;
    for (i = 0; i < n && !r->bad; i++) {
        char name[16];
        bool fits;
        uint32_t nl = rd_u32(r);
        uint8_t kind;
        uint32_t index;
        uint8_t bit = 0;
        rd_name(r, nl, name, sizeof name, &fits);
        kind = rd_byte(r);
        index = rd_u32(r);
        if (r->bad) { break; }
        if (!fits) { continue; }
        if (strcmp(name, "memory") == 0 && kind == 0x02u) { s->memory_exported = true; }
        if (strcmp(name, "wf_init") == 0) { bit = WF_EXPORT_INIT; }
        else if (strcmp(name, "wf_tick") == 0) { bit = WF_EXPORT_TICK; }
        else if (strcmp(name, "wf_health") == 0) { bit = WF_EXPORT_HEALTH; }
        if (bit == 0u) { continue; }
        if (kind != 0x00u || index >= s->n_funcs ||
            strcmp(s->types[s->func_type[index]].sig, ">i") != 0) {
            if (first == WF_OK) { first = WF_ABI_BAD_SIGNATURE; }
            continue;
        }
        *exports |= bit;
    }
    return first;
}

typedef struct {
    const uint8_t *p;
    size_t len;
} mem_src_t;

static wf_status_t mem_read(void *ctx, size_t off, uint8_t *out, size_t n)
{
    const mem_src_t *m = (const mem_src_t *)ctx;
    if (off > m->len || n > m->len - off) { return WF_MODULE_INVALID; }
    memcpy(out, m->p + off, n);
    return WF_OK;
}

wf_status_t wf_wasm_check(const uint8_t *wasm, size_t len, uint32_t granted, wf_wasm_info_t *info)
{
    mem_src_t m;
    if (wasm == NULL) { return WF_BAD_PARAMETER; }
    m.p = wasm;
    m.len = len;
    return wf_wasm_check_stream(mem_read, &m, len, granted, info);
}

wf_status_t wf_wasm_check_stream(wf_wasm_read_fn read, void *ctx, size_t len, uint32_t granted,
                                 wf_wasm_info_t *info)
{
    static const uint8_t header[8] = {0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00};
    scan_t s;
    rd_t r;
    wf_status_t import_st = WF_OK, export_st = WF_OK;
    uint32_t i;

    if (read == NULL || info == NULL) { return WF_BAD_PARAMETER; }
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    info->exports = 0;
    r.read = read;
    r.ctx = ctx;
    r.end = len;
    if (len < 8u) { return WF_MODULE_INVALID; }
    for (i = 0; i < 8u; i++) {
        if (rd_byte(&r) != header[i]) { return WF_MODULE_INVALID; }
    }
    while (r.pos < r.end && !r.bad) {
        uint8_t id = rd_byte(&r);
        uint32_t size = rd_u32(&r);
        rd_t sec;
        if (r.bad || size > r.end - r.pos) { return WF_MODULE_INVALID; }
        sec = rd_sub(&r, size);
        switch (id) {
        case 1: read_types(&sec, s.types, &s.n_types); break;
        case 2: import_st = read_imports(&sec, &s); break;
        case 3: read_functions(&sec, &s); break;
        case 5: read_memory(&sec, &s); break;
        case 7: export_st = read_exports(&sec, &s, &info->exports); break;
        default: break; /* other sections are the engine's to validate */
        }
        if (sec.bad) { return WF_MODULE_INVALID; }
        r.pos += size;
    }
    if (r.bad) { return WF_MODULE_INVALID; }
    /* order as checkAbi: imports, then entry exports, then memory; capabilities per step 6 */
    if (import_st != WF_OK) { return import_st; }
    if ((s.caps & ~granted) != 0u) { return WF_CAPABILITY_NOT_GRANTED; }
    if (export_st != WF_OK) { return export_st; }
    if ((info->exports & WF_EXPORT_INIT) == 0u || (info->exports & WF_EXPORT_TICK) == 0u) {
        return WF_ABI_MISSING_EXPORT;
    }
    if (s.pointer_imports && !s.memory_exported) { return WF_ABI_MISSING_EXPORT; }
    info->capabilities = s.caps;
    info->max_pages = s.mem_pages;
    return WF_OK;
}
