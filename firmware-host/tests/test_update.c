/* The update state machine table: the happy path, every failure, and what is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testlib.h"
#include "wf/update.h"

/* wf_event_t order, named as in protocol/update-table.ts */
static const char *const event_names[WF_EV_COUNT_] = {
    "bundle_ok", "up_to_date", "start", "chunk", "complete",
    "digest_ok", "loaded",     "passed", "reject", "failed",
};

static wf_slice_t slice_of(const char *s)
{
    wf_slice_t r;
    r.ptr = (const uint8_t *)s;
    r.len = strlen(s);
    return r;
}

static int event_of(const char *name)
{
    int e;
    for (e = 0; e < WF_EV_COUNT_; e++) {
        if (name != NULL && strcmp(event_names[e], name) == 0) { return e; }
    }
    return -1;
}

/* protocol/vectors/transitions.json: every (state, event) pair of the TypeScript table, allowed
 * or not; the C table must give the same next state, the same step and the same reason rule. */
static void check_vectors(void)
{
    const char *dir = getenv("WF_VECTORS_DIR");
    char path[512];
    size_t len, i, seen = 0;
    char *text;
    jval_t *root;
    const jval_t *rows;

    snprintf(path, sizeof path, "%s/transitions.json", dir != NULL ? dir : "../protocol/vectors");
    text = (char *)wf_test_read_file(path, &len);
    CHECK(text != NULL);
    if (text == NULL) { return; }
    root = json_parse(text);
    free(text);
    CHECK(root != NULL);
    if (root == NULL) { return; }
    rows = json_get(root, "transitions");
    CHECK(rows != NULL && rows->type == J_ARR && rows->n == (size_t)WF_STATE_COUNT_ * WF_EV_COUNT_);
    for (i = 0; rows != NULL && i < rows->n; i++) {
        const jval_t *row = rows->items[i];
        const char *state = json_str(row, "state");
        const char *next = json_str(row, "next");
        const char *action = json_str(row, "action");
        const jval_t *reason = json_get(row, "reason");
        wf_state_t s = state != NULL ? wf_state_from_name(slice_of(state)) : WF_STATE_COUNT_;
        int e = event_of(json_str(row, "event"));
        wf_state_t want = next != NULL ? wf_state_from_name(slice_of(next)) : WF_STATE_COUNT_;
        bool ok;

        if (s == WF_STATE_COUNT_ || e < 0) {
            printf("  unknown state or event in row %u\n", (unsigned)i);
            CHECK(false);
            continue;
        }
        ok = wf_update_next(s, (wf_event_t)e) == want &&
             strcmp(wf_action_name(wf_update_action(s, (wf_event_t)e)), action != NULL ? action : "none") == 0 &&
             reason != NULL && reason->type == J_BOOL &&
             wf_update_has_reason(s, (wf_event_t)e) == reason->b;
        if (!ok) {
            printf("  %s --%s--> C says %s/%s, the vectors %s/%s\n", state, event_names[e],
                   wf_state_name(wf_update_next(s, (wf_event_t)e)),
                   wf_action_name(wf_update_action(s, (wf_event_t)e)), next != NULL ? next : "(not allowed)",
                   action != NULL ? action : "none");
        }
        CHECK(ok);
        seen++;
    }
    CHECK(seen == (size_t)WF_STATE_COUNT_ * WF_EV_COUNT_);
    json_free(root);
}

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
    check_vectors();
    return wf_test_finish("test_update");
}
