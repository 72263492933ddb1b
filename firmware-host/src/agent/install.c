/*
 * Steps 6-8 (docs/protocol.md §4): digest check, the verified slot's trailer cells,
 * activation under probation, ticks and health, commit or revert. Write order (see
 * docs/firmware-host.md §5):
 *   verified: config + sync, info cell, magic cell      (magic last: "complete and verified")
 *   activate: pending cell, trial[k] cell, then load    (boot table retries or reverts)
 *   commit:   confirmed cell, then record               (one cell flips slot and sequence)
 *   revert:   erase the trial slot, then record          (failed sequence is not retried),
 *             then the kv copy taken before the trial back
 * (kv: a copy is taken before the trial's module first runs, dropped on commit, put back on revert)
 */
#include "agent_internal.h"

#include <stdio.h>
#include <string.h>
#include "wf/abi.h"
#include "wf/crypto.h"
#include "wf/probation.h"
#include "wf/wasm_check.h"

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

static void kv_trial(wf_agent_t *a, wf_kv_trial_t op)
{
    if (a->pf->kv_trial != NULL && a->pf->kv_trial(a->pf->ctx, op, a->target.sequence) != WF_OK) {
        wf_ag_log(a, "agent: kv trial copy: storage error%s%s", "", "");
    }
}

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

void wf_ag_stop_module(wf_agent_t *a)
{
    wf_module_unload(&a->module);
}

/* Load the image of `slot` and run wf_init: the start of a module, whichever slot. */
wf_status_t wf_ag_start_module(wf_agent_t *a, uint8_t slot, const wf_slot_info_t *info)
{
    wf_status_t st;
    int32_t rc = 0;

    wf_ag_stop_module(a);
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
    st = wf_entry_fault("wf_init", st, rc, a->module.error, a->detail, sizeof a->detail);
    if (st != WF_OK) {
        wf_ag_stop_module(a);
        return st;
    }
    a->next_tick_ms = a->pf->monotonic_ms(a->pf->ctx) + info->tick_ms;
    return WF_OK;
}

void wf_ag_restart_previous(wf_agent_t *a)
{
    wf_status_t st;
    if (a->active < 0) { return; }
    st = wf_ag_start_module(a, (uint8_t)a->active, &a->active_info);
    if (st != WF_OK) {
        wf_ag_log(a, "agent: previous module did not restart: %s%s", wf_status_name(st), "");
    }
}

/* Step 7, failure: back to the previous slot on our own, with the reason. */
void wf_ag_revert(wf_agent_t *a, wf_status_t reason, const char *detail)
{
    char why[WF_DETAIL_MAX + 1];
    snprintf(why, sizeof why, "%s", detail != NULL ? detail : "");
    wf_ag_stop_module(a);
    if (a->target_slot >= 0) {
        (void)a->pf->slot_erase(a->pf->ctx, (uint8_t)a->target_slot);
    }
    wf_ag_remember_failure(a, WF_STATE_ROLLED_BACK, reason);
    kv_trial(a, WF_KV_TRIAL_UNDO); /* the trial's kv writes go with it */
    a->target_slot = -1;
    a->active_is_trial = false;
    wf_ag_restart_previous(a);
    if (a->state == WF_STATE_PROBATION) {
        (void)wf_ag_step(a, WF_EV_FAILED, reason, why);
    } else {
        /* failed before probation started (load or wf_init of the new module) */
        a->state = WF_STATE_ROLLED_BACK;
        a->reason = reason;
        snprintf(a->detail, sizeof a->detail, "%s", why);
        wf_ag_publish_report(a, false, 0, 0);
        wf_ag_log(a, "agent: state rolled_back %s%s", wf_status_reason(reason), "");
    }
}

