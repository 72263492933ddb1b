/*
 * A/B slots with an MCUboot-style trailer.
 *
 * Each slot holds one module image and, at its end, a trailer of write-once cells. Erased
 * cells read 0xff; a written flag cell reads 0x01. A cell's meaning never changes once
 * written (MCUboot habit), so a power cut between two writes always leaves a state the boot
 * decision table below knows:
 *
 *   offset  size  cell       written when
 *   0       256   info       the image is complete and its SHA-256 verified (what it is)
 *   256     16    magic      right after info: the slot holds a complete, verified image
 *   272     8     pending    activation requested: try this image under probation
 *   280     3×8   trial[k]   probation attempt k+1 started (one cell per boot of the trial)
 *   304     8     confirmed  probation passed: committed ("image_ok")
 *
 * A host that dies during probation (kill -9, power cut, watchdog reset) retries the trial
 * on the next boot until all WF_TRIAL_CELLS are used; then it reverts (crash loop), like the
 * simulated device's DEFAULT_PROBATION.maxBoots.
 * Commit is one cell write (confirmed), so "sequence + slot flip" persist atomically: the
 * active slot is the confirmed one with the higher sequence, and that sequence is the one in
 * its info cell.
 */
#ifndef WF_SLOT_H
#define WF_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

#define WF_TRAILER_SIZE 312u
#define WF_TRAILER_INFO_OFF 0u
#define WF_TRAILER_INFO_SIZE 256u
#define WF_TRAILER_MAGIC_OFF 256u
#define WF_TRAILER_MAGIC_SIZE 16u
#define WF_TRAILER_PENDING_OFF 272u
#define WF_TRAILER_TRIAL_OFF 280u
#define WF_TRIAL_CELLS 3u
#define WF_TRAILER_CONFIRMED_OFF 304u
#define WF_TRAILER_FLAG_SIZE 8u
#define WF_FLAG_SET 0x01u
#define WF_ERASED 0xffu

/** What the info cell records about the image in a slot. */
typedef struct {
    uint64_t sequence;            /* the directive sequence that installed it */
    uint32_t image_size;
    uint8_t image_sha256[32];
    uint8_t manifest_digest[32];
    uint32_t max_pages;
    uint32_t tick_ms;
    uint32_t capabilities;
    uint8_t exports;
    char component[65];
    char version[33];
    uint16_t config_len;          /* encoded config map stored right after the image */
} wf_slot_info_t;

typedef enum {
    WF_SLOT_EMPTY = 0,    /* no magic: erased, or an install that did not finish */
    WF_SLOT_READY,        /* magic only: verified image, activation not requested */
    WF_SLOT_PENDING,      /* magic + pending: to be tried */
    WF_SLOT_TRIAL,        /* magic + pending + some trial cells, not confirmed: retry it */
    WF_SLOT_EXHAUSTED,    /* ... with every trial cell used: a crash loop */
    WF_SLOT_CONFIRMED     /* magic + confirmed */
} wf_slot_state_t;

/* ---- paired accessors on a trailer image (uint8_t[WF_TRAILER_SIZE]) ---- */
void wf_trailer_erase(uint8_t *trailer);
bool wf_trailer_get_magic(const uint8_t *trailer);
void wf_trailer_set_magic(uint8_t *trailer);
bool wf_trailer_get_flag(const uint8_t *trailer, uint32_t flag_off);
void wf_trailer_set_flag(uint8_t *trailer, uint32_t flag_off);
/** @return WF_OK or WF_NOT_FOUND (erased / garbled info cell). */
wf_status_t wf_trailer_get_info(const uint8_t *trailer, wf_slot_info_t *info);
void wf_trailer_set_info(uint8_t *trailer, const wf_slot_info_t *info);

/** Trial cells written so far (0..WF_TRIAL_CELLS); the next free one is at
 *  WF_TRAILER_TRIAL_OFF + used × WF_TRAILER_FLAG_SIZE. */
uint32_t wf_trailer_trials_used(const uint8_t *trailer);

/** Slot state from its trailer, validation starting from failure (EMPTY unless proven). */
wf_slot_state_t wf_trailer_state(const uint8_t *trailer);

typedef enum {
    WF_BOOT_NONE = 0,     /* nothing runnable: stay idle */
    WF_BOOT_RUN,          /* run `run_slot` (committed) */
    WF_BOOT_TRIAL,        /* start probation of `run_slot`; `other` is the fallback */
    WF_BOOT_REVERT        /* `other` failed its probation: erase it, run `run_slot` (or none) */
} wf_boot_action_t;

typedef struct {
    wf_boot_action_t action;
    int8_t run_slot;      /* 0, 1, or -1 */
    int8_t other;         /* the slot the action concerns besides run_slot, or -1 */
} wf_boot_decision_t;

/**
 * The swap/revert decision (docs/firmware-host.md §Slots), a table matched in order:
 *   1. a slot EXHAUSTED         → REVERT it (the host died in every probation attempt:
 *                                 crash loop); run the other slot if CONFIRMED
 *   2. a slot PENDING or TRIAL  → TRIAL it (next attempt), the other slot stays the fallback
 *   3. both CONFIRMED           → RUN the higher sequence
 *   4. one CONFIRMED            → RUN it
 *   5. otherwise                → NONE
 */
wf_boot_decision_t wf_boot_decide(wf_slot_state_t s0, uint64_t seq0, wf_slot_state_t s1,
                                  uint64_t seq1);

#endif
