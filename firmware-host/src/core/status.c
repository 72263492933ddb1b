/* Reason strings for wf_status_t, generated from the same X-macro list as the enum so the two
 * can never drift apart (protocol.md §5: reason codes are the error codes of docs/errors.md). */
#include "wf/status.h"

#include <string.h>

static const char *const names[WF_STATUS_COUNT_] = {
#define WF_STATUS_NAME_(name) #name,
    WF_STATUS_LIST(WF_STATUS_NAME_)
#undef WF_STATUS_NAME_
};

const char *wf_status_name(wf_status_t status)
{
    if ((unsigned)status >= (unsigned)WF_STATUS_COUNT_) {
        return "INTERNAL";
    }
    return names[status];
}

const char *wf_status_reason(wf_status_t status)
{
    if ((unsigned)status >= (unsigned)WF_HOST_ONLY_) {
        return "INTERNAL";
    }
    return names[status];
}

wf_status_t wf_status_from_reason(const char *reason, unsigned long len)
{
    unsigned i;
    for (i = 0; i < (unsigned)WF_HOST_ONLY_; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], reason, len) == 0) {
            return (wf_status_t)i;
        }
    }
    return WF_NOT_FOUND;
}
