/*
 * The platform interface a port implements: storage (two slots, their trailers, one device
 * record), clock, transport (publish under wf/v1/dev/{id}/) and log. The agent does every
 * I/O through this table, so the core never calls an OS.
 *
 * Storage contract (what makes kill -9 / power loss safe):
 *  - trailer_write writes one trailer cell atomically (POSIX: write-then-rename + fsync; flash:
 *    one program of an erased cell) and is durable when it returns;
 *  - record_write replaces the whole record atomically and durably;
 *  - slot_write data is durable when slot_sync returns.
 */
#ifndef WF_PLATFORM_H
#define WF_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wf/slot.h"
#include "wf/status.h"

/** The device record: what must survive a restart besides the slots. */
typedef struct {
    uint64_t keydoc_serial;       /* highest key document serial accepted */
    uint64_t committed_sequence;  /* last committed directive sequence (also for up-to-date ones) */
    uint64_t failed_sequence;     /* a directive that ended failed/rolled_back: not retried */
    uint8_t failed_state;         /* wf_state_t it ended in */
    uint8_t failed_reason;        /* wf_status_t */
    /* download resume (protocol.md §4 step 5) */
    uint64_t dl_sequence;         /* directive being downloaded, 0 = none */
    uint8_t dl_slot;
    uint8_t dl_sha256[32];
    uint32_t dl_bytes;            /* bytes durably in the slot */
    uint32_t dl_chunk_size;
    /* the root trusted after rotations (protocol.md §3.5); 0 = the provisioned root */
    uint64_t root_version;
    uint8_t root_key[32];
} wf_record_t;

/** What becomes of the modules' kv store around a trial (wf_platform_t.kv_trial). */
typedef enum {
    WF_KV_TRIAL_BEGIN = 0, /* keep a copy of the kv store; a trial resumed after a restart
                              (same sequence) keeps the copy taken when it first ran */
    WF_KV_TRIAL_KEEP,      /* the trial passed: drop the copy */
    WF_KV_TRIAL_UNDO       /* the trial failed: put the copy back (its kv writes are undone) */
} wf_kv_trial_t;

typedef struct {
    void *ctx;
    uint32_t slot_size;  /* bytes per slot for image + config (trailer kept apart) */

    /* @return WF_OK or WF_STORAGE_ERROR */
    wf_status_t (*slot_erase)(void *ctx, uint8_t slot);  /* image and trailer */
    wf_status_t (*slot_write)(void *ctx, uint8_t slot, uint32_t off, const uint8_t *data, size_t len);
    wf_status_t (*slot_read)(void *ctx, uint8_t slot, uint32_t off, uint8_t *data, size_t len);
    wf_status_t (*slot_sync)(void *ctx, uint8_t slot);
    /* trailer_read of a never-written trailer fills 0xff (erased) and returns WF_OK */
    wf_status_t (*trailer_read)(void *ctx, uint8_t slot, uint8_t trailer[WF_TRAILER_SIZE]);
    wf_status_t (*trailer_write)(void *ctx, uint8_t slot, uint32_t off, const uint8_t *data, size_t len);
    /* record_read of a missing record returns WF_NOT_FOUND */
    wf_status_t (*record_read)(void *ctx, wf_record_t *rec);
    wf_status_t (*record_write)(void *ctx, const wf_record_t *rec);

    uint64_t (*now_s)(void *ctx);         /* wall clock, seconds since the epoch */
    uint64_t (*monotonic_ms)(void *ctx);  /* never goes back */

    /* publish to wf/v1/dev/{id}/{suffix}; @return WF_OK or WF_TRANSPORT_ERROR */
    wf_status_t (*publish)(void *ctx, const char *suffix, const uint8_t *payload, size_t len,
                           uint8_t qos, bool retain);

    void (*log)(void *ctx, const char *message);

    /* kv around a trial; NULL on a device without a kv store. @return WF_OK or WF_STORAGE_ERROR */
    wf_status_t (*kv_trial)(void *ctx, wf_kv_trial_t op, uint64_t sequence);
} wf_platform_t;

#endif
