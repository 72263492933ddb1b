/*
 * The unsigned MQTT messages of docs/protocol.md §5: strict decoders (size bound first, then
 * wf_cbor_check, then fields) and encoders that follow the "size first, then serialize" rule
 * (pass a NULL buffer to learn the size).
 */
#ifndef WF_MESSAGES_H
#define WF_MESSAGES_H

#include "wf/cbor.h"
#include "wf/payloads.h"

#define WF_HELLO_MAX 4096u
#define WF_CHUNK_REQUEST_MAX 128u
#define WF_CHUNK_OVERHEAD 128u
#define WF_REPORT_MAX 4096u
#define WF_TELEMETRY_MAX 1024u
#define WF_CHUNK_MIN 256u
#define WF_CHUNK_MAX 65536u
#define WF_CHUNK_INDEX_MAX 0xffffffu
#define WF_DETAIL_MAX 256u
/** Fleet-wide, server → devices, retained: the freshness message (protocol.md §3.6). */
#define WF_FRESHNESS_TOPIC "wf/v1/fleet/freshness"


/* Device states (docs/protocol.md §4); the strings are the wire names. */
typedef enum {
    WF_STATE_IDLE = 0,
    WF_STATE_ASSIGNED,
    WF_STATE_DOWNLOADING,
    WF_STATE_VERIFYING,
    WF_STATE_INSTALLING,
    WF_STATE_PROBATION,
    WF_STATE_COMMITTED,
    WF_STATE_FAILED,
    WF_STATE_ROLLED_BACK,
    WF_STATE_STALE,      /* report-only: no valid freshness statement within the window */
    WF_STATE_COUNT_
} wf_state_t;

const char *wf_state_name(wf_state_t state);
/** WF_STATE_COUNT_ when `name` is no state. */
wf_state_t wf_state_from_name(wf_slice_t name);

typedef struct {
    wf_slice_t keydoc, directive;
    uint8_t n_manifests;
    wf_slice_t manifests[WF_MAX_COMPONENTS];
    uint8_t n_roots;                        /* root chain links (key 4), 0 when absent */
    wf_slice_t roots[WF_ROOT_CHAIN_MAX];
} wf_bundle_t;

/** @return WF_OK; CBOR_TOO_LARGE (> 32 KiB); CBOR_MALFORMED; CBOR_NON_CANONICAL;
 *  CBOR_FIELD_INVALID; CBOR_FIELD_MISSING; CBOR_UNKNOWN_FIELD. */
wf_status_t wf_bundle_decode(const uint8_t *buf, size_t len, wf_bundle_t *out);

/** The freshness message on wf/v1/fleet/freshness (protocol.md §5). */
typedef struct {
    wf_slice_t keydoc, statement;
    uint8_t n_roots;
    wf_slice_t roots[WF_ROOT_CHAIN_MAX];
} wf_freshness_msg_t;

/** @return as wf_bundle_decode, with an 8 KiB bound (WF_FRESHNESS_MSG_MAX). */
wf_status_t wf_freshness_msg_decode(const uint8_t *buf, size_t len, wf_freshness_msg_t *out);

typedef struct {
    wf_slice_t sha256;   /* 32 bytes */
    uint32_t index;
    uint32_t chunk_size;
} wf_chunk_request_t;

typedef struct {
    wf_slice_t sha256;
    uint32_t index;
    wf_slice_t data;     /* present when has_data */
    wf_slice_t error;    /* reason code when !has_data */
    bool has_data;
} wf_chunk_response_t;

/** @return WF_OK or a CBOR_* reason (chunk size outside 256..65536 is CBOR_FIELD_INVALID). */
wf_status_t wf_chunk_request_decode(const uint8_t *buf, size_t len, wf_chunk_request_t *out);
/** Encode; @return WF_OK or BUFFER_TOO_SMALL (*len = size needed; buf may be NULL). */
wf_status_t wf_chunk_request_encode(const wf_chunk_request_t *req, uint8_t *buf, size_t cap,
                                    size_t *len);

/** @param max_chunk largest data the device asked for; the message bound is max_chunk + 128.
 *  @return WF_OK or a CBOR_* reason (both or neither of data/error: CBOR_FIELD_INVALID). */
wf_status_t wf_chunk_response_decode(const uint8_t *buf, size_t len, uint32_t max_chunk,
                                     wf_chunk_response_t *out);

typedef struct {
    const char *component;
    const char *version;
    const uint8_t *manifest_digest;  /* 32 bytes */
} wf_running_ref_t;

typedef struct {
    const char *host;           /* "wamr" */
    uint32_t abi;
    uint32_t capabilities;      /* WF_CAP_* bits, written as sorted names */
    uint32_t max_chunk;
    uint64_t memory;
    const char *agent;
    const wf_running_ref_t *running;  /* optional */
    uint8_t n_running;
} wf_hello_t;

wf_status_t wf_hello_encode(const wf_hello_t *h, uint8_t *buf, size_t cap, size_t *len);

/** Strict hello decode (for vectors and tests). Fields are views into buf. */
typedef struct {
    wf_slice_t host, agent;
    uint64_t abi, max_chunk, memory;
    uint8_t n_capabilities;
    wf_slice_t capabilities[32];
} wf_hello_view_t;
wf_status_t wf_hello_decode(const uint8_t *buf, size_t len, wf_hello_view_t *out);

typedef struct {
    wf_state_t state;
    wf_status_t reason;         /* WF_OK: no reason field */
    uint64_t sequence;          /* last committed */
    const wf_running_ref_t *running;
    uint8_t n_running;
    uint64_t target_sequence;   /* 0: absent */
    bool has_progress;
    uint64_t progress_bytes, progress_total;
    const char *detail;         /* NULL: absent; cut to 256 bytes */
    uint64_t time;
} wf_report_t;

wf_status_t wf_report_encode(const wf_report_t *r, uint8_t *buf, size_t cap, size_t *len);

typedef struct {
    wf_state_t state;
    wf_slice_t reason, detail;
    uint64_t sequence, target_sequence, time, progress_bytes, progress_total;
    bool has_target, has_progress;
    uint8_t n_running;
} wf_report_view_t;
wf_status_t wf_report_decode(const uint8_t *buf, size_t len, wf_report_view_t *out);

/** Telemetry {1: name, 2: float64 value, 3: time}. */
wf_status_t wf_telemetry_encode(const char *name, size_t name_len, double value, uint64_t time,
                                uint8_t *buf, size_t cap, size_t *len);

/** CBOR true / false for the online topic. */
wf_status_t wf_online_encode(bool online, uint8_t *buf, size_t cap, size_t *len);

#endif
