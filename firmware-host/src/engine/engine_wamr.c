/* WAMR-backed engine (wf/engine.h). Classic interpreter with instruction metering. */
#include <stdio.h>
#include <string.h>

#include "wasm_export.h"
#include "wf/abi.h"
#include "wf/engine.h"
#include "wf/wasm_check.h"
#include "natives.h"

#define DEFAULT_STACK (16u * 1024u)

static bool running;
/* Registered with WAMR, which keeps (and sorts) this array for the runtime's lifetime. */
static NativeSymbol registered[WF_NATIVES_MAX];

wf_status_t wf_engine_init(uint8_t *pool, size_t pool_len, uint32_t granted,
                           const wf_host_services_t *services)
{
    RuntimeInitArgs args;
    uint32_t n;

    if (pool == NULL || pool_len < 16u * 1024u || services == NULL || running) {
        return WF_BAD_PARAMETER;
    }
    memset(&args, 0, sizeof args);
    args.mem_alloc_type = Alloc_With_Pool; /* WAMR allocates only inside the caller's pool */
    args.mem_alloc_option.pool.heap_buf = pool;
    args.mem_alloc_option.pool.heap_size = (uint32_t)pool_len;
    if (!wasm_runtime_full_init(&args)) { return WF_INTERNAL; }
    wf_natives_bind(services);
    n = wf_natives_select(granted, registered, WF_NATIVES_MAX);
    if (n > 0u && !wasm_runtime_register_natives(WF_ABI_MODULE, registered, n)) {
        wasm_runtime_destroy();
        return WF_INTERNAL;
    }
    running = true;
    return WF_OK;
}

void wf_engine_deinit(void)
{
    if (running) {
        wasm_runtime_destroy();
        running = false;
    }
}

wf_status_t wf_module_load(wf_module_t *m, uint8_t *wasm, size_t len, uint32_t granted,
                           uint32_t stack, uint32_t max_pages, uint32_t budget)
{
    wf_wasm_info_t info;
    wf_status_t st;
    InstantiationArgs ia;

    memset(m, 0, sizeof *m);
    /* step 6 before the engine sees a byte: imports ⊆ granted, exact types, entry exports */
    st = wf_wasm_check(wasm, len, granted, &info);
    if (st != WF_OK) {
        snprintf(m->error, sizeof m->error, "module check: %s", wf_status_name(st));
        return st;
    }
    if (len > UINT32_MAX) { return WF_MODULE_INVALID; }
    m->module = wasm_runtime_load(wasm, (uint32_t)len, m->error, sizeof m->error);
    if (m->module == NULL) { return WF_MODULE_INVALID; }
    memset(&ia, 0, sizeof ia);
    ia.default_stack_size = (stack != 0u) ? stack : DEFAULT_STACK;
    ia.host_managed_heap_size = 0; /* no app heap: modules own their linear memory */
    ia.max_memory_pages = max_pages;
    m->instance = wasm_runtime_instantiate_ex(m->module, &ia, m->error, sizeof m->error);
    if (m->instance == NULL) {
        wasm_runtime_unload(m->module);
        m->module = NULL;
        return (strstr(m->error, "memory") != NULL || strstr(m->error, "alloc") != NULL)
                   ? WF_MODULE_OUT_OF_MEMORY : WF_MODULE_INVALID;
    }
    m->exec_env = wasm_runtime_create_exec_env(m->instance, ia.default_stack_size);
    if (m->exec_env == NULL) {
        wf_module_unload(m);
        return WF_MODULE_OUT_OF_MEMORY;
    }
    m->exports = info.exports;
    m->budget = budget;
    return WF_OK;
}

wf_status_t wf_module_call(wf_module_t *m, const char *name, int32_t *result)
{
    wasm_function_inst_t fn;
    wasm_val_t out[1];
    const char *exc;

    if (m == NULL || m->instance == NULL) { return WF_BAD_PARAMETER; }
    fn = wasm_runtime_lookup_function(m->instance, name);
    if (fn == NULL) { return WF_NOT_FOUND; }
    /* the budget that stops a module looping forever (WAMR instruction metering) */
    wasm_runtime_set_instruction_count_limit(m->exec_env, (int)m->budget);
    memset(out, 0, sizeof out);
    if (wasm_runtime_call_wasm_a(m->exec_env, fn, 1, out, 0, NULL)) {
        *result = out[0].of.i32;
        return WF_OK;
    }
    exc = wasm_runtime_get_exception(m->instance);
    snprintf(m->error, sizeof m->error, "%s", exc != NULL ? exc : "trap");
    wasm_runtime_clear_exception(m->instance);
    if (exc != NULL && strstr(m->error, "instruction limit exceeded") != NULL) {
        return WF_MODULE_TIMEOUT;
    }
    if (strstr(m->error, "out of memory") != NULL) { return WF_MODULE_OUT_OF_MEMORY; }
    return WF_MODULE_TRAP;
}

void wf_module_unload(wf_module_t *m)
{
    if (m->exec_env != NULL) { wasm_runtime_destroy_exec_env(m->exec_env); }
    if (m->instance != NULL) { wasm_runtime_deinstantiate(m->instance); }
    if (m->module != NULL) { wasm_runtime_unload(m->module); }
    m->exec_env = NULL;
    m->instance = NULL;
    m->module = NULL;
}
