/* The update state machine table: the happy path, every failure, and what is refused. */
#include "testlib.h"
#include "wf/update.h"

static wf_state_t run(wf_state_t s, const wf_event_t *evs, int n)
{
    int i;
    for (i = 0; i < n && s != WF_STATE_COUNT_; i++) { s = wf_update_next(s, evs[i]); }
    return s;
}

int main(void)
{
    const wf_event_t happy[] = {WF_EV_BUNDLE_OK, WF_EV_START, WF_EV_CHUNK, WF_EV_CHUNK,
                                WF_EV_COMPLETE, WF_EV_DIGEST_OK, WF_EV_LOADED, WF_EV_PASSED};
    const wf_event_t trap[] = {WF_EV_BUNDLE_OK, WF_EV_START, WF_EV_COMPLETE, WF_EV_DIGEST_OK,
                               WF_EV_LOADED, WF_EV_FAILED};
    const wf_event_t bad_digest[] = {WF_EV_BUNDLE_OK, WF_EV_START, WF_EV_COMPLETE, WF_EV_REJECT};
    const wf_event_t up_to_date[] = {WF_EV_BUNDLE_OK, WF_EV_UP_TO_DATE};
    unsigned s, e;

    CHECK(run(WF_STATE_IDLE, happy, 8) == WF_STATE_COMMITTED);
    CHECK(run(WF_STATE_COMMITTED, happy, 8) == WF_STATE_COMMITTED);
    CHECK(run(WF_STATE_ROLLED_BACK, happy, 8) == WF_STATE_COMMITTED);
    CHECK(run(WF_STATE_COMMITTED, trap, 6) == WF_STATE_ROLLED_BACK);
    CHECK(run(WF_STATE_COMMITTED, bad_digest, 4) == WF_STATE_FAILED);
    CHECK(run(WF_STATE_COMMITTED, up_to_date, 2) == WF_STATE_COMMITTED);
    /* a rejected bundle in any final state is a failure report, slots untouched */
    CHECK(wf_update_next(WF_STATE_IDLE, WF_EV_REJECT) == WF_STATE_FAILED);
    CHECK(wf_update_next(WF_STATE_COMMITTED, WF_EV_REJECT) == WF_STATE_FAILED);
    /* a newer directive supersedes a download */
    CHECK(wf_update_next(WF_STATE_DOWNLOADING, WF_EV_BUNDLE_OK) == WF_STATE_ASSIGNED);
    /* probation ends only by passing or failing: no new directive, no reject */
    CHECK(wf_update_next(WF_STATE_PROBATION, WF_EV_BUNDLE_OK) == WF_STATE_COUNT_);
    CHECK(wf_update_next(WF_STATE_PROBATION, WF_EV_REJECT) == WF_STATE_COUNT_);
    /* nothing skips verification: no way from downloading straight to installing/probation */
    CHECK(!wf_update_transition_valid(WF_STATE_DOWNLOADING, WF_STATE_INSTALLING));
    CHECK(!wf_update_transition_valid(WF_STATE_DOWNLOADING, WF_STATE_PROBATION));
    CHECK(!wf_update_transition_valid(WF_STATE_ASSIGNED, WF_STATE_PROBATION));
    CHECK(!wf_update_transition_valid(WF_STATE_IDLE, WF_STATE_COMMITTED));
    /* commit only from probation or an up-to-date assignment */
    for (s = 0; s < WF_STATE_COUNT_; s++) {
        bool may = (s == WF_STATE_PROBATION || s == WF_STATE_ASSIGNED);
        CHECK(wf_update_transition_valid((wf_state_t)s, WF_STATE_COMMITTED) == may);
    }
    /* rolled_back only from probation */
    for (s = 0; s < WF_STATE_COUNT_; s++) {
        CHECK(wf_update_transition_valid((wf_state_t)s, WF_STATE_ROLLED_BACK) == (s == WF_STATE_PROBATION));
    }
    /* out-of-range inputs are refused, never indexed */
    CHECK(wf_update_next(WF_STATE_COUNT_, WF_EV_START) == WF_STATE_COUNT_);
    CHECK(wf_update_next(WF_STATE_IDLE, WF_EV_COUNT_) == WF_STATE_COUNT_);
    for (s = 0; s < WF_STATE_COUNT_; s++) {
        for (e = 0; e < WF_EV_COUNT_; e++) {
            wf_state_t n = wf_update_next((wf_state_t)s, (wf_event_t)e);
            CHECK(n <= WF_STATE_COUNT_);
        }
    }
    CHECK(wf_update_is_final(WF_STATE_COMMITTED) && !wf_update_is_final(WF_STATE_PROBATION));
    return wf_test_finish("test_update");
}
