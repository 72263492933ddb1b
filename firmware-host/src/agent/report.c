/* Reports and state moves of the agent (docs/protocol.md §5 report and §4 "every step
 * reports a state with a reason code"). */
#include "agent_internal.h"

#include <stdio.h>
#include <string.h>

#define REPORT_BUF 1024u /* a report is at most 4 KiB; ours (one component, detail ≤ 256) fit in 1 KiB */

void wf_ag_log(wf_agent_t *a, const char *fmt, const char *s1, const char *s2)
{
    char line[320];
    if (a->pf->log == NULL) { return; }
    snprintf(line, sizeof line, fmt, s1, s2);
    a->pf->log(a->pf->ctx, line);
}

uint64_t wf_ag_committed_sequence(const wf_agent_t *a)
{
    uint64_t seq = a->rec.committed_sequence;
    if (a->active >= 0 && !a->active_is_trial && a->active_info.sequence > seq) {
        seq = a->active_info.sequence;
    }
    return seq;
}

void wf_ag_publish_report(wf_agent_t *a, bool with_progress, uint64_t bytes, uint64_t total)
{
    uint8_t buf[REPORT_BUF];
    size_t len;
    wf_report_t r;
    wf_running_ref_t run;

    memset(&r, 0, sizeof r);
    r.state = a->state;
    r.reason = (a->state == WF_STATE_FAILED || a->state == WF_STATE_ROLLED_BACK) ? a->reason : WF_OK;
    r.sequence = wf_ag_committed_sequence(a);
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
    if (a->stale && wf_update_is_final(a->state)) {
        /* done with its directives and no fresh statement: it may be kept from updates */
        r.state = WF_STATE_STALE;
        r.reason = a->stale_reason;
        r.target_sequence = 0;
        r.detail = a->stale_reason == WF_FRESHNESS_MISSING ? "no valid freshness statement since boot"
                                                           : "the last freshness statement expired";
    }
    r.time = a->pf->now_s(a->pf->ctx);
    a->last_report_ms = a->pf->monotonic_ms(a->pf->ctx);
    if (wf_report_encode(&r, buf, sizeof buf, &len) == WF_OK && a->connected) {
        (void)a->pf->publish(a->pf->ctx, "report", buf, len, 1, true);
    }
}

/* Move the state machine; every change is reported (docs/protocol.md §4 "every step reports"). */
bool wf_ag_step(wf_agent_t *a, wf_event_t ev, wf_status_t reason, const char *detail)
{
    wf_state_t next = wf_update_next(a->state, ev);
    if (next == WF_STATE_COUNT_) {
        wf_ag_log(a, "agent: event ignored in state %s%s", wf_state_name(a->state), "");
        return false;
    }
    if (ev == WF_EV_CHUNK &&
        a->pf->monotonic_ms(a->pf->ctx) - a->last_report_ms < 1000u) {
        return true; /* progress is reported at most once a second (retained, QoS 1) */
    }
    a->state = next;
    a->reason = reason;
    snprintf(a->detail, sizeof a->detail, "%s", detail != NULL ? detail : "");
    if (next == WF_STATE_DOWNLOADING) {
        wf_ag_publish_report(a, true, a->next_index == 0u ? 0u : (uint64_t)a->next_index * a->chunk_size,
                       a->target.image_size);
    } else {
        wf_ag_publish_report(a, false, 0, 0);
    }
    wf_ag_log(a, reason != WF_OK ? "agent: state %s %s" : "agent: state %s%s", wf_state_name(next),
              reason != WF_OK ? wf_status_reason(reason) : "");
    return true;
}

void wf_ag_save_record(wf_agent_t *a)
{
    if (a->pf->record_write(a->pf->ctx, &a->rec) != WF_OK) {
        wf_ag_log(a, "agent: record write failed%s%s", "", "");
    }
}

/* Remember a directive that ended badly so a restart does not run it again. */
void wf_ag_remember_failure(wf_agent_t *a, wf_state_t final_state, wf_status_t reason)
{
    a->rec.failed_sequence = a->target_sequence;
    a->rec.failed_state = (uint8_t)final_state;
    a->rec.failed_reason = (uint8_t)reason;
    a->rec.dl_sequence = 0;
    wf_ag_save_record(a);
}

void wf_ag_fail(wf_agent_t *a, wf_status_t reason, const char *detail)
{
    if (a->target_slot >= 0 && a->target_slot != a->active) {
        (void)a->pf->slot_erase(a->pf->ctx, (uint8_t)a->target_slot); /* loses nothing: spare */
    }
    wf_ag_remember_failure(a, WF_STATE_FAILED, reason);
    (void)wf_ag_step(a, WF_EV_REJECT, reason, detail);
    a->target_slot = -1;
}
