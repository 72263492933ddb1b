/* Device checks 1-4 (protocol.md §4), step for step as protocol/device-checks.ts checkBundle. */
#include "wf/checks.h"

#include <string.h>

#include "wf/abi.h"
#include "wf/crypto.h"
#include "wf/messages.h"
#include "wf/text.h"

#define TRY(expr)                                  \
    do {                                           \
        wf_status_t st_ = (expr);                  \
        if (st_ != WF_OK) { return st_; }          \
    } while (0)

static const wf_running_t *running_for(const wf_device_ctx_t *ctx, wf_slice_t component)
{
    size_t i;
    for (i = 0; i < ctx->n_running; i++) {
        if (ctx->running[i].component != NULL && wf_slice_eq(component, ctx->running[i].component)) {
            return &ctx->running[i];
        }
    }
    return NULL;
}

static wf_slice_t cstr_slice(const char *s)
{
    wf_slice_t out;
    out.ptr = (const uint8_t *)s;
    out.len = strlen(s);
    return out;
}

/* Check 4 for one directive entry. */
static wf_status_t check_release(const wf_bundle_t *b, const wf_directive_entry_t *entry,
                                 const wf_checked_bundle_t *cb, const wf_device_ctx_t *ctx,
                                 const wf_verify_env_t *env, wf_release_t *rel)
{
    uint8_t i;
    bool found = false;
    const wf_running_t *cur;

    /* the manifest the directive names, by SHA-256 over its COSE bytes (§3.2) */
    for (i = 0; i < b->n_manifests && !found; i++) {
        wf_sha256(b->manifests[i].ptr, b->manifests[i].len, rel->manifest_digest);
        if (wf_ct_equal(rel->manifest_digest, entry->manifest_digest.ptr, 32)) {
            rel->manifest_cose = b->manifests[i];
            found = true;
        }
    }
    if (!found) { return WF_DIRECTIVE_MANIFEST_MISSING; }
    TRY(wf_manifest_open(rel->manifest_cose.ptr, rel->manifest_cose.len, &cb->keydoc, env,
                         &rel->manifest));
    if (wf_slice_compare(rel->manifest.component, entry->component) != 0) {
        return WF_MANIFEST_MISMATCH;
    }
    if (rel->manifest.abi != WF_ABI_VERSION) { return WF_ABI_UNSUPPORTED; }
    if ((rel->manifest.capabilities & ~ctx->capabilities) != 0u) {
        return WF_CAPABILITY_NOT_GRANTED;
    }
    if ((uint64_t)rel->manifest.max_pages * WF_PAGE_BYTES > ctx->memory) {
        return WF_MEMORY_TOO_LARGE;
    }
    cur = running_for(ctx, entry->component);
    rel->downgrade = (cur != NULL && cur->version != NULL &&
                      wf_semver_compare(rel->manifest.version, cstr_slice(cur->version)) < 0);
    if (rel->downgrade) {
        wf_rollback_t auth;
        if (entry->rollback.len == 0u) { return WF_DIRECTIVE_DOWNGRADE; }
        TRY(wf_rollback_open(entry->rollback.ptr, entry->rollback.len, &cb->keydoc, env, &auth));
        /* the authorization must cover exactly this component and manifest, and be current */
        if (wf_slice_compare(auth.component, entry->component) != 0 ||
            !wf_ct_equal(auth.target.ptr, entry->manifest_digest.ptr, 32) ||
            auth.expires + env->skew <= env->now) {
            return WF_ROLLBACK_INVALID;
        }
    }
    rel->already_running = (cur != NULL && wf_ct_equal(cur->manifest_digest,
                                                       entry->manifest_digest.ptr, 32));
    rel->config = entry->config;
    return WF_OK;
}

wf_status_t wf_check_trust(wf_slice_t keydoc, const wf_slice_t *roots, size_t n_roots,
                           const wf_device_ctx_t *ctx, const wf_verify_env_t *env,
                           wf_root_state_t *root_out, wf_keydoc_t *keydoc_out)
{
    TRY(wf_root_chain_walk(roots, n_roots, ctx->root_public_key, ctx->root, env, root_out));
    return wf_keydoc_open(keydoc.ptr, keydoc.len, root_out->public_key, ctx->keydoc_serial, env,
                          keydoc_out);
}

wf_status_t wf_check_freshness(const uint8_t *msg, size_t len, const wf_device_ctx_t *ctx,
                               uint64_t last_issued_at, uint8_t *scratch, size_t scratch_len,
                               wf_checked_freshness_t *out)
{
    wf_freshness_msg_t m;
    wf_verify_env_t env;

    if (msg == NULL || ctx == NULL || out == NULL || ctx->root_public_key == NULL) {
        return WF_BAD_PARAMETER;
    }
    if (scratch == NULL || scratch_len < WF_SIG_SCRATCH) { return WF_BUFFER_TOO_SMALL; }
    env.now = ctx->now;
    env.skew = ctx->skew;
    env.scratch = scratch;
    env.scratch_len = scratch_len;
    TRY(wf_freshness_msg_decode(msg, len, &m));
    TRY(wf_check_trust(m.keydoc, m.roots, m.n_roots, ctx, &env, &out->root, &out->keydoc));
    TRY(wf_freshness_open(m.statement.ptr, m.statement.len, &out->keydoc, &env, &out->statement));
    if (out->statement.expires + env.skew <= env.now) { return WF_FRESHNESS_EXPIRED; }
    if (out->statement.issued_at < last_issued_at) { return WF_FRESHNESS_ROLLBACK; }
    return WF_OK;
}

wf_status_t wf_check_bundle(const uint8_t *bundle, size_t len, const wf_device_ctx_t *ctx,
                            uint8_t *scratch, size_t scratch_len, wf_checked_bundle_t *out)
{
    wf_bundle_t b;
    wf_verify_env_t env;
    const wf_directive_t *d;
    uint8_t i;

    if (bundle == NULL || ctx == NULL || out == NULL || ctx->root_public_key == NULL ||
        ctx->device_id == NULL) {
        return WF_BAD_PARAMETER;
    }
    if (scratch == NULL || scratch_len < WF_SIG_SCRATCH) { return WF_BUFFER_TOO_SMALL; }
    env.now = ctx->now;
    env.skew = ctx->skew;
    env.scratch = scratch;
    env.scratch_len = scratch_len;

    /* 1. size bound, strict CBOR */
    TRY(wf_bundle_decode(bundle, len, &b));
    out->keydoc_cose = b.keydoc;
    out->directive_cose = b.directive;

    /* 2. root chain from the pinned root, key document against its end */
    TRY(wf_check_trust(b.keydoc, b.roots, b.n_roots, ctx, &env, &out->root, &out->keydoc));

    /* 3. directive: director signature, device, expiry, sequence */
    TRY(wf_directive_open(b.directive.ptr, b.directive.len, &out->keydoc, &env, &out->directive));
    d = &out->directive;
    if (!wf_slice_eq(d->device, ctx->device_id)) { return WF_DIRECTIVE_WRONG_DEVICE; }
    if (d->expires + env.skew <= env.now) { return WF_DIRECTIVE_EXPIRED; }
    if (d->sequence <= ctx->committed_sequence) { return WF_DIRECTIVE_REPLAY; }

    /* 4. each release manifest */
    out->n_releases = 0;
    for (i = 0; i < d->n_components; i++) {
        TRY(check_release(&b, &d->components[i], out, ctx, &env, &out->releases[i]));
        out->n_releases++;
    }
    return WF_OK;
}
