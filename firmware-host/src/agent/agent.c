/*
 * Device agent (wf/agent.h): the steps of DESIGN.md §3 as named functions, each doing its
 * I/O through the platform table and moving the state only through wf_update_next().
 *
 * Write order is what keeps kill -9 safe (docs/firmware-host.md §Crash safety):
 *   download: slot data + sync, then record.dl_bytes    (resume never trusts unsynced bytes)
 *   verified: config + sync, info cell, magic cell      (magic last: "complete and verified")
 *   activate: pending cell, trial[k] cell, then load    (boot table retries or reverts)
 *   commit:   confirmed cell, then record               (one cell flips slot and sequence)
 *   revert:   erase the trial slot, then record          (failed sequence is not retried)
 */
#include "wf/agent.h"

#include <stdio.h>
#include <string.h>

#include "wf/abi.h"
#include "wf/cbor_write.h"
#include "wf/crypto.h"
#include "wf/wasm_check.h"

#define REPORT_BUF 1024u

static void logf_(wf_agent_t *a, const char *fmt, const char *s1, const char *s2)
{
    char line[320];
    if (a->pf->log == NULL) { return; }
    snprintf(line, sizeof line, fmt, s1, s2);
    a->pf->log(a->pf->ctx, line);
}

static uint64_t committed_sequence(const wf_agent_t *a)
{
    uint64_t seq = a->rec.committed_sequence;
    if (a->active >= 0 && !a->active_is_trial && a->active_info.sequence > seq) {
        seq = a->active_info.sequence;
    }
    return seq;
}

/* ---- reports (protocol.md §5 report) ------------------------------------------------------ */

static void publish_report(wf_agent_t *a, bool with_progress, uint64_t bytes, uint64_t total)
{
    uint8_t buf[REPORT_BUF];
    size_t len;
    wf_report_t r;
    wf_running_ref_t run;

    memset(&r, 0, sizeof r);
    r.state = a->state;
    r.reason = (a->state == WF_STATE_FAILED || a->state == WF_STATE_ROLLED_BACK) ? a->reason : WF_OK;
    r.sequence = committed_sequence(a);
    if (a->active >= 0) {
        run.component = a->active_info.component;
        run.version = a->active_info.version;
        run.manifest_digest = a->active_info.manifest_digest;
        r.running = &run;
        r.n_running = 1;
    }
    r.target_sequence = wf_update_is_final(a->state) && a->state != WF_STATE_FAILED &&
                                a->state != WF_STATE_ROLLED_BACK
                            ? 0u : a->target_sequence;
    r.has_progress = with_progress;
    r.progress_bytes = bytes;
    r.progress_total = total;
    r.detail = a->detail[0] != '\0' ? a->detail : NULL;
    r.time = a->pf->now_s(a->pf->ctx);
    if (wf_report_encode(&r, buf, sizeof buf, &len) == WF_OK && a->connected) {
        (void)a->pf->publish(a->pf->ctx, "report", buf, len, 1, true);
    }
}

/* Move the state machine; every change is reported (DESIGN.md §3 "every step reports"). */
static bool step(wf_agent_t *a, wf_event_t ev, wf_status_t reason, const char *detail)
{
    wf_state_t next = wf_update_next(a->state, ev);
    if (next == WF_STATE_COUNT_) {
        logf_(a, "agent: event ignored in state %s%s", wf_state_name(a->state), "");
        return false;
    }
    a->state = next;
    a->reason = reason;
    snprintf(a->detail, sizeof a->detail, "%s", detail != NULL ? detail : "");
    if (next == WF_STATE_DOWNLOADING) {
        publish_report(a, true, a->next_index == 0u ? 0u : (uint64_t)a->next_index * a->chunk_size,
                       a->target.image_size);
    } else {
        publish_report(a, false, 0, 0);
    }
    logf_(a, "agent: state %s %s", wf_state_name(next), reason != WF_OK ? wf_status_reason(reason) : "");
    return true;
}

static void save_record(wf_agent_t *a)
{
    if (a->pf->record_write(a->pf->ctx, &a->rec) != WF_OK) {
        logf_(a, "agent: record write failed%s%s", "", "");
    }
}

