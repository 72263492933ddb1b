/*
 * Freeze detection (protocol.md §3.6, TUF's timestamp role), as device-sim/freshness.ts: the
 * newest valid freshness statement is kept in RAM; once it expires (or none came within the
 * grace after boot) the device is stale. A stale device in a final state reports `stale` with
 * the reason and keeps running its module. Also the root trust the device stores (§3.5).
 */
#include "agent_internal.h"

#include <string.h>

#define DEFAULT_GRACE_S 3600u

const wf_root_state_t *wf_ag_trusted_root(const wf_agent_t *a, wf_root_state_t *buf)
{
    if (a->rec.root_version <= 1u) { return NULL; }
    buf->version = a->rec.root_version;
    memcpy(buf->public_key, a->rec.root_key, 32);
    return buf;
}

void wf_ag_raise_trust(wf_agent_t *a, const wf_keydoc_t *keydoc, const wf_root_state_t *root)
{
    bool changed = false;
    if (keydoc->serial > a->rec.keydoc_serial) {
        a->rec.keydoc_serial = keydoc->serial; /* a newer key document is now the floor */
        changed = true;
    }
    if (root->version > 1u && root->version > a->rec.root_version) {
        a->rec.root_version = root->version; /* older roots are no longer trusted */
        memcpy(a->rec.root_key, root->public_key, 32);
        changed = true;
    }
    if (changed) { wf_ag_save_record(a); } /* rare: only when the keys change */
}

void wf_agent_on_freshness(wf_agent_t *a, const uint8_t *msg, size_t len)
{
    wf_device_ctx_t ctx;
    wf_root_state_t root;
    wf_status_t st;

    if (len == 0u) { return; } /* a cleared retained message */
    memset(&ctx, 0, sizeof ctx);
    ctx.device_id = a->cfg.device_id;
    ctx.root_public_key = a->cfg.root_public_key;
    ctx.root = wf_ag_trusted_root(a, &root);
    ctx.now = a->pf->now_s(a->pf->ctx);
    ctx.skew = WF_CLOCK_SKEW_S;
    ctx.keydoc_serial = a->rec.keydoc_serial;
    st = wf_check_freshness(msg, len, &ctx, a->fresh_issued_at, a->scratch, sizeof a->scratch,
                            &a->fresh_checked);
    if (st != WF_OK) {
        wf_ag_log(a, "agent: freshness statement refused: %s%s", wf_status_reason(st), "");
    } else {
        a->fresh_issued_at = a->fresh_checked.statement.issued_at;
        a->fresh_expires = a->fresh_checked.statement.expires;
        /* a revocation or a root rotation applies at once, not at the next directive */
        wf_ag_raise_trust(a, &a->fresh_checked.keydoc, &a->fresh_checked.root);
    }
    wf_ag_freshness_poll(a);
}

void wf_ag_freshness_poll(wf_agent_t *a)
{
    uint64_t now = a->pf->now_s(a->pf->ctx);
    uint32_t grace = a->cfg.freshness_grace_s != 0u ? a->cfg.freshness_grace_s : DEFAULT_GRACE_S;
    wf_status_t reason = WF_OK;

    if (a->fresh_issued_at == 0u) {
        if (now >= a->boot_s + grace) { reason = WF_FRESHNESS_MISSING; }
    } else if (a->fresh_expires + WF_CLOCK_SKEW_S <= now) {
        reason = WF_FRESHNESS_EXPIRED;
    }
    if ((reason != WF_OK) == a->stale) { return; }
    a->stale = (reason != WF_OK);
    a->stale_reason = reason;
    wf_ag_log(a, a->stale ? "agent: stale (%s)%s" : "agent: fresh again%s%s",
              a->stale ? wf_status_reason(reason) : "", "");
    wf_ag_publish_report(a, false, 0, 0);
}
