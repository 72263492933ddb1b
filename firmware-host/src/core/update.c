/* Update state machine transition table (wf/update.h). The same table as
 * protocol/update-table.ts; tests/test_update.c checks both agree entry by entry through
 * protocol/vectors/transitions.json. */
#include "wf/update.h"

#define X {WF_STATE_COUNT_, WF_ACT_NONE} /* not allowed */
#define T(state, action) {WF_STATE_##state, WF_ACT_##action}

typedef struct {
    unsigned char next;
    unsigned char action;
} cell_t;

/* table[state][event]; columns in wf_event_t order:
 *  BUNDLE_OK UP_TO_DATE START CHUNK COMPLETE DIGEST_OK LOADED PASSED REJECT FAILED */
static const cell_t table[WF_STATE_COUNT_][WF_EV_COUNT_] = {
    /* idle */
    {T(ASSIGNED, ASSIGN), X, X, X, X, X, X, X, T(FAILED, REFUSE), X},
    /* assigned */
    {T(ASSIGNED, SUPERSEDE), T(COMMITTED, RECORD_SEQUENCE), T(DOWNLOADING, DOWNLOAD), X, X, X, X, X,
     T(FAILED, FAIL), X},
    /* downloading */
    {T(ASSIGNED, SUPERSEDE), X, X, T(DOWNLOADING, WRITE_CHUNK), T(VERIFYING, VERIFY), X, X, X,
     T(FAILED, FAIL), X},
    /* verifying: START is the next component's image of a multi-component directive */
    {T(ASSIGNED, SUPERSEDE), X, T(DOWNLOADING, DOWNLOAD), X, X, T(INSTALLING, INSTALL), X, X,
     T(FAILED, FAIL), X},
    /* installing */
    {T(ASSIGNED, SUPERSEDE), X, X, X, X, X, T(PROBATION, PROBATION), X, T(FAILED, FAIL), X},
    /* probation */
    {X, X, X, X, X, X, X, T(COMMITTED, COMMIT), X, T(ROLLED_BACK, REVERT)},
    /* committed */
    {T(ASSIGNED, ASSIGN), X, X, X, X, X, X, X, T(FAILED, REFUSE), X},
    /* failed */
    {T(ASSIGNED, ASSIGN), X, X, X, X, X, X, X, T(FAILED, REFUSE), X},
    /* rolled_back */
    {T(ASSIGNED, ASSIGN), X, X, X, X, X, X, X, T(FAILED, REFUSE), X},
    /* stale: reported only, never entered (src/agent/freshness.c) */
    {X, X, X, X, X, X, X, X, X, X},
};
/* Probation does not take a new directive: it ends (commit or revert) first, so a device is
 * never left between two modules. A bundle that fails checks in a final state is reported
 * as failed without touching the slots. */

static const char *const action_names[WF_ACT_COUNT_] = {
    "none",   "assign", "supersede", "record_sequence", "download", "write_chunk", "verify",
    "install", "probation", "commit", "fail", "refuse", "revert",
};

static const cell_t *cell(wf_state_t from, wf_event_t ev)
{
    if ((unsigned)from >= (unsigned)WF_STATE_COUNT_ || (unsigned)ev >= (unsigned)WF_EV_COUNT_) {
        return NULL;
    }
    return &table[from][ev];
}

wf_state_t wf_update_next(wf_state_t from, wf_event_t ev)
{
    const cell_t *c = cell(from, ev);
    return c != NULL ? (wf_state_t)c->next : WF_STATE_COUNT_;
}

wf_action_t wf_update_action(wf_state_t from, wf_event_t ev)
{
    const cell_t *c = cell(from, ev);
    return c != NULL ? (wf_action_t)c->action : WF_ACT_NONE;
}

bool wf_update_has_reason(wf_state_t from, wf_event_t ev)
{
    wf_state_t next = wf_update_next(from, ev);
    return next == WF_STATE_FAILED || next == WF_STATE_ROLLED_BACK;
}

const char *wf_action_name(wf_action_t action)
{
    return (unsigned)action < (unsigned)WF_ACT_COUNT_ ? action_names[action] : "?";
}

bool wf_update_transition_valid(wf_state_t from, wf_state_t to)
{
    unsigned e;
    for (e = 0; e < (unsigned)WF_EV_COUNT_; e++) {
        if (wf_update_next(from, (wf_event_t)e) == to) { return true; }
    }
    return false;
}

bool wf_update_is_final(wf_state_t state)
{
    return state == WF_STATE_IDLE || state == WF_STATE_COMMITTED || state == WF_STATE_FAILED ||
           state == WF_STATE_ROLLED_BACK;
}
#undef X
#undef T
