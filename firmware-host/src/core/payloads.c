/*
 * Signed payloads (protocol.md §2, §3). Each open function follows protocol/signed.ts
 * openSigned(): parse envelope → key for kid → verify → strict payload decode → type/format
 * header → fields in table order → reject unknown keys. Field reading order equals the
 * TypeScript reference's, so both report the same first failure.
 */
#include "wf/payloads.h"

#include <string.h>

#include "wf/abi.h"
#include "wf/crypto.h"
#include "wf/text.h"

#define TRY(expr)                                  \
    do {                                           \
        wf_status_t st_ = (expr);                  \
        if (st_ != WF_OK) { return st_; }          \
    } while (0)

/* Key resolution step of openSigned: gives the public key or the precise reason. */
typedef wf_status_t (*key_for_fn)(const void *arg, wf_slice_t kid, const wf_verify_env_t *env,
                                  const uint8_t **public_key);

/* openSigned: envelope, key, signature, then the payload map with its type/format header. */
static wf_status_t open_signed(const uint8_t *buf, size_t len, size_t max_bytes, uint32_t type,
                               key_for_fn key_for, const void *arg, const wf_verify_env_t *env,
                               wf_map_t *fields)
{
    wf_sign1_t msg;
    const uint8_t *pk = NULL;
    uint64_t v;

    TRY(wf_sign1_parse(buf, len, max_bytes, &msg));
    TRY(key_for(arg, msg.kid, env, &pk));
    TRY(wf_sign1_verify(&msg, pk, env->scratch, env->scratch_len));
    /* Only now is the payload looked at (docs/protocol.md §4). */
    if (msg.payload.len > max_bytes) { return WF_CBOR_TOO_LARGE; }
    TRY(wf_cbor_check(msg.payload.ptr, msg.payload.len));
    TRY(wf_map_open(fields, msg.payload.ptr, msg.payload.len, 0));
    TRY(wf_map_uint(fields, 0, 0, WF_CBOR_UINT_MAX, &v));
    if (v != type) { return WF_COSE_WRONG_TYPE; }
    TRY(wf_map_uint(fields, 1, 0, WF_CBOR_UINT_MAX, &v));
    if (v != 1u) { return WF_CBOR_FIELD_INVALID; } /* format version 1 only */
    return WF_OK;
}

static bool expired(uint64_t expires, const wf_verify_env_t *env)
{
    /* "expires + skew <= now" (protocol.md §4: 300 s allowance) */
    return expires + env->skew <= env->now;
}

/* ---- key document (§3.1) ---------------------------------------------------------------- */

static wf_status_t root_key_for(const void *arg, wf_slice_t kid, const wf_verify_env_t *env,
                                const uint8_t **public_key)
{
    const uint8_t *root = (const uint8_t *)arg;
    uint8_t digest[32];
    (void)env;
    wf_sha256(root, 32, digest);
    if (kid.len != WF_KID_LEN || !wf_ct_equal(kid.ptr, digest, WF_KID_LEN)) {
        return WF_COSE_UNKNOWN_KID; /* not signed by the pinned root key */
    }
    *public_key = root;
    return WF_OK;
}

static wf_status_t read_key_entry(const uint8_t *base, size_t len, size_t off, wf_key_entry_t *e)
{
    wf_map_t f;
    wf_slice_t role;
    uint8_t digest[32];

    TRY(wf_map_open(&f, base, len, off));
    TRY(wf_map_bytes(&f, 1, WF_KID_LEN, WF_KID_LEN, &e->kid));
    TRY(wf_map_text(&f, 2, 0, 16, &role));
    TRY(wf_map_bytes(&f, 3, 32, 32, &e->public_key));
    TRY(wf_map_uint(&f, 4, 0, WF_CBOR_UINT_MAX, &e->expires));
    TRY(wf_map_done(&f));
    if (wf_slice_eq(role, "release")) {
        e->role = WF_ROLE_RELEASE;
    } else if (wf_slice_eq(role, "director")) {
        e->role = WF_ROLE_DIRECTOR;
    } else {
        return WF_CBOR_FIELD_INVALID;
    }
    wf_sha256(e->public_key.ptr, 32, digest);
    if (!wf_ct_equal(e->kid.ptr, digest, WF_KID_LEN)) { return WF_KEYDOC_KID_MISMATCH; }
    return WF_OK;
}

