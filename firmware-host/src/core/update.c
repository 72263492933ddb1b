/* Update state machine transition table (wf/update.h). */
#include "wf/update.h"

#define X WF_STATE_COUNT_ /* not allowed */

/* next[state][event]; columns in wf_event_t order:
 *        BUNDLE_OK UP_TO_DATE START CHUNK COMPLETE DIGEST_OK LOADED PASSED REJECT FAILED */
static const unsigned char next_state[WF_STATE_COUNT_][WF_EV_COUNT_] = {
    /* idle        */ {WF_STATE_ASSIGNED, X, X, X, X, X, X, X, WF_STATE_FAILED, X},
    /* assigned    */ {WF_STATE_ASSIGNED, WF_STATE_COMMITTED, WF_STATE_DOWNLOADING, X, X, X, X, X,
                       WF_STATE_FAILED, X},
    /* downloading */ {WF_STATE_ASSIGNED, X, X, WF_STATE_DOWNLOADING, WF_STATE_VERIFYING, X, X, X,
                       WF_STATE_FAILED, X},
    /* verifying   */ {WF_STATE_ASSIGNED, X, X, X, X, WF_STATE_INSTALLING, X, X, WF_STATE_FAILED, X},
    /* installing  */ {WF_STATE_ASSIGNED, X, X, X, X, X, WF_STATE_PROBATION, X, WF_STATE_FAILED, X},
    /* probation   */ {X, X, X, X, X, X, X, WF_STATE_COMMITTED, X, WF_STATE_ROLLED_BACK},
    /* committed   */ {WF_STATE_ASSIGNED, X, X, X, X, X, X, X, WF_STATE_FAILED, X},
    /* failed      */ {WF_STATE_ASSIGNED, X, X, X, X, X, X, X, WF_STATE_FAILED, X},
    /* rolled_back */ {WF_STATE_ASSIGNED, X, X, X, X, X, X, X, WF_STATE_FAILED, X},
    /* stale       */ {X, X, X, X, X, X, X, X, X, X}, /* reported only, never entered (freshness.h) */
};
/* Probation does not take a new directive: it ends (commit or revert) first, so a device is
 * never left between two modules. A bundle that fails checks in a final state is reported
 * as failed without touching the slots. */

wf_state_t wf_update_next(wf_state_t from, wf_event_t ev)
{
    if ((unsigned)from >= (unsigned)WF_STATE_COUNT_ || (unsigned)ev >= (unsigned)WF_EV_COUNT_) {
        return WF_STATE_COUNT_;
    }
    return (wf_state_t)next_state[from][ev];
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
