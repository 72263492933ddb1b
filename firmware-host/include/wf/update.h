/*
 * The update state machine (docs/protocol.md §5.1): pure state computation, apart from all I/O
 * (coreMQTT habit). The same table as protocol/update-table.ts, checked entry by entry against
 * protocol/vectors/transitions.json. The agent feeds events; wf_update_next() says the next state, or
 * WF_STATE_COUNT_ when the event is not allowed in the current state (the agent then ignores
 * it). wf_update_transition_valid() is the separate transition check the tests walk.
 *
 *   idle/committed/failed/rolled_back --BUNDLE_OK--> assigned --START--> downloading
 *   downloading --CHUNK--> downloading --COMPLETE--> verifying --DIGEST_OK--> installing
 *   verifying --START--> downloading             (the next component of several)
 *   installing --LOADED--> probation --PASSED--> committed
 *   assigned --UP_TO_DATE--> committed           (the directive names what runs)
 *   any non-final --REJECT(reason)--> failed     (checks, download, digest, load)
 *   probation --FAILED(reason)--> rolled_back    (trap, timeout, health, crash loop)
 *   any but probation --BUNDLE_OK--> assigned    (a newer directive supersedes)
 */
#ifndef WF_UPDATE_H
#define WF_UPDATE_H

#include <stdbool.h>

#include "wf/messages.h"

typedef enum {
    WF_EV_BUNDLE_OK = 0,  /* a directive passed checks 1-4 */
    WF_EV_UP_TO_DATE,     /* ... and names exactly what runs */
    WF_EV_START,          /* spare slot prepared, first chunk requested */
    WF_EV_CHUNK,          /* a chunk was written */
    WF_EV_COMPLETE,       /* all image.size bytes are in the slot */
    WF_EV_DIGEST_OK,      /* SHA-256 matches the manifest */
    WF_EV_LOADED,         /* imports checked, module instantiated, wf_init ok */
    WF_EV_PASSED,         /* probation window passed */
    WF_EV_REJECT,         /* any failure before probation */
    WF_EV_FAILED,         /* a failure during probation */
    WF_EV_COUNT_
} wf_event_t;

/** The named step a transition takes (protocol/update-table.ts UPDATE_ACTIONS). */
typedef enum {
    WF_ACT_NONE = 0,        /* not allowed */
    WF_ACT_ASSIGN,          /* keep the bundle, report assigned */
    WF_ACT_SUPERSEDE,       /* abandon the directive in progress, assign the newer one */
    WF_ACT_RECORD_SEQUENCE, /* the directive names what runs: only the sequence moves */
    WF_ACT_DOWNLOAD,        /* fetch an image into the spare slot */
    WF_ACT_WRITE_CHUNK,     /* a chunk landed */
    WF_ACT_VERIFY,          /* check the slot's digest and the module's imports */
    WF_ACT_INSTALL,         /* record the new slot and the trial */
    WF_ACT_PROBATION,       /* run the trial for the probation window */
    WF_ACT_COMMIT,          /* flip the active slot and the sequence */
    WF_ACT_FAIL,            /* erase the spare slot, keep running, report failed(reason) */
    WF_ACT_REFUSE,          /* nothing touched: report failed(reason) */
    WF_ACT_REVERT,          /* stop the trial, restore the previous slot and kv, rolled_back(reason) */
    WF_ACT_COUNT_
} wf_action_t;

/** Next state, or WF_STATE_COUNT_ when `ev` is not allowed in `from`. */
wf_state_t wf_update_next(wf_state_t from, wf_event_t ev);

/** The step the transition takes; WF_ACT_NONE when `ev` is not allowed in `from`. */
wf_action_t wf_update_action(wf_state_t from, wf_event_t ev);

/** True when the report after the transition carries the event's reason code. */
bool wf_update_has_reason(wf_state_t from, wf_event_t ev);

const char *wf_action_name(wf_action_t action);

/** True when the table has some event taking `from` to `to`. */
bool wf_update_transition_valid(wf_state_t from, wf_state_t to);

/** True for states in which nothing more happens for the current directive. */
bool wf_update_is_final(wf_state_t state);

#endif