wf_status_t wf_keydoc_open(const uint8_t *buf, size_t len, const uint8_t root_public_key[32],
                           uint64_t min_serial, const wf_verify_env_t *env, wf_keydoc_t *out)
{
    wf_map_t f;
    wf_array_t keys;
    size_t off;

    TRY(open_signed(buf, len, WF_KEYDOC_MAX, WF_PAYLOAD_KEYDOC, root_key_for, root_public_key,
                    env, &f));
    TRY(wf_map_uint(&f, 2, 1, WF_CBOR_UINT_MAX, &out->serial));
    TRY(wf_map_uint(&f, 3, 0, WF_CBOR_UINT_MAX, &out->issued_at));
    TRY(wf_map_uint(&f, 4, 0, WF_CBOR_UINT_MAX, &out->expires));
    TRY(wf_map_array(&f, 5, 1, WF_MAX_KEYS, &keys));
    out->n_keys = 0;
    while (wf_array_next(&keys, &off) == WF_OK) {
        TRY(read_key_entry(f.base, f.len, off, &out->keys[out->n_keys]));
        out->n_keys++;
    }
    TRY(wf_map_done(&f));
    if (expired(out->expires, env)) { return WF_KEYDOC_EXPIRED; }
    if (out->serial < min_serial) { return WF_KEYDOC_ROLLBACK; }
    return WF_OK;
}

wf_status_t wf_keydoc_key_for(const wf_keydoc_t *doc, wf_slice_t kid, wf_role_t role,
                              const wf_verify_env_t *env, const uint8_t **public_key)
{
    uint8_t i;
    for (i = 0; i < doc->n_keys; i++) {
        const wf_key_entry_t *e = &doc->keys[i];
        if (kid.len == WF_KID_LEN && memcmp(e->kid.ptr, kid.ptr, WF_KID_LEN) == 0) {
            if (e->role != (uint8_t)role) { return WF_COSE_WRONG_ROLE; }
            if (expired(e->expires, env)) { return WF_KEY_EXPIRED; }
            *public_key = e->public_key.ptr;
            return WF_OK;
        }
    }
    return WF_COSE_UNKNOWN_KID;
}

static wf_status_t director_key_for(const void *arg, wf_slice_t kid, const wf_verify_env_t *env,
                                    const uint8_t **public_key)
{
    return wf_keydoc_key_for((const wf_keydoc_t *)arg, kid, WF_ROLE_DIRECTOR, env, public_key);
}

static wf_status_t release_key_for(const void *arg, wf_slice_t kid, const wf_verify_env_t *env,
                                   const uint8_t **public_key)
{
    return wf_keydoc_key_for((const wf_keydoc_t *)arg, kid, WF_ROLE_RELEASE, env, public_key);
}

/* ---- root chain (§3.5) ------------------------------------------------------------------ */

static wf_status_t previous_root_for(const void *arg, wf_slice_t kid, const wf_verify_env_t *env,
                                     const uint8_t **public_key)
{
    const wf_root_state_t *prev = (const wf_root_state_t *)arg;
    uint8_t digest[32];
    (void)env;
    wf_sha256(prev->public_key, 32, digest);
    if (kid.len != WF_KID_LEN || !wf_ct_equal(kid.ptr, digest, WF_KID_LEN)) {
        return WF_ROOT_CHAIN_BROKEN; /* not signed by the root before it */
    }
    *public_key = prev->public_key;
    return WF_OK;
}

wf_status_t wf_root_chain_walk(const wf_slice_t *links, size_t n_links,
                               const uint8_t provisioned[32], const wf_root_state_t *trusted,
                               const wf_verify_env_t *env, wf_root_state_t *out)
{
    wf_root_state_t cur;
    size_t i;

    cur.version = 1;
    memcpy(cur.public_key, provisioned, 32);
    for (i = 0; i < n_links; i++) {
        wf_map_t f;
        uint64_t version, issued_at;
        wf_slice_t pk;
        TRY(open_signed(links[i].ptr, links[i].len, WF_ROOT_LINK_MAX, WF_PAYLOAD_ROOT_LINK,
                        previous_root_for, &cur, env, &f));
        TRY(wf_map_uint(&f, 2, 2, WF_CBOR_UINT_MAX, &version));
        TRY(wf_map_bytes(&f, 3, 32, 32, &pk));
        TRY(wf_map_uint(&f, 4, 0, WF_CBOR_UINT_MAX, &issued_at));
        TRY(wf_map_done(&f));
        if (version != cur.version + 1u) { return WF_ROOT_CHAIN_BROKEN; }
        if (trusted != NULL && version == trusted->version &&
            memcmp(pk.ptr, trusted->public_key, 32) != 0) {
            return WF_ROOT_CHAIN_BROKEN; /* a fork signed by a retired root */
        }
        cur.version = version;
        memcpy(cur.public_key, pk.ptr, 32);
    }
    if (trusted != NULL && cur.version < trusted->version) { return WF_ROOT_ROLLBACK; }
    *out = cur;
    return WF_OK;
}

