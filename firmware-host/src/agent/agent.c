/*
 * Device agent (wf/agent.h), entry points: directive intake (steps 1-4), boot (the slot
 * decision table), connect, timers. The steps of docs/protocol.md §4 are named functions across
 * src/agent/ (see agent_internal.h), each doing its I/O through the platform table and moving
 * the state only through wf_update_next(). Write order, which keeps kill -9 safe, is in
 * install.c and download.c (docs/firmware-host.md §5).
 */
#include "agent_internal.h"

#include <string.h>

#include "wf/abi.h"

/* ---- directives (steps 1-4) --------------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, wf_slice_t s)
{
    size_t n = s.len < cap - 1u ? s.len : cap - 1u;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* The release that runs, with another config than the running one: a config change is an update
 * (the image is fetched into the spare slot again and runs under probation with the new config). */
static bool config_changed(wf_agent_t *a, const wf_release_t *rel)
{
    uint16_t n = a->active_info.config_len;
    if (a->active < 0 || rel->config.len != n) { return a->active >= 0; }
    if (n == 0u) { return false; }
    /* target_config is free here: the directive in progress, if any, is being superseded */
    if (n > WF_CONFIG_MAX || a->pf->slot_read(a->pf->ctx, (uint8_t)a->active, a->active_info.image_size,
                                                a->target_config, n) != WF_OK) {
        return true;
    }
    return memcmp(a->target_config, rel->config.ptr, n) != 0;
}

void wf_agent_on_directive(wf_agent_t *a, const uint8_t *bundle, size_t len)
{
    wf_device_ctx_t ctx;
    wf_root_state_t root;
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
    ctx.committed_sequence = wf_ag_committed_sequence(a);
    ctx.keydoc_serial = a->rec.keydoc_serial;
    ctx.root = wf_ag_trusted_root(a, &root);
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
        (void)wf_ag_step(a, WF_EV_REJECT, st, "directive bundle refused by the device checks");
        return;
    }
    a->target_sequence = cb->directive.sequence;
    wf_ag_raise_trust(a, &cb->keydoc, &cb->root);
    if (a->target_slot >= 0 && a->target_slot != a->active) {
        /* a newer directive supersedes a download in progress */
        a->target_slot = -1;
    }
    (void)wf_ag_step(a, WF_EV_BUNDLE_OK, WF_OK, NULL);
    for (i = 0; i < cb->n_releases; i++) {
        if (!cb->releases[i].already_running || config_changed(a, &cb->releases[i])) {
            installs++;
            rel = &cb->releases[i];
        }
    }
    if (installs == 0u) {
        a->rec.committed_sequence = cb->directive.sequence;
        wf_ag_save_record(a);
        (void)wf_ag_step(a, WF_EV_UP_TO_DATE, WF_OK, NULL);
        return;
    }
    if (installs > 1u || (a->active >= 0 && cb->n_releases > 1u)) {
        wf_ag_fail(a, WF_DIRECTIVE_UNSUPPORTED, "this host runs one component at a time");
        return;
    }
    if (rel->manifest.image_size > a->image_cap ||
        rel->manifest.image_size + rel->config.len > a->pf->slot_size ||
        rel->config.len > WF_CONFIG_MAX) {
        wf_ag_fail(a, WF_IMAGE_TOO_LARGE, "image does not fit a slot of this device");
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
    wf_ag_start_download(a);
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
    a->boot_s = pf->now_s(pf->ctx);
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
        wf_ag_revert(a, WF_MODULE_CRASH_LOOP, "the host restarted during every probation attempt");
        break;
    case WF_BOOT_TRIAL:
        a->target_sequence = info[d.run_slot].sequence;
        a->target_slot = d.run_slot;
        a->target = info[d.run_slot];
        a->state = WF_STATE_INSTALLING;
        wf_ag_activate(a);
        break;
    case WF_BOOT_RUN:
        a->state = WF_STATE_COMMITTED;
        a->target_sequence = wf_ag_committed_sequence(a);
        if (wf_ag_start_module(a, (uint8_t)a->active, &a->active_info) != WF_OK) {
            wf_ag_log(a, "agent: committed module did not start: %s%s", a->detail, "");
        }
        break;
    default:
        break;
    }
    if (wf_update_is_final(a->state) && a->rec.failed_sequence > wf_ag_committed_sequence(a)) {
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
    wf_ag_publish_report(a, false, 0, 0);
    if (a->state == WF_STATE_DOWNLOADING) {
        a->requested_upto = a->next_index; /* requests in flight were lost with the link */
        wf_ag_request_chunks(a);
    }
}

void wf_agent_on_disconnect(wf_agent_t *a) { a->connected = false; }

/* ---- timers ----------------------------------------------------------------------------- */

uint32_t wf_agent_poll(wf_agent_t *a)
{
    uint64_t now = a->pf->monotonic_ms(a->pf->ctx);
    uint64_t wait = 1000;

    wf_ag_freshness_poll(a);
    if (a->module.instance != NULL) {
        if (now >= a->next_tick_ms) { wf_ag_tick(a, now); }
        if (a->module.instance != NULL && a->next_tick_ms > now && a->next_tick_ms - now < wait) {
            wait = a->next_tick_ms - now;
        }
    }
    if (a->state == WF_STATE_DOWNLOADING && a->connected &&
        now - a->last_progress_ms >= a->cfg.chunk_timeout_ms) {
        a->requested_upto = a->next_index; /* ask again from the first missing chunk */
        a->last_progress_ms = now;
        wf_ag_request_chunks(a);
    }
    return (uint32_t)wait;
}

void wf_agent_stop(wf_agent_t *a) { wf_ag_stop_module(a); }

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