/* Remember a directive that ended badly so a restart does not run it again. */
static void remember_failure(wf_agent_t *a, wf_state_t final_state, wf_status_t reason)
{
    a->rec.failed_sequence = a->target_sequence;
    a->rec.failed_state = (uint8_t)final_state;
    a->rec.failed_reason = (uint8_t)reason;
    a->rec.dl_sequence = 0;
    save_record(a);
}

static void fail(wf_agent_t *a, wf_status_t reason, const char *detail)
{
    if (a->target_slot >= 0 && a->target_slot != a->active) {
        (void)a->pf->slot_erase(a->pf->ctx, (uint8_t)a->target_slot); /* loses nothing: spare */
    }
    remember_failure(a, WF_STATE_FAILED, reason);
    (void)step(a, WF_EV_REJECT, reason, detail);
    a->target_slot = -1;
}

/* ---- slots and modules ---------------------------------------------------------------- */

static wf_status_t write_cell(wf_agent_t *a, uint8_t slot, uint32_t off, size_t size,
                              void (*set)(uint8_t *))
{
    uint8_t t[WF_TRAILER_SIZE];
    wf_trailer_erase(t);
    set(t);
    return a->pf->trailer_write(a->pf->ctx, slot, off, t + off, size);
}

static void set_pending(uint8_t *t) { wf_trailer_set_flag(t, WF_TRAILER_PENDING_OFF); }
static void set_confirmed(uint8_t *t) { wf_trailer_set_flag(t, WF_TRAILER_CONFIRMED_OFF); }
static void set_magic(uint8_t *t) { wf_trailer_set_magic(t); }

static wf_status_t mark_trial(wf_agent_t *a, uint8_t slot)
{
    uint8_t t[WF_TRAILER_SIZE];
    uint32_t used, off;
    if (a->pf->trailer_read(a->pf->ctx, slot, t) != WF_OK) { return WF_STORAGE_ERROR; }
    used = wf_trailer_trials_used(t);
    if (used >= WF_TRIAL_CELLS) { return WF_MODULE_CRASH_LOOP; }
    off = WF_TRAILER_TRIAL_OFF + used * WF_TRAILER_FLAG_SIZE;
    wf_trailer_set_flag(t, off);
    return a->pf->trailer_write(a->pf->ctx, slot, off, t + off, WF_TRAILER_FLAG_SIZE);
}

static void stop_module(wf_agent_t *a)
{
    wf_module_unload(&a->module);
}

/* Load the image of `slot` and run wf_init: the start of a module, whichever slot. */
static wf_status_t start_module(wf_agent_t *a, uint8_t slot, const wf_slot_info_t *info)
{
    wf_status_t st;
    int32_t rc = 0;

    stop_module(a);
    if (info->image_size > a->image_cap || info->config_len > WF_CONFIG_MAX) {
        return WF_IMAGE_TOO_LARGE;
    }
    if (a->pf->slot_read(a->pf->ctx, slot, 0, a->image, info->image_size) != WF_OK ||
        a->pf->slot_read(a->pf->ctx, slot, info->image_size, a->config, info->config_len) != WF_OK) {
        return WF_STORAGE_ERROR;
    }
    a->config_len = info->config_len;
    st = wf_module_load(&a->module, a->image, info->image_size, a->cfg.capabilities, 0,
                        info->max_pages, a->cfg.budget);
    if (st != WF_OK) {
        snprintf(a->detail, sizeof a->detail, "%s", a->module.error);
        return st;
    }
    st = wf_module_call(&a->module, "wf_init", &rc);
    if (st == WF_OK && rc != 0) {
        snprintf(a->detail, sizeof a->detail, "wf_init returned %d", (int)rc);
        st = WF_MODULE_INIT_FAILED;
    } else if (st != WF_OK) {
        snprintf(a->detail, sizeof a->detail, "wf_init: %s", a->module.error);
    }
    if (st != WF_OK) {
        stop_module(a);
        return st;
    }
    a->next_tick_ms = a->pf->monotonic_ms(a->pf->ctx) + info->tick_ms;
    return WF_OK;
}