/* ---- freshness statement (§3.6) -------------------------------------------------------- */

wf_status_t wf_freshness_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                              const wf_verify_env_t *env, wf_freshness_t *out)
{
    wf_map_t f;
    TRY(open_signed(buf, len, WF_FRESHNESS_STMT_MAX, WF_PAYLOAD_FRESHNESS, director_key_for, keys,
                    env, &f));
    TRY(wf_map_uint(&f, 2, 0, WF_CBOR_UINT_MAX, &out->issued_at));
    TRY(wf_map_uint(&f, 3, 0, WF_CBOR_UINT_MAX, &out->expires));
    TRY(wf_map_done(&f));
    if (out->expires < out->issued_at) { return WF_CBOR_FIELD_INVALID; }
    return WF_OK;
}

/* ---- directive (§3.3) ------------------------------------------------------------------- */

/* {tstr 1..64: tstr ≤256}, at most 32 entries (fields.ts checkTextMap). */
static wf_status_t check_text_map(const uint8_t *base, size_t len, size_t off, wf_slice_t *raw)
{
    wf_item_t h;
    size_t pos, end;
    uint64_t i;
    wf_slice_t s;

    TRY(wf_cbor_head(base, len, off, &h));
    if (h.major != WF_CBOR_MAP) { return WF_CBOR_FIELD_INVALID; }
    if (h.arg > 32u) { return WF_CBOR_FIELD_INVALID; }
    pos = h.content;
    for (i = 0; i < h.arg; i++) {
        TRY(wf_cbor_get_text(base, len, pos, 1, 64, &s));
        TRY(wf_cbor_skip(base, len, pos, &pos));
        TRY(wf_cbor_get_text(base, len, pos, 0, WF_CONFIG_VALUE_MAX, &s));
        TRY(wf_cbor_skip(base, len, pos, &pos));
    }
    TRY(wf_cbor_skip(base, len, off, &end));
    raw->ptr = base + off;
    raw->len = end - off;
    return WF_OK;
}

static wf_status_t read_component(const uint8_t *base, size_t len, size_t off,
                                  wf_directive_entry_t *c)
{
    wf_map_t f;
    size_t at;
    bool present;

    TRY(wf_map_open(&f, base, len, off));
    TRY(wf_map_text(&f, 1, 0, 64, &c->component));
    if (!wf_is_component(c->component)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_bytes(&f, 2, 32, 32, &c->manifest_digest));
    c->config.ptr = NULL;
    c->config.len = 0;
    if (wf_map_find(&f, 3, &at) == WF_OK) { TRY(check_text_map(base, len, at, &c->config)); }
    TRY(wf_map_opt_bytes(&f, 4, 0, WF_ROLLBACK_MAX, &c->rollback, &present));
    if (!present) {
        c->rollback.ptr = NULL;
        c->rollback.len = 0;
    }
    return wf_map_done(&f);
}

wf_status_t wf_directive_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                              const wf_verify_env_t *env, wf_directive_t *out)
{
    wf_map_t f;
    wf_array_t comps;
    size_t off;

    TRY(open_signed(buf, len, WF_DIRECTIVE_MAX, WF_PAYLOAD_DIRECTIVE, director_key_for, keys, env,
                    &f));
    TRY(wf_map_text(&f, 2, 0, 64, &out->device));
    if (!wf_is_device_id(out->device)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_uint(&f, 3, 1, WF_CBOR_UINT_MAX, &out->sequence));
    TRY(wf_map_uint(&f, 4, 0, WF_CBOR_UINT_MAX, &out->issued_at));
    TRY(wf_map_uint(&f, 5, 0, WF_CBOR_UINT_MAX, &out->expires));
    TRY(wf_map_text(&f, 6, 0, 64, &out->rollout));
    TRY(wf_map_array(&f, 7, 1, WF_MAX_COMPONENTS, &comps));
    out->n_components = 0;
    while (wf_array_next(&comps, &off) == WF_OK) {
        TRY(read_component(f.base, f.len, off, &out->components[out->n_components]));
        out->n_components++;
    }
    return wf_map_done(&f);
}

