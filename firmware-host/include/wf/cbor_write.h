/*
 * Deterministic CBOR writer for the messages the device sends (hello, report, chunk request,
 * telemetry). coreMQTT habit, "size first, then serialize": a writer over a NULL buffer only
 * counts, so the caller can learn the exact size and bring a buffer that fits.
 * Callers write map keys in ascending order themselves (our keys are small integers).
 */
#ifndef WF_CBOR_WRITE_H
#define WF_CBOR_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

typedef struct {
    uint8_t *buf;   /**< caller's buffer, or NULL to measure */
    size_t cap;     /**< its size */
    size_t len;     /**< bytes written (or needed) so far */
    bool overflow;  /**< set once a write did not fit */
} wf_writer_t;

void wf_w_init(wf_writer_t *w, uint8_t *buf, size_t cap);
void wf_w_head(wf_writer_t *w, uint8_t major, uint64_t arg);
void wf_w_uint(wf_writer_t *w, uint64_t value);
void wf_w_int(wf_writer_t *w, int64_t value);
void wf_w_text(wf_writer_t *w, const char *text, size_t len);
void wf_w_cstr(wf_writer_t *w, const char *text);
void wf_w_bytes(wf_writer_t *w, const uint8_t *data, size_t len);
void wf_w_bool(wf_writer_t *w, bool value);
void wf_w_float64(wf_writer_t *w, double value);
void wf_w_array(wf_writer_t *w, uint64_t count);
void wf_w_map(wf_writer_t *w, uint64_t count);

/** @return WF_OK with *len set, or WF_BUFFER_TOO_SMALL (then *len is the size needed). */
wf_status_t wf_w_finish(const wf_writer_t *w, size_t *len);

#endif