static void restart_previous(wf_agent_t *a)
{
    wf_status_t st;
    if (a->active < 0) { return; }
    st = start_module(a, (uint8_t)a->active, &a->active_info);
    if (st != WF_OK) {
        logf_(a, "agent: previous module did not restart: %s%s", wf_status_name(st), "");
    }
}

/* Step 7, failure: back to the previous slot on our own, with the reason. */
static void revert(wf_agent_t *a, wf_status_t reason, const char *detail)
{
    char why[WF_DETAIL_MAX + 1];
    snprintf(why, sizeof why, "%s", detail != NULL ? detail : "");
    stop_module(a);
    if (a->target_slot >= 0) {
        (void)a->pf->slot_erase(a->pf->ctx, (uint8_t)a->target_slot);
    }
    remember_failure(a, WF_STATE_ROLLED_BACK, reason);
    a->target_slot = -1;
    a->active_is_trial = false;
    restart_previous(a);
    if (a->state == WF_STATE_PROBATION) {
        (void)step(a, WF_EV_FAILED, reason, why);
    } else {
        /* failed before probation started (load or wf_init of the new module) */
        a->state = WF_STATE_ROLLED_BACK;
        a->reason = reason;
        snprintf(a->detail, sizeof a->detail, "%s", why);
        publish_report(a, false, 0, 0);
    }
    if (a->want_directive) { logf_(a, "agent: re-reading the directive%s%s", "", ""); }
}

/* Step 8: probation passed. One cell write flips the active slot and its sequence. */
static void commit(wf_agent_t *a)
{
    if (write_cell(a, (uint8_t)a->target_slot, WF_TRAILER_CONFIRMED_OFF, WF_TRAILER_FLAG_SIZE,
                   set_confirmed) != WF_OK) {
        revert(a, WF_INTERNAL, "could not write the confirmed flag");
        return;
    }
    a->active = a->target_slot;
    a->active_info = a->target;
    a->active_is_trial = false;
    a->target_slot = -1;
    a->rec.committed_sequence = a->target.sequence;
    save_record(a);
    (void)step(a, WF_EV_PASSED, WF_OK, NULL);
}

typedef struct {
    wf_agent_t *a;
    uint8_t slot;
} slot_src_t;

static wf_status_t slot_src_read(void *ctx, size_t off, uint8_t *out, size_t n)
{
    slot_src_t *src = (slot_src_t *)ctx;
    return src->a->pf->slot_read(src->a->pf->ctx, src->slot, (uint32_t)off, out, n);
}

/* Step 6-7: activate the verified image of the target slot under probation. */
static void activate(wf_agent_t *a)
{
    wf_wasm_info_t info;
    wf_status_t st;
    uint8_t slot = (uint8_t)a->target_slot;
    slot_src_t src;

    /* imports ⊆ granted, read from the slot itself: the image buffer belongs to the module
     * that runs (the classic interpreter executes from it), so a refusal touches nothing */
    src.a = a;
    src.slot = slot;
    st = wf_wasm_check_stream(slot_src_read, &src, a->target.image_size, a->cfg.capabilities,
                              &info);
    if (st != WF_OK) {
        fail(a, st, "module imports or exports do not fit host ABI v1 as granted");
        return;
    }
    if ((a->state == WF_STATE_INSTALLING &&
         write_cell(a, slot, WF_TRAILER_PENDING_OFF, WF_TRAILER_FLAG_SIZE, set_pending) != WF_OK) ||
        mark_trial(a, slot) != WF_OK) {
        fail(a, WF_STORAGE_ERROR, "trailer write");
        return;
    }
    a->active_is_trial = true;
    st = start_module(a, slot, &a->target);
    if (st != WF_OK) {
        revert(a, st, a->detail);
        return;
    }
    a->probation_left = a->cfg.probation_ticks;
    (void)step(a, WF_EV_LOADED, WF_OK, NULL);
}

