/*
 * Internal interface between the agent's files (src/agent/): each file is one group of steps of
 * docs/protocol.md §4, and these are the calls they make to each other. Not a public API.
 *
 *   report.c    reports and state moves (every change goes through wf_ag_step)
 *   download.c  step 5: chunk requests, chunk intake, resume
 *   install.c   steps 6-8: verify, activate under probation, tick, commit, revert
 *   agent.c     steps 1-4 intake (directives), boot (decision table), connect, timers
 */
#ifndef WF_AGENT_INTERNAL_H
#define WF_AGENT_INTERNAL_H

#include "wf/agent.h"

/* report.c */
void wf_ag_log(wf_agent_t *a, const char *fmt, const char *s1, const char *s2);
uint64_t wf_ag_committed_sequence(const wf_agent_t *a);
void wf_ag_publish_report(wf_agent_t *a, bool with_progress, uint64_t bytes, uint64_t total);
/** Move the state machine (wf_update_next) and report; false when the event is not allowed. */
bool wf_ag_step(wf_agent_t *a, wf_event_t ev, wf_status_t reason, const char *detail);
void wf_ag_save_record(wf_agent_t *a);
/** Remember a directive that ended badly so a restart does not run it again. */
void wf_ag_remember_failure(wf_agent_t *a, wf_state_t final_state, wf_status_t reason);
/** Refuse the directive in progress: erase the spare slot, report failed(reason). */
void wf_ag_fail(wf_agent_t *a, wf_status_t reason, const char *detail);

/* install.c */
void wf_ag_stop_module(wf_agent_t *a);
wf_status_t wf_ag_start_module(wf_agent_t *a, uint8_t slot, const wf_slot_info_t *info);
void wf_ag_restart_previous(wf_agent_t *a);
void wf_ag_revert(wf_agent_t *a, wf_status_t reason, const char *detail);
void wf_ag_commit(wf_agent_t *a);
void wf_ag_activate(wf_agent_t *a);
void wf_ag_verify_and_install(wf_agent_t *a);
void wf_ag_tick(wf_agent_t *a, uint64_t now);

/* freshness.c */
/** The root this device trusts (NULL = the provisioned one); `buf` holds it. */
const wf_root_state_t *wf_ag_trusted_root(const wf_agent_t *a, wf_root_state_t *buf);
/** Raise the stored trust floors (key document serial, root version) after an accepted bundle
 *  or freshness message; the record is written only when one moved. */
void wf_ag_raise_trust(wf_agent_t *a, const wf_keydoc_t *keydoc, const wf_root_state_t *root);
/** Recompute stale/fresh; a change is reported at once. Called from wf_agent_poll. */
void wf_ag_freshness_poll(wf_agent_t *a);

/* download.c */
void wf_ag_request_chunks(wf_agent_t *a);
void wf_ag_start_download(wf_agent_t *a);

#endif
