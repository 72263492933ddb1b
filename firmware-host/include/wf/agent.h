/*
 * The device agent: device checks, download, verify, install, probation, commit or revert
 * (docs/protocol.md §4), over the platform interface and the engine. It owns no buffer: the caller
 * lends the agent struct, the image buffer and the engine pool. Single-threaded: call the
 * wf_agent_on_* functions and wf_agent_poll from one loop.
 *
 * One component runs at a time (the spare slot holds the next); a directive that would need
 * two installs at once is refused (DIRECTIVE_UNSUPPORTED, detail says why).
 */
#ifndef WF_AGENT_H
#define WF_AGENT_H

#include "wf/checks.h"
#include "wf/crypto.h"
#include "wf/engine.h"
#include "wf/platform.h"
#include "wf/update.h"

#define WF_CONFIG_MAX 1024u

typedef struct {
    const char *device_id;
    uint8_t root_public_key[32];
    uint32_t capabilities;       /* granted WF_CAP_* */
    uint64_t memory;             /* bytes for module linear memory */
    uint32_t max_chunk;          /* 256..65536 */
    uint32_t window;             /* chunk requests in flight, ≥ 1 */
    uint32_t chunk_timeout_ms;   /* re-request after this long without progress */
    uint32_t probation_ticks;    /* successful ticks (and health checks) before commit */
    uint32_t budget;             /* instructions per entry call */
    const char *agent_version;   /* hello key 6 */
    uint32_t freshness_grace_s;  /* after boot without a valid freshness statement: stale (0 = 3600) */
} wf_agent_config_t;

typedef struct {
    const wf_platform_t *pf;
    wf_agent_config_t cfg;
    wf_record_t rec;

    wf_state_t state;
    wf_status_t reason;          /* reason of the last failed / rolled_back */
    char detail[WF_DETAIL_MAX + 1];
    uint64_t target_sequence;

    int8_t active;               /* slot running, -1 none */
    wf_slot_info_t active_info;
    bool active_is_trial;

    /* the directive in progress */
    int8_t target_slot;
    wf_slot_info_t target;
    uint8_t target_config[WF_CONFIG_MAX];
    uint16_t target_config_len;
    uint32_t chunk_size;
    uint32_t next_index;         /* next chunk expected */
    uint32_t requested_upto;     /* chunks [next_index, requested_upto) are requested */
    uint64_t last_progress_ms;
    uint64_t last_report_ms;     /* progress reports: at most one a second */
    wf_sha256_t hash;

    /* running module */
    wf_module_t module;
    uint8_t *image;              /* caller-owned, image_cap bytes */
    size_t image_cap;
    uint8_t config[WF_CONFIG_MAX];
    uint16_t config_len;
    uint64_t next_tick_ms;
    uint32_t probation_left;
    bool connected;
    bool want_directive;         /* a bundle was deferred (probation): the port re-subscribes */

    /* freshness (protocol.md §3.6): in RAM only, the grace starts again at every boot */
    uint64_t boot_s;
    uint64_t fresh_issued_at;    /* newest statement accepted, 0 = none */
    uint64_t fresh_expires;
    bool stale;
    wf_status_t stale_reason;    /* FRESHNESS_MISSING or FRESHNESS_EXPIRED */

    /* work areas for the device checks (caller-owned through the struct) */
    uint8_t scratch[WF_SIG_SCRATCH];
    wf_checked_bundle_t checked;
    wf_checked_freshness_t fresh_checked;
} wf_agent_t;

/**
 * Read the record and both trailers, apply the boot decision table (wf/slot.h), start the
 * module it names. Reports a revert found at boot as rolled_back(MODULE_CRASH_LOOP).
 * @return WF_OK or WF_STORAGE_ERROR.
 */
wf_status_t wf_agent_start(wf_agent_t *a, const wf_platform_t *pf, const wf_agent_config_t *cfg,
                           uint8_t *image_buf, size_t image_cap);

/** Transport up: publish hello, online and the current report (all retained). */
void wf_agent_on_connect(wf_agent_t *a);
void wf_agent_on_disconnect(wf_agent_t *a);

/** A directive bundle arrived on .../directive. Never fails: outcomes are reports. */
void wf_agent_on_directive(wf_agent_t *a, const uint8_t *bundle, size_t len);

/** A freshness message arrived on wf/v1/fleet/freshness. Never fails: a refused one is logged,
 *  and a device that has no valid one within its window reports stale (final states only). */
void wf_agent_on_freshness(wf_agent_t *a, const uint8_t *msg, size_t len);

/** A chunk response arrived on .../chunk. */
void wf_agent_on_chunk(wf_agent_t *a, const uint8_t *msg, size_t len);

/** Timers: module ticks, probation, chunk re-requests. Returns ms until the next deadline. */
uint32_t wf_agent_poll(wf_agent_t *a);

/** Stop the module (clean exit). */
void wf_agent_stop(wf_agent_t *a);

/** Services the engine natives use for config_get (reads the active config). */
int32_t wf_agent_config_get(wf_agent_t *a, const char *key, size_t klen, uint8_t *out, size_t cap);

#endif