/* Step 5-6 end: all bytes are in; compare the digest, then record the slot as verified. */
static void verify_and_install(wf_agent_t *a)
{
    uint8_t digest[32];
    uint8_t slot = (uint8_t)a->target_slot;

    (void)step(a, WF_EV_COMPLETE, WF_OK, NULL);
    wf_sha256_final(&a->hash, digest);
    if (!wf_ct_equal(digest, a->target.image_sha256, 32)) {
        fail(a, WF_IMAGE_DIGEST_MISMATCH, "sha-256 of the downloaded image differs from image.sha256");
        return;
    }
    a->target.config_len = a->target_config_len;
    if (a->pf->slot_write(a->pf->ctx, slot, a->target.image_size, a->target_config,
                          a->target_config_len) != WF_OK ||
        a->pf->slot_sync(a->pf->ctx, slot) != WF_OK) {
        fail(a, WF_STORAGE_ERROR, "slot write");
        return;
    }
    {
        uint8_t t[WF_TRAILER_SIZE];
        wf_trailer_erase(t);
        wf_trailer_set_info(t, &a->target);
        if (a->pf->trailer_write(a->pf->ctx, slot, WF_TRAILER_INFO_OFF, t + WF_TRAILER_INFO_OFF,
                                 WF_TRAILER_INFO_SIZE) != WF_OK ||
            write_cell(a, slot, WF_TRAILER_MAGIC_OFF, WF_TRAILER_MAGIC_SIZE, set_magic) != WF_OK) {
            fail(a, WF_STORAGE_ERROR, "trailer write");
            return;
        }
    }
    a->rec.dl_sequence = 0;
    save_record(a);
    (void)step(a, WF_EV_DIGEST_OK, WF_OK, NULL);
    activate(a);
}

/* ---- download (step 5) -------------------------------------------------------------------- */

static uint32_t chunk_count(const wf_agent_t *a)
{
    return (uint32_t)((a->target.image_size + a->chunk_size - 1u) / a->chunk_size);
}

static void request_chunks(wf_agent_t *a)
{
    uint32_t total = chunk_count(a);
    if (a->requested_upto < a->next_index) { a->requested_upto = a->next_index; }
    while (a->connected && a->requested_upto < total &&
           a->requested_upto - a->next_index < a->cfg.window) {
        uint8_t buf[WF_CHUNK_REQUEST_MAX];
        size_t len;
        wf_chunk_request_t req;
        req.sha256.ptr = a->target.image_sha256;
        req.sha256.len = 32;
        req.index = a->requested_upto;
        req.chunk_size = a->chunk_size;
        if (wf_chunk_request_encode(&req, buf, sizeof buf, &len) != WF_OK ||
            a->pf->publish(a->pf->ctx, "chunk/get", buf, len, 0, false) != WF_OK) {
            break;
        }
        a->requested_upto++;
    }
}

/* Re-hash what a previous run left in the slot, so the digest still covers every byte. */
static wf_status_t resume_hash(wf_agent_t *a, uint8_t slot, uint32_t bytes)
{
    uint32_t off = 0;
    wf_sha256_init(&a->hash);
    while (off < bytes) { /* through the scratch: the image buffer is the running module's */
        uint32_t n = bytes - off;
        if (n > sizeof a->scratch) { n = (uint32_t)sizeof a->scratch; }
        if (a->pf->slot_read(a->pf->ctx, slot, off, a->scratch, n) != WF_OK) { return WF_STORAGE_ERROR; }
        wf_sha256_update(&a->hash, a->scratch, n);
        off += n;
    }
    return WF_OK;
}

static void start_download(wf_agent_t *a, const wf_release_t *rel)
{
    uint8_t slot = (uint8_t)((a->active == 0) ? 1 : 0);
    bool resume;

    a->target_slot = (int8_t)slot;
    a->chunk_size = a->cfg.max_chunk;
    resume = a->rec.dl_sequence == a->target.sequence && a->rec.dl_slot == slot &&
             memcmp(a->rec.dl_sha256, a->target.image_sha256, 32) == 0 &&
             a->rec.dl_chunk_size == a->chunk_size && a->rec.dl_bytes <= a->target.image_size &&
             a->rec.dl_bytes % a->chunk_size == 0u;
    (void)rel;
    if (resume && resume_hash(a, slot, a->rec.dl_bytes) == WF_OK) {
        a->next_index = a->rec.dl_bytes / a->chunk_size;
        logf_(a, "agent: resuming the download%s%s", "", "");
    } else {
        if (a->pf->slot_erase(a->pf->ctx, slot) != WF_OK) {
            fail(a, WF_STORAGE_ERROR, "slot erase");
            return;
        }
        wf_sha256_init(&a->hash);
        a->next_index = 0;
        a->rec.dl_sequence = a->target.sequence;
        a->rec.dl_slot = slot;
        memcpy(a->rec.dl_sha256, a->target.image_sha256, 32);
        a->rec.dl_bytes = 0;
        a->rec.dl_chunk_size = a->chunk_size;
        save_record(a);
    }
    a->requested_upto = a->next_index;
    a->last_progress_ms = a->pf->monotonic_ms(a->pf->ctx);
    (void)step(a, WF_EV_START, WF_OK, NULL);
    if (a->next_index * (uint64_t)a->chunk_size >= a->target.image_size) {
        verify_and_install(a);
        return;
    }
    request_chunks(a);
}