/* ---- release manifest (§3.2) ------------------------------------------------------------ */

/* Array of texts 1..max bytes, sorted and unique (release-manifest.ts readSortedTexts). */
static wf_status_t read_sorted_texts(wf_array_t *a, size_t max, wf_slice_t *items, uint32_t cap,
                                     uint32_t *n)
{
    size_t off;
    uint32_t i;
    *n = 0;
    while (wf_array_next(a, &off) == WF_OK) {
        if (*n >= cap) { return WF_CBOR_FIELD_INVALID; }
        TRY(wf_cbor_get_text(a->base, a->len, off, 1, max, &items[*n]));
        (*n)++;
    }
    for (i = 1; i < *n; i++) {
        if (wf_slice_compare(items[i - 1u], items[i]) >= 0) { return WF_CBOR_FIELD_INVALID; }
    }
    return WF_OK;
}

wf_status_t wf_manifest_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                             const wf_verify_env_t *env, wf_manifest_t *out)
{
    wf_map_t f, img, mem;
    wf_array_t arr;
    wf_slice_t format, names[32];
    uint32_t n, i;
    uint64_t v;

    TRY(open_signed(buf, len, WF_MANIFEST_MAX, WF_PAYLOAD_MANIFEST, release_key_for, keys, env,
                    &f));
    TRY(wf_map_text(&f, 2, 0, 64, &out->component));
    if (!wf_is_component(out->component)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_text(&f, 3, 0, 32, &out->version));
    if (!wf_is_semver(out->version)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_map(&f, 4, &img));
    TRY(wf_map_bytes(&img, 1, 32, 32, &out->image_sha256));
    TRY(wf_map_uint(&img, 2, 1, WF_IMAGE_MAX, &out->image_size));
    TRY(wf_map_text(&img, 3, 0, 8, &format));
    if (!wf_slice_eq(format, "wasm")) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_done(&img));
    TRY(wf_map_uint(&f, 5, 1, 255, &out->abi));
    TRY(wf_map_array(&f, 6, 0, 32, &arr));
    TRY(read_sorted_texts(&arr, 32, names, 32, &n));
    out->capabilities = 0;
    for (i = 0; i < n; i++) {
        out->capabilities |= wf_capability_bit((const char *)names[i].ptr, names[i].len);
    }
    TRY(wf_map_map(&f, 7, &mem));
    TRY(wf_map_uint(&mem, 1, 0, 65536, &v));
    out->max_pages = (uint32_t)v;
    TRY(wf_map_uint(&mem, 2, 0, 16u * 1024u * 1024u, &v));
    out->stack = (uint32_t)v;
    TRY(wf_map_done(&mem));
    TRY(wf_map_uint(&f, 8, 10, 3600000, &v));
    out->tick_ms = (uint32_t)v;
    TRY(wf_map_array(&f, 9, 0, 3, &arr));
    TRY(read_sorted_texts(&arr, 16, names, 3, &n));
    out->exports = 0;
    for (i = 0; i < n; i++) {
        if (wf_slice_eq(names[i], "wf_health")) { out->exports |= WF_EXPORT_HEALTH; }
        else if (wf_slice_eq(names[i], "wf_init")) { out->exports |= WF_EXPORT_INIT; }
        else if (wf_slice_eq(names[i], "wf_tick")) { out->exports |= WF_EXPORT_TICK; }
        else { return WF_CBOR_FIELD_INVALID; }
    }
    TRY(wf_map_uint(&f, 10, 0, WF_CBOR_UINT_MAX, &out->created_at));
    return wf_map_done(&f);
}

/* ---- rollback authorization (§3.4) ------------------------------------------------------ */

wf_status_t wf_rollback_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                             const wf_verify_env_t *env, wf_rollback_t *out)
{
    wf_map_t f;
    TRY(open_signed(buf, len, WF_ROLLBACK_MAX, WF_PAYLOAD_ROLLBACK, release_key_for, keys, env,
                    &f));
    TRY(wf_map_text(&f, 2, 0, 64, &out->component));
    if (!wf_is_component(out->component)) { return WF_CBOR_FIELD_INVALID; }
    TRY(wf_map_bytes(&f, 3, 32, 32, &out->target));
    TRY(wf_map_uint(&f, 4, 0, WF_CBOR_UINT_MAX, &out->issued_at));
    TRY(wf_map_uint(&f, 5, 0, WF_CBOR_UINT_MAX, &out->expires));
    return wf_map_done(&f);
}
