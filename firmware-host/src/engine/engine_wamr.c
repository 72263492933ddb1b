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

/* memory.grow past the manifest's page limit stops the module (MODULE_OUT_OF_MEMORY), as on
 * every host: V8 cannot refuse the grow of a memory without a maximum, so the simulator checks
 * after the call; here the refused grow raises a trap the call reports when it returns. */
static void on_grow_refused(uint32_t inc_page_count, uint64_t current_memory_size,
                            uint32_t memory_index, enlarge_memory_error_reason_t reason,
                            wasm_module_inst_t instance, wasm_exec_env_t exec_env, void *user_data)
{
    (void)inc_page_count; (void)current_memory_size; (void)memory_index; (void)exec_env;
    (void)user_data;
    if (reason == MAX_SIZE_REACHED) {
        wasm_runtime_set_exception(instance, "out of memory: memory.grow past the page limit");
    }
}

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
    wasm_runtime_set_enlarge_mem_error_callback(on_grow_refused, NULL);
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
    {
        /* a module whose memory starts past the limit does not load (WAMR would keep the
         * module's own size), as on every host */
        wasm_memory_inst_t mem = wasm_runtime_get_default_memory(m->instance);
        /* in 64 KiB pages: WAMR folds a memory that never grows into one larger "page" */
        uint64_t pages = mem != NULL ? wasm_memory_get_cur_page_count(mem) *
                                           wasm_memory_get_bytes_per_page(mem) / 65536u
                                     : 0u;
        if (pages > max_pages) {
            snprintf(m->error, sizeof m->error, "%u pages > limit %u", (unsigned)pages, (unsigned)max_pages);
            wf_module_unload(m);
            return WF_MODULE_OUT_OF_MEMORY;
        }
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

/* WAMR's trap texts in the words every host reports (protocol/traps.ts TRAP_NAMES): without
 * WAMR's "Exception: " prefix, and its several stack overflows as one. */
static void canonical_trap(char *msg, size_t cap)
{
    static const char *const alias[][2] = {
        {"wasm operand stack overflow", "stack overflow"},
        {"native stack overflow", "stack overflow"},
        {"wasm auxiliary stack overflow", "stack overflow"},
        {"uninitialized element", "indirect call type mismatch"},
    };
    const char *prefix = "Exception: ";
    size_t i, n = strlen(prefix);
    if (strncmp(msg, prefix, n) == 0) { memmove(msg, msg + n, strlen(msg + n) + 1u); }
    for (i = 0; i < sizeof alias / sizeof alias[0]; i++) {
        if (strcmp(msg, alias[i][0]) == 0) { snprintf(msg, cap, "%s", alias[i][1]); }
    }
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
    canonical_trap(m->error, sizeof m->error);
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