void wf_agent_on_chunk(wf_agent_t *a, const uint8_t *msg, size_t len)
{
    wf_chunk_response_t r;
    wf_status_t st;
    uint64_t off, expect;
    uint8_t slot;

    if (a->state != WF_STATE_DOWNLOADING) { return; }
    st = wf_chunk_response_decode(msg, len, a->chunk_size, &r);
    if (st != WF_OK) {
        /* bad input loses nothing: the download goes on, the chunk is asked again */
        logf_(a, "agent: chunk refused: %s%s", wf_status_reason(st), "");
        return;
    }
    if (!wf_ct_equal(r.sha256.ptr, a->target.image_sha256, 32)) { return; } /* another image */
    if (!r.has_data) {
        char code[65];
        wf_status_t reason;
        snprintf(code, sizeof code, "%.*s", (int)r.error.len, (const char *)r.error.ptr);
        reason = wf_status_from_reason(code, r.error.len);
        fail(a, reason == WF_NOT_FOUND ? WF_INTERNAL : reason, "the server could not serve the chunk");
        return;
    }
    if ((uint64_t)r.index * a->chunk_size >= a->target.image_size) {
        logf_(a, "agent: chunk beyond the signed size refused (%s)%s", "CHUNK_INVALID", "");
        return;
    }
    if (r.index != a->next_index) { return; } /* duplicate or out of order: asked again later */
    off = (uint64_t)r.index * a->chunk_size;
    expect = a->target.image_size - off;
    if (expect > a->chunk_size) { expect = a->chunk_size; }
    if (r.data.len != expect) {
        logf_(a, "agent: chunk with the wrong length refused (%s)%s", "CHUNK_INVALID", "");
        return;
    }
    slot = (uint8_t)a->target_slot;
    if (a->pf->slot_write(a->pf->ctx, slot, (uint32_t)off, r.data.ptr, r.data.len) != WF_OK ||
        a->pf->slot_sync(a->pf->ctx, slot) != WF_OK) {
        fail(a, WF_STORAGE_ERROR, "slot write");
        return;
    }
    wf_sha256_update(&a->hash, r.data.ptr, r.data.len);
    a->next_index++;
    a->rec.dl_bytes = (uint32_t)(off + r.data.len);
    if (a->rec.dl_bytes < a->target.image_size) {
        a->rec.dl_bytes = a->next_index * a->chunk_size; /* whole chunks only */
    }
    save_record(a);
    a->last_progress_ms = a->pf->monotonic_ms(a->pf->ctx);
    if (off + r.data.len >= a->target.image_size) {
        verify_and_install(a);
        return;
    }
    (void)step(a, WF_EV_CHUNK, WF_OK, NULL);
    request_chunks(a);
}

