/*
 * One status enum for the whole host (coreMQTT habit: every function returns a wf_status_t and
 * documents which ones it can return).
 *
 * The names after WF_ are the reason codes of docs/protocol.md §5 / docs/errors.md, spelled
 * exactly as on the wire: wf_status_reason() returns them, and reports carry them. Values
 * below WF_HOST_ONLY_ are wire reasons; the ones after it are host-internal conditions that a
 * report shows as "INTERNAL".
 */
#ifndef WF_STATUS_H
#define WF_STATUS_H

#define WF_STATUS_LIST(X) \
    X(OK)                         \
    /* CBOR and envelope (protocol.md §1, §2) */ \
    X(CBOR_MALFORMED)             \
    X(CBOR_NON_CANONICAL)         \
    X(CBOR_TOO_LARGE)             \
    X(CBOR_UNSUPPORTED)           \
    X(CBOR_FIELD_INVALID)         \
    X(CBOR_FIELD_MISSING)         \
    X(CBOR_UNKNOWN_FIELD)         \
    X(COSE_MALFORMED)             \
    X(COSE_BAD_ALG)               \
    X(COSE_UNKNOWN_KID)           \
    X(COSE_WRONG_ROLE)            \
    X(COSE_BAD_SIGNATURE)         \
    X(COSE_WRONG_TYPE)            \
    /* keys (protocol.md §3.1) */ \
    X(KEY_EXPIRED)                \
    X(KEYDOC_EXPIRED)             \
    X(KEYDOC_ROLLBACK)            \
    X(KEYDOC_KID_MISMATCH)        \
    /* directives and manifests (protocol.md §4) */ \
    X(DIRECTIVE_WRONG_DEVICE)     \
    X(DIRECTIVE_EXPIRED)          \
    X(DIRECTIVE_REPLAY)           \
    X(DIRECTIVE_DOWNGRADE)        \
    X(DIRECTIVE_MANIFEST_MISSING) \
    X(DIRECTIVE_UNSUPPORTED)      \
    X(MANIFEST_MISMATCH)          \
    X(ROLLBACK_INVALID)           \
    X(ABI_UNSUPPORTED)            \
    X(ABI_UNKNOWN_IMPORT)         \
    X(ABI_BAD_SIGNATURE)          \
    X(ABI_MISSING_EXPORT)         \
    X(CAPABILITY_NOT_GRANTED)     \
    X(MEMORY_TOO_LARGE)           \
    /* images and chunks */       \
    X(IMAGE_DIGEST_MISMATCH)      \
    X(IMAGE_TOO_LARGE)            \
    X(CHUNK_INVALID)              \
    X(CHUNK_UNKNOWN_BLOB)         \
    X(CHUNK_TIMEOUT)              \
    /* module execution */        \
    X(MODULE_INVALID)             \
    X(MODULE_TRAP)                \
    X(MODULE_TIMEOUT)             \
    X(MODULE_HEALTH)              \
    X(MODULE_INIT_FAILED)         \
    X(MODULE_CRASH_LOOP)          \
    X(MODULE_OUT_OF_MEMORY)       \
    X(INTERNAL)                   \
    /* root chain and freshness (protocol.md §3.5, §3.6); after INTERNAL so that reason values \
     * already stored in device records keep their meaning */ \
    X(ROOT_CHAIN_BROKEN)          \
    X(ROOT_ROLLBACK)              \
    X(FRESHNESS_EXPIRED)          \
    X(FRESHNESS_ROLLBACK)         \
    X(FRESHNESS_MISSING)          \
    /* host-internal: never a wire reason of their own (reported as INTERNAL) */ \
    X(HOST_ONLY_)                 \
    X(BUFFER_TOO_SMALL)           \
    X(BAD_PARAMETER)              \
    X(STORAGE_ERROR)              \
    X(TRANSPORT_ERROR)            \
    X(NOT_FOUND)

typedef enum {
#define WF_STATUS_ENUM_(name) WF_##name,
    WF_STATUS_LIST(WF_STATUS_ENUM_)
#undef WF_STATUS_ENUM_
    WF_STATUS_COUNT_
} wf_status_t;

/** The reason code for a status as it goes on the wire ("COSE_BAD_SIGNATURE", ...).
 *  Host-internal statuses map to "INTERNAL"; WF_OK maps to "OK". Never NULL. */
const char *wf_status_reason(wf_status_t status);

/** The enum's own name without the WF_ prefix (for logs; equals the reason for wire codes). */
const char *wf_status_name(wf_status_t status);

/** Map a reason string back to its status; WF_NOT_FOUND when it names none. */
wf_status_t wf_status_from_reason(const char *reason, unsigned long len);

#endif
