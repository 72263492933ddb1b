/*
 * Strict, zero-copy reader for the deterministic CBOR of docs/protocol.md §1.
 *
 * Two layers:
 *  1. wf_cbor_check() walks one whole buffer once and decides "well-formed and deterministic,
 *     exactly one item, nothing after it" (RFC 8949 §4.2.1). Nothing else may look at a buffer
 *     it has not accepted.
 *  2. Item, array and map readers navigate an accepted buffer. They never copy: text and byte
 *     strings come back as wf_slice_t views into the caller's buffer, which must outlive them.
 *
 * The map reader mirrors protocol/fields.ts field by field (same read order gives the same first
 * error): a missing required key is CBOR_FIELD_MISSING, a wrong type or out-of-range value is
 * CBOR_FIELD_INVALID, and wf_map_done() rejects any key nobody asked for (CBOR_UNKNOWN_FIELD).
 */
#ifndef WF_CBOR_H
#define WF_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

/** Deepest nesting wf_cbor_check accepts; our messages nest at most 5 levels. */
#define WF_CBOR_MAX_DEPTH 12u
/** Most data items one buffer may hold (protocol/cbor-profile.ts CBOR_MAX_ITEMS). */
#define WF_CBOR_MAX_ITEMS 4096u
/** Most entries one map reader indexes; maps with more are rejected as CBOR_UNKNOWN_FIELD
 *  (no message of protocol.md has more than 11 keys). */
#define WF_MAP_MAX_ENTRIES 16u
/** Largest unsigned value a field may hold: JavaScript's safe integer range, so every host
 *  accepts the same values as the TypeScript reference (fields.ts checkUint). */
#define WF_CBOR_UINT_MAX 9007199254740991ull

enum {
    WF_CBOR_UINT = 0, WF_CBOR_NINT = 1, WF_CBOR_BSTR = 2, WF_CBOR_TSTR = 3,
    WF_CBOR_ARRAY = 4, WF_CBOR_MAP = 5, WF_CBOR_TAG = 6, WF_CBOR_SIMPLE = 7
};

/** A view into a caller-owned buffer. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} wf_slice_t;

/** One decoded head: major type, argument, and where the content starts. */
typedef struct {
    uint8_t major;       /**< WF_CBOR_* */
    uint8_t info;        /**< additional information (low 5 bits of the initial byte) */
    uint64_t arg;        /**< value, length, element count, tag number or simple value */
    size_t off;          /**< offset of the head in the buffer */
    size_t content;      /**< offset just after the head */
} wf_item_t;

/** Array cursor over an accepted buffer. */
typedef struct {
    const uint8_t *base;
    size_t len;
    uint32_t count;      /**< number of elements */
    uint32_t index;      /**< next element to return */
    size_t next;         /**< offset of that element */
} wf_array_t;

/** Map reader: the entries of one map, indexed once, with a "seen" bit per entry. */
typedef struct {
    const uint8_t *base;
    size_t len;
    uint8_t count;
    uint32_t seen;
    struct {
        uint32_t key;    /**< the key when it is an unsigned integer < 2^32, else UINT32_MAX */
        uint32_t off;    /**< offset of the value item */
    } entry[WF_MAP_MAX_ENTRIES];
} wf_map_t;

/**
 * Accept `buf[0..len)` as exactly one well-formed, deterministic CBOR item of the profile of
 * protocol.md §1. One pass; the same walk as protocol/cbor-profile.ts (one verdict).
 * @param[in] buf  the bytes; @param[in] len their count.
 * @return WF_OK; at once, at the first offending byte:
 *         WF_CBOR_MALFORMED (empty, truncated, reserved values, break outside an indefinite item,
 *         nesting deeper than WF_CBOR_MAX_DEPTH, bytes after the item);
 *         WF_CBOR_UNSUPPORTED (any tag, a simple value other than false/true/null, a float);
 *         WF_CBOR_TOO_LARGE (more than WF_CBOR_MAX_ITEMS data items);
 *         after a walk without those: WF_CBOR_NON_CANONICAL (a longer head than needed, an
 *         indefinite length, map keys unsorted or repeated, text that is not UTF-8).
 */
wf_status_t wf_cbor_check(const uint8_t *buf, size_t len);

/**
 * Decode the head at `off`. @return WF_OK or WF_CBOR_MALFORMED (out of bounds).
 */
wf_status_t wf_cbor_head(const uint8_t *base, size_t len, size_t off, wf_item_t *out);

/**
 * Offset just past the whole item at `off` (head and content, children included).
 * @return WF_OK or WF_CBOR_MALFORMED.
 */
wf_status_t wf_cbor_skip(const uint8_t *base, size_t len, size_t off, size_t *end);

/* ---- typed views of one item (CBOR_FIELD_INVALID on a wrong type or bound) ---- */
wf_status_t wf_cbor_get_uint(const uint8_t *base, size_t len, size_t off, uint64_t min,
                             uint64_t max, uint64_t *out);
wf_status_t wf_cbor_get_text(const uint8_t *base, size_t len, size_t off, size_t min,
                             size_t max, wf_slice_t *out);
wf_status_t wf_cbor_get_bytes(const uint8_t *base, size_t len, size_t off, size_t min,
                              size_t max, wf_slice_t *out);
wf_status_t wf_cbor_get_array(const uint8_t *base, size_t len, size_t off, uint32_t min,
                              uint32_t max, wf_array_t *out);

/** Next element of an array. @return WF_OK, WF_NOT_FOUND at the end, WF_CBOR_MALFORMED. */
wf_status_t wf_array_next(wf_array_t *a, size_t *off);

/**
 * Index the map at `off` (which must be a map: else CBOR_FIELD_INVALID; over
 * WF_MAP_MAX_ENTRIES entries: CBOR_UNKNOWN_FIELD).
 */
wf_status_t wf_map_open(wf_map_t *m, const uint8_t *base, size_t len, size_t off);

/** Offset of the value for `key`, marking it seen. WF_NOT_FOUND when absent. */
wf_status_t wf_map_find(wf_map_t *m, uint32_t key, size_t *off);

/* Required fields: CBOR_FIELD_MISSING when absent, CBOR_FIELD_INVALID when wrong. */
wf_status_t wf_map_uint(wf_map_t *m, uint32_t key, uint64_t min, uint64_t max, uint64_t *out);
wf_status_t wf_map_text(wf_map_t *m, uint32_t key, size_t min, size_t max, wf_slice_t *out);
wf_status_t wf_map_bytes(wf_map_t *m, uint32_t key, size_t min, size_t max, wf_slice_t *out);
wf_status_t wf_map_array(wf_map_t *m, uint32_t key, uint32_t min, uint32_t max, wf_array_t *out);
wf_status_t wf_map_map(wf_map_t *m, uint32_t key, wf_map_t *out);

/* Optional fields: as above, but an absent key gives WF_OK with *present = false. */
wf_status_t wf_map_opt_uint(wf_map_t *m, uint32_t key, uint64_t min, uint64_t max,
                            uint64_t *out, bool *present);
wf_status_t wf_map_opt_text(wf_map_t *m, uint32_t key, size_t min, size_t max,
                            wf_slice_t *out, bool *present);
wf_status_t wf_map_opt_bytes(wf_map_t *m, uint32_t key, size_t min, size_t max,
                             wf_slice_t *out, bool *present);

/** CBOR_UNKNOWN_FIELD when the map holds a key no reader asked for; else WF_OK. */
wf_status_t wf_map_done(const wf_map_t *m);

/** True when a slice equals a NUL-terminated string. */
bool wf_slice_eq(wf_slice_t s, const char *text);

#endif
