/*
 * The four signed payloads of docs/protocol.md §3, opened in the order of protocol/signed.ts:
 * parse the envelope, find the signing key, verify, and only then decode the payload map.
 * No payload field is trusted, or even parsed, before its signature verifies.
 *
 * All decoded text and byte strings are views into the caller's buffer.
 */
#ifndef WF_PAYLOADS_H
#define WF_PAYLOADS_H

#include "wf/cbor.h"
#include "wf/cose.h"

#define WF_PAYLOAD_KEYDOC 1u
#define WF_PAYLOAD_MANIFEST 2u
#define WF_PAYLOAD_DIRECTIVE 3u
#define WF_PAYLOAD_ROLLBACK 4u
#define WF_PAYLOAD_ROOT_LINK 5u
#define WF_PAYLOAD_FRESHNESS 6u

/* Size bounds (protocol/payloads/ sources, protocol/messages.ts MESSAGE_LIMITS). */
#define WF_KEYDOC_MAX 4096u
#define WF_DIRECTIVE_MAX 4096u
#define WF_MANIFEST_MAX 2048u
#define WF_ROLLBACK_MAX 512u
#define WF_BUNDLE_MAX (32u * 1024u)
#define WF_IMAGE_MAX (16u * 1024u * 1024u)
#define WF_MAX_KEYS 16u
#define WF_MAX_COMPONENTS 8u
#define WF_ROOT_LINK_MAX 512u
#define WF_ROOT_CHAIN_MAX 16u
#define WF_FRESHNESS_STMT_MAX 256u
#define WF_FRESHNESS_MSG_MAX (8u * 1024u)
/** Scratch a caller lends for one Sig_structure: the largest signed object plus its framing. */
#define WF_SIG_SCRATCH (WF_KEYDOC_MAX + 32u)

typedef enum { WF_ROLE_RELEASE = 1, WF_ROLE_DIRECTOR = 2 } wf_role_t;

typedef struct {
    wf_slice_t kid;          /* 8 bytes = SHA-256(public_key)[0..8) */
    wf_slice_t public_key;   /* 32 bytes */
    uint64_t expires;
    uint8_t role;            /* wf_role_t */
} wf_key_entry_t;

typedef struct {
    uint64_t serial, issued_at, expires;
    uint8_t n_keys;
    wf_key_entry_t keys[WF_MAX_KEYS];
} wf_keydoc_t;

typedef struct {
    wf_slice_t component, version;
    wf_slice_t image_sha256;  /* 32 bytes */
    uint64_t image_size;
    uint64_t abi;
    uint32_t capabilities;    /* WF_CAP_* bits; WF_CAP_UNKNOWN for names outside ABI v1 */
    uint32_t max_pages, stack, tick_ms;
    uint8_t exports;          /* WF_EXPORT_* bits */
    uint64_t created_at;
} wf_manifest_t;

typedef struct {
    wf_slice_t component;
    wf_slice_t manifest_digest;  /* 32 bytes */
    wf_slice_t config;           /* the encoded {tstr: tstr} map, or empty when absent */
    wf_slice_t rollback;         /* COSE bytes of a rollback authorization, or empty */
} wf_directive_entry_t;

typedef struct {
    wf_slice_t device, rollout;
    uint64_t sequence, issued_at, expires;
    uint8_t n_components;
    wf_directive_entry_t components[WF_MAX_COMPONENTS];
} wf_directive_t;

typedef struct {
    wf_slice_t component, target;
    uint64_t issued_at, expires;
} wf_rollback_t;

/** A root and its version: what a device trusts, or where a chain walk ended (§3.5). */
typedef struct {
    uint64_t version;         /* 1 = the provisioned root */
    uint8_t public_key[32];
} wf_root_state_t;

typedef struct {
    uint64_t issued_at, expires;
} wf_freshness_t;

/** Verification inputs shared by the open functions. */
typedef struct {
    uint64_t now;      /* seconds since the epoch, device clock */
    uint32_t skew;     /* allowance on every expiry check (protocol.md §4: 300 s) */
    uint8_t *scratch;  /* ≥ WF_SIG_SCRATCH bytes, for the Sig_structure */
    size_t scratch_len;
} wf_verify_env_t;

/**
 * Open a key document signed by the pinned root key.
 * @return WF_OK or the first failing reason, in the reference order: envelope statuses of
 *         wf_sign1_parse; COSE_UNKNOWN_KID (not the root's kid); COSE_BAD_SIGNATURE; CBOR_*
 *         of the payload; COSE_WRONG_TYPE; CBOR_FIELD_*; KEYDOC_KID_MISMATCH;
 *         CBOR_UNKNOWN_FIELD; KEYDOC_EXPIRED; KEYDOC_ROLLBACK (serial < min_serial);
 *         BUFFER_TOO_SMALL (scratch).
 */
wf_status_t wf_keydoc_open(const uint8_t *buf, size_t len, const uint8_t root_public_key[32],
                           uint64_t min_serial, const wf_verify_env_t *env, wf_keydoc_t *out);

/**
 * The public key for `kid` holding `role`.
 * @return WF_OK; COSE_UNKNOWN_KID; COSE_WRONG_ROLE; KEY_EXPIRED.
 */
wf_status_t wf_keydoc_key_for(const wf_keydoc_t *doc, wf_slice_t kid, wf_role_t role,
                              const wf_verify_env_t *env, const uint8_t **public_key);

/** Open a directive signed by a director key. Statuses as wf_keydoc_open (without the
 *  key document's own), plus COSE_WRONG_ROLE / KEY_EXPIRED from the key lookup. */
wf_status_t wf_directive_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                              const wf_verify_env_t *env, wf_directive_t *out);

/** Open a release manifest signed by a release key. Statuses as wf_directive_open. */
wf_status_t wf_manifest_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                             const wf_verify_env_t *env, wf_manifest_t *out);

/** Open a rollback authorization signed by a release key. Statuses as wf_directive_open. */
wf_status_t wf_rollback_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                             const wf_verify_env_t *env, wf_rollback_t *out);

/**
 * Walk root chain links from the provisioned root (protocol/payloads/root-chain.ts): each link
 * signed by the root before it and naming the next version; the walk must pass through
 * `trusted` (same key at its version; NULL = the provisioned root) and not end below it.
 * @return WF_OK with *out = the last root; per link: envelope statuses; ROOT_CHAIN_BROKEN
 *   (kid is not the previous root's, version not previous + 1, another key at the trusted
 *   version); COSE_BAD_SIGNATURE; CBOR_* of the payload; COSE_WRONG_TYPE; then ROOT_ROLLBACK.
 */
wf_status_t wf_root_chain_walk(const wf_slice_t *links, size_t n_links,
                               const uint8_t provisioned[32], const wf_root_state_t *trusted,
                               const wf_verify_env_t *env, wf_root_state_t *out);

/** Open a freshness statement signed by a director key. Statuses as wf_directive_open;
 *  CBOR_FIELD_INVALID when expires < issued_at. */
wf_status_t wf_freshness_open(const uint8_t *buf, size_t len, const wf_keydoc_t *keys,
                              const wf_verify_env_t *env, wf_freshness_t *out);

#endif
