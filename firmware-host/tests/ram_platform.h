/* Test-only platform: slots, trailers and record in RAM, a controllable clock, captured
 * publishes, and a write budget that "kills" the device at the N-th storage write (every
 * later write fails, as if the process were gone), MCUboot-test style. */
#ifndef WF_TEST_RAM_PLATFORM_H
#define WF_TEST_RAM_PLATFORM_H

#include "wf/platform.h"

#define RAM_SLOT_SIZE (64u * 1024u)
#define RAM_MAX_REQUESTS 512u

typedef struct {
    uint8_t slot[2][RAM_SLOT_SIZE];
    uint8_t trailer[2][WF_TRAILER_SIZE];
    wf_record_t rec;
    bool has_rec;
    uint64_t now_s, mono_ms;
    long writes;          /* storage writes done */
    long die_at;          /* write number that does not happen (-1: never) */
    bool dead;
    uint8_t report[1024];
    size_t report_len;
    unsigned n_reports;
    uint32_t requests[RAM_MAX_REQUESTS];
    unsigned n_requests, next_request;
    unsigned n_telemetry;
} ram_t;

void ram_init(ram_t *r);
void ram_bind(wf_platform_t *pf, ram_t *r);

#endif
