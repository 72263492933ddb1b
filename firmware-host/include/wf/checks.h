/*
 * Device checks 1-4 of docs/protocol.md §4 on a directive bundle, in that order;
 * protocol/device-checks.ts is the reference and protocol/vectors pins both to the same reasons.
 * Pure computation: no I/O, no allocation; everything decoded points into the bundle buffer.
 */
#ifndef WF_CHECKS_H
#define WF_CHECKS_H

#include "wf/payloads.h"

#define WF_CLOCK_SKEW_S 300u
#define WF_PAGE_BYTES 65536u

/** What runs now, per component (for the downgrade and "already running" checks). */
typedef struct {
    const char *component;
    const char *version;
    uint8_t manifest_digest[32];
} wf_running_t;

/** The device state a bundle is checked against (the "context" of protocol.md §7). */
typedef struct {
    const char *device_id;
    const uint8_t *root_public_key;  /* 32 bytes, pinned at provisioning (root version 1) */
    const wf_root_state_t *root;     /* root trusted after rotations; NULL = the provisioned one */
    uint64_t now;                    /* seconds since the epoch */
    uint32_t skew;                   /* WF_CLOCK_SKEW_S */
    uint32_t capabilities;           /* WF_CAP_* granted */
    uint64_t memory;                 /* bytes available for a module's linear memory */
    uint64_t committed_sequence;
    uint64_t keydoc_serial;          /* highest key document serial stored */
    const wf_running_t *running;
    size_t n_running;
} wf_device_ctx_t;

/** One checked release: what the device would download and run. */
typedef struct {
    wf_manifest_t manifest;
    wf_slice_t manifest_cose;        /* the manifest's COSE bytes inside the bundle */
    uint8_t manifest_digest[32];
    wf_slice_t config;               /* encoded config map or empty */
    bool downgrade;                  /* older than the running one, covered by a rollback auth */
    bool already_running;            /* exactly this manifest runs: nothing to download */
} wf_release_t;

typedef struct {
    wf_slice_t keydoc_cose, directive_cose;
    wf_root_state_t root;            /* where the bundle's root chain ended */
    wf_keydoc_t keydoc;
    wf_directive_t directive;
    uint8_t n_releases;
    wf_release_t releases[WF_MAX_COMPONENTS];
} wf_checked_bundle_t;

/**
 * Run checks 1-4 on a directive bundle.
 * @param[in]  bundle, len    the bundle bytes as received (must outlive `out`)
 * @param[in]  ctx            device state
 * @param[in]  scratch        ≥ WF_SIG_SCRATCH bytes for Sig_structures (caller-owned)
 * @param[out] out            decoded, verified bundle
 * @return WF_OK or the device's reason: CBOR_TOO_LARGE, CBOR_MALFORMED, CBOR_NON_CANONICAL,
 *   CBOR_FIELD_INVALID, CBOR_FIELD_MISSING, CBOR_UNKNOWN_FIELD, COSE_MALFORMED, COSE_BAD_ALG,
 *   COSE_UNKNOWN_KID, COSE_WRONG_ROLE, COSE_BAD_SIGNATURE, COSE_WRONG_TYPE, KEY_EXPIRED,
 *   KEYDOC_EXPIRED, KEYDOC_ROLLBACK, KEYDOC_KID_MISMATCH, DIRECTIVE_WRONG_DEVICE,
 *   DIRECTIVE_EXPIRED, DIRECTIVE_REPLAY, DIRECTIVE_MANIFEST_MISSING, MANIFEST_MISMATCH,
 *   ABI_UNSUPPORTED, CAPABILITY_NOT_GRANTED, MEMORY_TOO_LARGE, DIRECTIVE_DOWNGRADE,
 *   ROLLBACK_INVALID; BAD_PARAMETER / BUFFER_TOO_SMALL for caller errors.
 */
wf_status_t wf_check_bundle(const uint8_t *bundle, size_t len, const wf_device_ctx_t *ctx,
                            uint8_t *scratch, size_t scratch_len, wf_checked_bundle_t *out);

/**
 * Check 2 alone: walk the root chain from ctx->root_public_key, then open the key document
 * against its end (uses ctx: root_public_key, root, keydoc_serial, now, skew).
 * @return statuses of wf_root_chain_walk, then of wf_keydoc_open.
 */
wf_status_t wf_check_trust(wf_slice_t keydoc, const wf_slice_t *roots, size_t n_roots,
                           const wf_device_ctx_t *ctx, const wf_verify_env_t *env,
                           wf_root_state_t *root_out, wf_keydoc_t *keydoc_out);

typedef struct {
    wf_root_state_t root;
    wf_keydoc_t keydoc;
    wf_freshness_t statement;
} wf_checked_freshness_t;

/**
 * The device checks on a freshness message (protocol/device-checks.ts checkFreshness): size
 * bound and strict decode, trust (check 2), director signature, not expired, not older than
 * `last_issued_at` (0 = none seen yet).
 * @return WF_OK or the reason: decode statuses, trust statuses, statement statuses
 *   (COSE_*, KEY_EXPIRED, CBOR_*), FRESHNESS_EXPIRED, FRESHNESS_ROLLBACK.
 */
wf_status_t wf_check_freshness(const uint8_t *msg, size_t len, const wf_device_ctx_t *ctx,
                               uint64_t last_issued_at, uint8_t *scratch, size_t scratch_len,
                               wf_checked_freshness_t *out);

#endif
