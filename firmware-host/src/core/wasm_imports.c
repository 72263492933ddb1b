/* Import/export check of a wasm module against host ABI v1 (protocol.md §6; the TypeScript
 * twin is protocol/wasm-inspect.ts checkAbi). */
#include "wf/wasm_check.h"

#include <string.h>

#include "wf/abi.h"

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} rd_t;

static uint8_t rd_byte(rd_t *r)
{
    if (r->pos >= r->len) { r->bad = true; return 0; }
    return r->p[r->pos++];
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

static const uint8_t *rd_bytes(rd_t *r, uint32_t n)
{
    const uint8_t *out;
    if (r->bad || n > r->len - r->pos) { r->bad = true; return NULL; }
    out = r->p + r->pos;
    r->pos += n;
    return out;
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
        uint32_t ml = rd_u32(r);
        const uint8_t *mod = rd_bytes(r, ml);
        uint32_t nl = rd_u32(r);
        const uint8_t *name = rd_bytes(r, nl);
        uint8_t kind = rd_byte(r);
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
        if (kind == 0x00u && ml == 2u && memcmp(mod, WF_ABI_MODULE, 2) == 0) {
            spec = wf_abi_find((const char *)name, nl);
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
        uint32_t nl = rd_u32(r);
        const uint8_t *name = rd_bytes(r, nl);
        uint8_t kind = rd_byte(r);
        uint32_t index = rd_u32(r);
        uint8_t bit = 0;
        if (r->bad) { break; }
        if (nl == 6u && memcmp(name, "memory", 6) == 0 && kind == 0x02u) {
            s->memory_exported = true;
        }
        if (nl == 7u && memcmp(name, "wf_init", 7) == 0) { bit = WF_EXPORT_INIT; }
        else if (nl == 7u && memcmp(name, "wf_tick", 7) == 0) { bit = WF_EXPORT_TICK; }
        else if (nl == 9u && memcmp(name, "wf_health", 9) == 0) { bit = WF_EXPORT_HEALTH; }
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

wf_status_t wf_wasm_check(const uint8_t *wasm, size_t len, uint32_t granted, wf_wasm_info_t *info)
{
    static const uint8_t header[8] = {0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00};
    scan_t s;
    rd_t r;
    wf_status_t import_st = WF_OK, export_st = WF_OK;
    bool saw_exports = false;

    if (wasm == NULL || info == NULL) { return WF_BAD_PARAMETER; }
    if (len < 8u || memcmp(wasm, header, 8) != 0) { return WF_MODULE_INVALID; }
    memset(&s, 0, sizeof s);
    info->exports = 0;
    r.p = wasm;
    r.len = len;
    r.pos = 8;
    r.bad = false;
    while (r.pos < r.len && !r.bad) {
        uint8_t id = rd_byte(&r);
        uint32_t size = rd_u32(&r);
        rd_t sec;
        const uint8_t *body = rd_bytes(&r, size);
        if (r.bad) { break; }
        sec.p = body;
        sec.len = size;
        sec.pos = 0;
        sec.bad = false;
        switch (id) {
        case 1: read_types(&sec, s.types, &s.n_types); break;
        case 2: import_st = read_imports(&sec, &s); break;
        case 3: read_functions(&sec, &s); break;
        case 5: read_memory(&sec, &s); break;
        case 7: export_st = read_exports(&sec, &s, &info->exports); saw_exports = true; break;
        default: break; /* other sections are the engine's to validate */
        }
        if (sec.bad) { return WF_MODULE_INVALID; }
    }
    if (r.bad) { return WF_MODULE_INVALID; }
    (void)saw_exports;
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
