/*
 * The module engine (WAMR interpreter) behind a small interface: load under the ABI v1 check,
 * call an entry export under an instruction budget, unload. Host ABI natives are registered
 * once, at wf_engine_init, and only for the capabilities the device grants (protocol.md §6).
 *
 * One engine per device; natives reach the port's services through the table given to
 * wf_engine_init (module memory pointers are validated before any service sees them).
 */
#ifndef WF_ENGINE_H
#define WF_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

/** Services the host ABI natives call; every pointer has been bounds-checked against the
 *  module's memory, and lengths against the ABI limits, before the call. */
typedef struct {
    void *ctx;
    void (*log)(void *ctx, const char *line, size_t len);
    uint64_t (*now_ms)(void *ctx);
    int32_t (*telemetry)(void *ctx, const char *name, size_t len, double value);
    int32_t (*config_get)(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap);
    int32_t (*kv_get)(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap);
    int32_t (*kv_set)(void *ctx, const char *key, size_t klen, const uint8_t *val, size_t vlen);
    int32_t (*gpio_read)(void *ctx, int32_t pin);
    int32_t (*gpio_write)(void *ctx, int32_t pin, int32_t value);
    double (*sensor_read)(void *ctx, int32_t channel);
} wf_host_services_t;

/** A loaded module; fields are the engine's. */
typedef struct {
    void *module;       /* wasm_module_t */
    void *instance;     /* wasm_module_inst_t */
    void *exec_env;     /* wasm_exec_env_t */
    uint8_t exports;    /* WF_EXPORT_* */
    uint32_t budget;    /* instructions per entry call */
    char error[128];    /* last engine message (load error or trap text) */
} wf_module_t;

/**
 * Start the runtime over a caller-owned pool (no hidden allocation: WAMR allocates only from
 * `pool`) and register the natives of `granted` capabilities.
 * @return WF_OK; WF_BAD_PARAMETER; WF_INTERNAL (the runtime did not start).
 */
wf_status_t wf_engine_init(uint8_t *pool, size_t pool_len, uint32_t granted,
                           const wf_host_services_t *services);
void wf_engine_deinit(void);

/**
 * Check (wf_wasm_check), load and instantiate a module. `wasm` must stay valid and unchanged
 * until wf_module_unload.
 * @param stack      wasm operand stack bytes (manifest memory.stack; 0 = 16 KiB)
 * @param max_pages  linear memory cap in 64 KiB pages (manifest memory.max_pages)
 * @param budget     instructions allowed per entry call (MODULE_TIMEOUT past it)
 * @return WF_OK; the wf_wasm_check statuses (MODULE_INVALID, ABI_UNKNOWN_IMPORT,
 *   ABI_BAD_SIGNATURE, CAPABILITY_NOT_GRANTED, ABI_MISSING_EXPORT); MODULE_INVALID (the engine
 *   refused it); MODULE_OUT_OF_MEMORY (instantiation did not fit).
 */
wf_status_t wf_module_load(wf_module_t *m, uint8_t *wasm, size_t len, uint32_t granted,
                           uint32_t stack, uint32_t max_pages, uint32_t budget);

/**
 * Call an entry export () -> i32 under the budget.
 * @return WF_OK with *result; WF_NOT_FOUND (no such export); MODULE_TIMEOUT (budget spent);
 *   MODULE_OUT_OF_MEMORY; MODULE_TRAP (any other trap).
 */
wf_status_t wf_module_call(wf_module_t *m, const char *name, int32_t *result);

void wf_module_unload(wf_module_t *m);

#endif
