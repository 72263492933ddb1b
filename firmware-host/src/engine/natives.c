/*
 * Host ABI v1 natives (protocol.md §6). Each validates the module's pointers against its
 * linear memory and the ABI limits, then calls the port's service. Registered per granted
 * capability only (engine_wamr.c), so a module never reaches a native it was not granted.
 */
#include <string.h>

#include "wasm_export.h"
#include "wf/abi.h"
#include "wf/engine.h"
#include "natives.h"

static const wf_host_services_t *svc;

void wf_natives_bind(const wf_host_services_t *services) { svc = services; }

/* Native address of [off, off+len) in the module's memory, or NULL if it is not all inside. */
static void *span(wasm_exec_env_t env, int32_t off, int32_t len)
{
    wasm_module_inst_t inst = wasm_runtime_get_module_inst(env);
    if (off < 0 || len < 0 || !wasm_runtime_validate_app_addr(inst, (uint64_t)(uint32_t)off,
                                                              (uint64_t)(uint32_t)len)) {
        return NULL;
    }
    return wasm_runtime_addr_app_to_native(inst, (uint64_t)(uint32_t)off);
}

static void n_log(wasm_exec_env_t env, int32_t ptr, int32_t len)
{
    const char *p;
    if (len > (int32_t)WF_LOG_LINE_MAX) { len = (int32_t)WF_LOG_LINE_MAX; } /* lines cut at 256 */
    p = span(env, ptr, len);
    if (p != NULL && svc->log != NULL) { svc->log(svc->ctx, p, (size_t)len); }
}

static int64_t n_now_ms(wasm_exec_env_t env)
{
    (void)env;
    return (svc->now_ms != NULL) ? (int64_t)svc->now_ms(svc->ctx) : 0;
}

static int32_t n_telemetry(wasm_exec_env_t env, int32_t name, int32_t len, double value)
{
    const char *p;
    if (len < 1 || len > 64) { return -1; }
    p = span(env, name, len);
    if (p == NULL || svc->telemetry == NULL) { return -1; }
    return svc->telemetry(svc->ctx, p, (size_t)len, value);
}

typedef int32_t (*get_fn)(void *, const char *, size_t, uint8_t *, size_t);

static int32_t get_common(wasm_exec_env_t env, get_fn fn, int32_t key, int32_t klen, int32_t out,
                          int32_t cap)
{
    const char *k;
    uint8_t *o;
    if (klen < 1 || klen > (int32_t)WF_KV_KEY_MAX || cap < 0 || fn == NULL) { return -1; }
    k = span(env, key, klen);
    o = span(env, out, cap);
    if (k == NULL || (o == NULL && cap > 0)) { return -1; }
    return fn(svc->ctx, k, (size_t)klen, o, (size_t)cap);
}

static int32_t n_config_get(wasm_exec_env_t env, int32_t key, int32_t klen, int32_t out, int32_t cap)
{
    return get_common(env, svc->config_get, key, klen, out, cap);
}

static int32_t n_kv_get(wasm_exec_env_t env, int32_t key, int32_t klen, int32_t out, int32_t cap)
{
    return get_common(env, svc->kv_get, key, klen, out, cap);
}

static int32_t n_kv_set(wasm_exec_env_t env, int32_t key, int32_t klen, int32_t val, int32_t vlen)
{
    const char *k;
    const uint8_t *v;
    if (klen < 1 || klen > (int32_t)WF_KV_KEY_MAX || vlen < 0 || vlen > (int32_t)WF_KV_VALUE_MAX ||
        svc->kv_set == NULL) {
        return -1;
    }
    k = span(env, key, klen);
    v = span(env, val, vlen);
    if (k == NULL || v == NULL) { return -1; }
    return svc->kv_set(svc->ctx, k, (size_t)klen, v, (size_t)vlen);
}

static int32_t n_gpio_read(wasm_exec_env_t env, int32_t pin)
{
    (void)env;
    return (svc->gpio_read != NULL) ? svc->gpio_read(svc->ctx, pin) : -1;
}

static int32_t n_gpio_write(wasm_exec_env_t env, int32_t pin, int32_t value)
{
    (void)env;
    return (svc->gpio_write != NULL) ? svc->gpio_write(svc->ctx, pin, value) : -1;
}

static double n_sensor_read(wasm_exec_env_t env, int32_t channel)
{
    (void)env;
    return (svc->sensor_read != NULL) ? svc->sensor_read(svc->ctx, channel) : 0.0;
}

/* Same order as wf_abi_imports (wf/abi.h): name, function, WAMR signature. */
static NativeSymbol all_natives[] = {
    {"log", (void *)n_log, "(ii)", NULL},
    {"now_ms", (void *)n_now_ms, "()I", NULL},
    {"telemetry", (void *)n_telemetry, "(iiF)i", NULL},
    {"config_get", (void *)n_config_get, "(iiii)i", NULL},
    {"kv_get", (void *)n_kv_get, "(iiii)i", NULL},
    {"kv_set", (void *)n_kv_set, "(iiii)i", NULL},
    {"gpio_read", (void *)n_gpio_read, "(i)i", NULL},
    {"gpio_write", (void *)n_gpio_write, "(ii)i", NULL},
    {"sensor_read", (void *)n_sensor_read, "(i)F", NULL},
};

uint32_t wf_natives_select(uint32_t granted, NativeSymbol *out, uint32_t cap)
{
    uint32_t n = 0;
    size_t i;
    for (i = 0; i < wf_abi_import_count && n < cap; i++) {
        if ((wf_abi_imports[i].capability & granted) != 0u) {
            out[n++] = all_natives[i];
        }
    }
    return n;
}