/* Step 8: probation passed. One cell write flips the active slot and its sequence. */
void wf_ag_commit(wf_agent_t *a)
{
    if (write_cell(a, (uint8_t)a->target_slot, WF_TRAILER_CONFIRMED_OFF, WF_TRAILER_FLAG_SIZE,
                   set_confirmed) != WF_OK) {
        wf_ag_revert(a, WF_INTERNAL, "could not write the confirmed flag");
        return;
    }
    a->active = a->target_slot;
    a->active_info = a->target;
    a->active_is_trial = false;
    a->target_slot = -1;
    a->rec.committed_sequence = a->target.sequence;
    wf_ag_save_record(a);
    kv_trial(a, WF_KV_TRIAL_KEEP);
    (void)wf_ag_step(a, WF_EV_PASSED, WF_OK, NULL);
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
void wf_ag_activate(wf_agent_t *a)
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
        wf_ag_fail(a, st, "module imports or exports do not fit host ABI v1 as granted");
        return;
    }
    if ((a->state == WF_STATE_INSTALLING &&
         write_cell(a, slot, WF_TRAILER_PENDING_OFF, WF_TRAILER_FLAG_SIZE, set_pending) != WF_OK) ||
        mark_trial(a, slot) != WF_OK) {
        wf_ag_fail(a, WF_STORAGE_ERROR, "trailer write");
        return;
    }
    a->active_is_trial = true;
    kv_trial(a, WF_KV_TRIAL_BEGIN);
    st = wf_ag_start_module(a, slot, &a->target);
    if (st != WF_OK) {
        wf_ag_revert(a, st, a->detail);
        return;
    }
    a->probation_left = a->cfg.probation_ticks;
    (void)wf_ag_step(a, WF_EV_LOADED, WF_OK, NULL);
}

/* Step 5-6 end: all bytes are in; compare the digest, then record the slot as verified. */
void wf_ag_verify_and_install(wf_agent_t *a)
{
    uint8_t digest[32];
    uint8_t slot = (uint8_t)a->target_slot;

    (void)wf_ag_step(a, WF_EV_COMPLETE, WF_OK, NULL);
    wf_sha256_final(&a->hash, digest);
    if (!wf_ct_equal(digest, a->target.image_sha256, 32)) {
        wf_ag_fail(a, WF_IMAGE_DIGEST_MISMATCH, "sha-256 of the downloaded image differs from image.sha256");
        return;
    }
    a->target.config_len = a->target_config_len;
    if (a->pf->slot_write(a->pf->ctx, slot, a->target.image_size, a->target_config,
                          a->target_config_len) != WF_OK ||
        a->pf->slot_sync(a->pf->ctx, slot) != WF_OK) {
        wf_ag_fail(a, WF_STORAGE_ERROR, "slot write");
        return;
    }
    {
        uint8_t t[WF_TRAILER_SIZE];
        wf_trailer_erase(t);
        wf_trailer_set_info(t, &a->target);
        if (a->pf->trailer_write(a->pf->ctx, slot, WF_TRAILER_INFO_OFF, t + WF_TRAILER_INFO_OFF,
                                 WF_TRAILER_INFO_SIZE) != WF_OK ||
            write_cell(a, slot, WF_TRAILER_MAGIC_OFF, WF_TRAILER_MAGIC_SIZE, set_magic) != WF_OK) {
            wf_ag_fail(a, WF_STORAGE_ERROR, "trailer write");
            return;
        }
    }
    a->rec.dl_sequence = 0;
    wf_ag_save_record(a);
    (void)wf_ag_step(a, WF_EV_DIGEST_OK, WF_OK, NULL);
    wf_ag_activate(a);
}


void wf_ag_tick(wf_agent_t *a, uint64_t now)
{
    int32_t rc = 0;
    wf_status_t st;
    const wf_slot_info_t *info = a->active_is_trial ? &a->target : &a->active_info;

    a->next_tick_ms = now + info->tick_ms;
    st = wf_module_call(&a->module, "wf_tick", &rc);
    st = wf_entry_fault("wf_tick", st, rc, a->module.error, a->detail, sizeof a->detail);
    if (st == WF_OK && (a->module.exports & WF_EXPORT_HEALTH) != 0u) { /* as the module has it */
        st = wf_module_call(&a->module, "wf_health", &rc);
        st = wf_entry_fault("wf_health", st, rc, a->module.error, a->detail, sizeof a->detail);
    }
    if (a->state == WF_STATE_PROBATION) {
        if (st != WF_OK) {
            wf_ag_revert(a, st, a->detail);
        } else if (--a->probation_left == 0u) {
            wf_ag_commit(a);
        }
    } else if (st != WF_OK) {
        /* a committed module faulting: logged; reverting is probation's job only */
        wf_ag_log(a, "agent: module fault: %s %s", wf_status_reason(st), a->detail);
    }
}
