/*
 * Module check of device step 6 (protocol.md §4, §6), before any engine sees the bytes: the
 * module's imports ⊆ the granted capabilities' imports, with the exact ABI v1 types, and the
 * entry exports present with type () -> i32. A bounded reader of the binary format's type,
 * import, function and export sections; no allocation.
 */
#ifndef WF_WASM_CHECK_H
#define WF_WASM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

#define WF_WASM_MAX_TYPES 64u
#define WF_WASM_MAX_FUNCS 512u

typedef struct {
    uint32_t capabilities;  /* WF_CAP_* the imports use */
    uint8_t exports;        /* WF_EXPORT_* present with the right type */
    uint32_t max_pages;     /* declared memory maximum (or initial), 0 without memory */
} wf_wasm_info_t;

/**
 * @param[in] wasm, len  the module bytes
 * @param[in] granted    WF_CAP_* bits the device grants
 * @param[out] info      what the module uses
 * @return WF_OK; MODULE_INVALID (not a wasm 1 module, or a section that does not parse, or
 *   more types/functions than this checker indexes); ABI_UNKNOWN_IMPORT (outside `wf`, not a
 *   function, or a name outside ABI v1); ABI_BAD_SIGNATURE; CAPABILITY_NOT_GRANTED;
 *   ABI_MISSING_EXPORT (wf_init, wf_tick, or memory when a pointer-taking import is used).
 */
wf_status_t wf_wasm_check(const uint8_t *wasm, size_t len, uint32_t granted, wf_wasm_info_t *info);

/** Read `n` bytes at `off` of the module into `out`. @return WF_OK or any error status. */
typedef wf_status_t (*wf_wasm_read_fn)(void *ctx, size_t off, uint8_t *out, size_t n);

/** As wf_wasm_check, reading the module through `read` (a slot in flash or a file), so a new
 *  image is checked without disturbing the buffer of the module that runs. */
wf_status_t wf_wasm_check_stream(wf_wasm_read_fn read, void *ctx, size_t len, uint32_t granted,
                                 wf_wasm_info_t *info);

#endif