/* ---- directives (steps 1-4) --------------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, wf_slice_t s)
{
    size_t n = s.len < cap - 1u ? s.len : cap - 1u;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

void wf_agent_on_directive(wf_agent_t *a, const uint8_t *bundle, size_t len)
{
    wf_device_ctx_t ctx;
    wf_running_t running;
    wf_status_t st;
    const wf_release_t *rel = NULL;
    uint8_t i, installs = 0;
    wf_checked_bundle_t *cb = &a->checked;

    if (len == 0u) { return; } /* a cleared retained message */
    if (a->state == WF_STATE_PROBATION) {
        /* finish the running trial first (commit or revert); then read the directive again */
        a->want_directive = true;
        return;
    }
    memset(&ctx, 0, sizeof ctx);
    ctx.device_id = a->cfg.device_id;
    ctx.root_public_key = a->cfg.root_public_key;
    ctx.now = a->pf->now_s(a->pf->ctx);
    ctx.skew = WF_CLOCK_SKEW_S;
    ctx.capabilities = a->cfg.capabilities;
    ctx.memory = a->cfg.memory;
    ctx.committed_sequence = committed_sequence(a);
    ctx.keydoc_serial = a->rec.keydoc_serial;
    if (a->active >= 0) {
        running.component = a->active_info.component;
        running.version = a->active_info.version;
        memcpy(running.manifest_digest, a->active_info.manifest_digest, 32);
        ctx.running = &running;
        ctx.n_running = 1;
    }
    st = wf_check_bundle(bundle, len, &ctx, a->scratch, sizeof a->scratch, cb);
    if (st == WF_DIRECTIVE_REPLAY && cb->directive.sequence == ctx.committed_sequence) {
        return; /* our own committed directive, delivered again on reconnect */
    }
    if (st == WF_OK && cb->directive.sequence == a->rec.failed_sequence) {
        return; /* it failed or was rolled back already: not retried (reported as such) */
    }
    if (st == WF_OK && cb->directive.sequence == a->target_sequence &&
        !wf_update_is_final(a->state)) {
        return; /* the one in progress, delivered again */
    }
    if (st != WF_OK) {
        /* refused before anything was touched: the running module goes on */
        a->target_sequence = 0;
        (void)step(a, WF_EV_REJECT, st, "directive bundle refused by the device checks");
        return;
    }
    a->target_sequence = cb->directive.sequence;
    if (cb->keydoc.serial > a->rec.keydoc_serial) {
        a->rec.keydoc_serial = cb->keydoc.serial; /* a newer key document is now the floor */
        save_record(a);
    }
    if (a->target_slot >= 0 && a->target_slot != a->active) {
        /* a newer directive supersedes a download in progress */
        a->target_slot = -1;
    }
    (void)step(a, WF_EV_BUNDLE_OK, WF_OK, NULL);
    for (i = 0; i < cb->n_releases; i++) {
        if (!cb->releases[i].already_running) {
            installs++;
            rel = &cb->releases[i];
        }
    }
    if (installs == 0u) {
        a->rec.committed_sequence = cb->directive.sequence;
        save_record(a);
        (void)step(a, WF_EV_UP_TO_DATE, WF_OK, NULL);
        return;
    }
    if (installs > 1u || (a->active >= 0 && cb->n_releases > 1u)) {
        fail(a, WF_INTERNAL, "this host runs one component at a time");
        return;
    }
    if (rel->manifest.image_size > a->image_cap ||
        rel->manifest.image_size + rel->config.len > a->pf->slot_size ||
        rel->config.len > WF_CONFIG_MAX) {
        fail(a, WF_IMAGE_TOO_LARGE, "image does not fit a slot of this device");
        return;
    }
    memset(&a->target, 0, sizeof a->target);
    a->target.sequence = cb->directive.sequence;
    a->target.image_size = (uint32_t)rel->manifest.image_size;
    memcpy(a->target.image_sha256, rel->manifest.image_sha256.ptr, 32);
    memcpy(a->target.manifest_digest, rel->manifest_digest, 32);
    a->target.max_pages = rel->manifest.max_pages;
    a->target.tick_ms = rel->manifest.tick_ms;
    a->target.capabilities = rel->manifest.capabilities;
    a->target.exports = rel->manifest.exports;
    copy_text(a->target.component, sizeof a->target.component, rel->manifest.component);
    copy_text(a->target.version, sizeof a->target.version, rel->manifest.version);
    if (rel->config.len > 0u) { memcpy(a->target_config, rel->config.ptr, rel->config.len); }
    a->target_config_len = (uint16_t)rel->config.len;
    start_download(a, rel);
}

/* ---- boot ------------------------------------------------------------------------------- */

wf_status_t wf_agent_start(wf_agent_t *a, const wf_platform_t *pf, const wf_agent_config_t *cfg,
                           uint8_t *image_buf, size_t image_cap)
{
    uint8_t t[2][WF_TRAILER_SIZE];
    wf_slot_info_t info[2];
    wf_slot_state_t s[2];
    wf_boot_decision_t d;
    int i;

    memset(a, 0, sizeof *a);
    a->pf = pf;
    a->cfg = *cfg;
    if (a->cfg.window == 0u) { a->cfg.window = 1; }
    if (a->cfg.probation_ticks == 0u) { a->cfg.probation_ticks = 3; }
    if (a->cfg.chunk_timeout_ms == 0u) { a->cfg.chunk_timeout_ms = 3000; }
    a->image = image_buf;
    a->image_cap = image_cap;
    a->active = -1;
    a->target_slot = -1;
    a->state = WF_STATE_IDLE;
    if (pf->record_read(pf->ctx, &a->rec) != WF_OK) { memset(&a->rec, 0, sizeof a->rec); }
    for (i = 0; i < 2; i++) {
        if (pf->trailer_read(pf->ctx, (uint8_t)i, t[i]) != WF_OK) { return WF_STORAGE_ERROR; }
        s[i] = wf_trailer_state(t[i]);
        if (wf_trailer_get_info(t[i], &info[i]) != WF_OK) { memset(&info[i], 0, sizeof info[i]); }
    }
    d = wf_boot_decide(s[0], info[0].sequence, s[1], info[1].sequence);
    if (d.run_slot >= 0 && d.action != WF_BOOT_TRIAL) {
        a->active = d.run_slot;
        a->active_info = info[d.run_slot];
    } else if (d.action == WF_BOOT_TRIAL && d.other >= 0) {
        a->active = d.other; /* fallback while the trial runs */
        a->active_info = info[d.other];
    }
    switch (d.action) {
    case WF_BOOT_REVERT:
        /* the host died in every probation attempt of slot `other`: a crash loop */
        a->target_sequence = info[d.other].sequence;
        a->target_slot = d.other;
        a->state = WF_STATE_PROBATION;
        revert(a, WF_MODULE_CRASH_LOOP, "the host restarted during every probation attempt");
        break;
    case WF_BOOT_TRIAL:
        a->target_sequence = info[d.run_slot].sequence;
        a->target_slot = d.run_slot;
        a->target = info[d.run_slot];
        a->state = WF_STATE_INSTALLING;
        activate(a);
        break;
    case WF_BOOT_RUN:
        a->state = WF_STATE_COMMITTED;
        a->target_sequence = committed_sequence(a);
        if (start_module(a, (uint8_t)a->active, &a->active_info) != WF_OK) {
            logf_(a, "agent: committed module did not start: %s%s", a->detail, "");
        }
        break;
    default:
        break;
    }
    if (wf_update_is_final(a->state) && a->rec.failed_sequence > committed_sequence(a)) {
        /* say again how the last directive ended */
        a->state = (wf_state_t)a->rec.failed_state;
        a->reason = (wf_status_t)a->rec.failed_reason;
        a->target_sequence = a->rec.failed_sequence;
    }
    return WF_OK;
}

void wf_agent_on_connect(wf_agent_t *a)
{
    uint8_t buf[512];
    size_t len;
    wf_hello_t h;
    wf_running_ref_t run;

    a->connected = true;
    memset(&h, 0, sizeof h);
    h.host = "wamr";
    h.abi = WF_ABI_VERSION;
    h.capabilities = a->cfg.capabilities;
    h.max_chunk = a->cfg.max_chunk;
    h.memory = a->cfg.memory;
    h.agent = a->cfg.agent_version;
    if (a->active >= 0) {
        run.component = a->active_info.component;
        run.version = a->active_info.version;
        run.manifest_digest = a->active_info.manifest_digest;
        h.running = &run;
        h.n_running = 1;
    }
    if (wf_hello_encode(&h, buf, sizeof buf, &len) == WF_OK) {
        (void)a->pf->publish(a->pf->ctx, "hello", buf, len, 1, true);
    }
    if (wf_online_encode(true, buf, sizeof buf, &len) == WF_OK) {
        (void)a->pf->publish(a->pf->ctx, "online", buf, len, 1, true);
    }
    publish_report(a, false, 0, 0);
    if (a->state == WF_STATE_DOWNLOADING) {
        a->requested_upto = a->next_index; /* requests in flight were lost with the link */
        request_chunks(a);
    }
}

void wf_agent_on_disconnect(wf_agent_t *a) { a->connected = false; }

/* ---- timers ----------------------------------------------------------------------------- */

static void tick(wf_agent_t *a, uint64_t now)
{
    int32_t rc = 0;
    wf_status_t st;
    const wf_slot_info_t *info = a->active_is_trial ? &a->target : &a->active_info;

    a->next_tick_ms = now + info->tick_ms;
    st = wf_module_call(&a->module, "wf_tick", &rc);
    if (st == WF_OK && rc != 0) {
        snprintf(a->detail, sizeof a->detail, "wf_tick returned %d", (int)rc);
        st = WF_MODULE_HEALTH; /* a fault reported by the module (device-sim/probation.ts) */
    } else if (st != WF_OK) {
        snprintf(a->detail, sizeof a->detail, "wf_tick: %s", a->module.error);
    }
    if (st == WF_OK && (a->module.exports & WF_EXPORT_HEALTH) != 0u) { /* as the module has it */
        st = wf_module_call(&a->module, "wf_health", &rc);
        if (st == WF_OK && rc != 0) {
            snprintf(a->detail, sizeof a->detail, "wf_health returned %d", (int)rc);
            st = WF_MODULE_HEALTH;
        } else if (st != WF_OK) {
            snprintf(a->detail, sizeof a->detail, "wf_health: %s", a->module.error);
        }
    }
    if (a->state == WF_STATE_PROBATION) {
        if (st != WF_OK) {
            revert(a, st, a->detail);
        } else if (--a->probation_left == 0u) {
            commit(a);
        }
    } else if (st != WF_OK) {
        /* a committed module faulting: logged; reverting is probation's job only */
        logf_(a, "agent: module fault: %s %s", wf_status_reason(st), a->detail);
    }
}

uint32_t wf_agent_poll(wf_agent_t *a)
{
    uint64_t now = a->pf->monotonic_ms(a->pf->ctx);
    uint64_t wait = 1000;

    if (a->module.instance != NULL) {
        if (now >= a->next_tick_ms) { tick(a, now); }
        if (a->module.instance != NULL && a->next_tick_ms > now && a->next_tick_ms - now < wait) {
            wait = a->next_tick_ms - now;
        }
    }
    if (a->state == WF_STATE_DOWNLOADING && a->connected &&
        now - a->last_progress_ms >= a->cfg.chunk_timeout_ms) {
        a->requested_upto = a->next_index; /* ask again from the first missing chunk */
        a->last_progress_ms = now;
        request_chunks(a);
    }
    return (uint32_t)wait;
}

void wf_agent_stop(wf_agent_t *a) { stop_module(a); }

int32_t wf_agent_config_get(wf_agent_t *a, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    wf_map_t dummy;
    wf_item_t h;
    size_t pos;
    uint64_t i;
    (void)dummy;
    if (a->config_len == 0u || wf_cbor_check(a->config, a->config_len) != WF_OK ||
        wf_cbor_head(a->config, a->config_len, 0, &h) != WF_OK || h.major != WF_CBOR_MAP) {
        return -1;
    }
    pos = h.content;
    for (i = 0; i < h.arg; i++) {
        wf_slice_t k, v;
        if (wf_cbor_get_text(a->config, a->config_len, pos, 0, 64, &k) != WF_OK ||
            wf_cbor_skip(a->config, a->config_len, pos, &pos) != WF_OK ||
            wf_cbor_get_text(a->config, a->config_len, pos, 0, WF_CONFIG_VALUE_MAX, &v) != WF_OK ||
            wf_cbor_skip(a->config, a->config_len, pos, &pos) != WF_OK) {
            return -1;
        }
        if (k.len == klen && memcmp(k.ptr, key, klen) == 0) {
            size_t n = v.len < cap ? v.len : cap;
            memcpy(out, v.ptr, n);
            return (int32_t)v.len;
        }
    }
    return -1;
}
