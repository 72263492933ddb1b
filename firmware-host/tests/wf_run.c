/*
 * wf-run: run one module on the C host's engine (WAMR + the ABI v1 natives) as probation does —
 * load, wf_init, then N ticks (wf_health after each when exported), stopping at the first fault —
 * and print what a user could observe as one JSON object: the host calls in order (telemetry,
 * gpio writes, kv writes, log lines), the fault with its reason code, and the kv store after.
 * The engine parity matrix (test/parity.test.ts) runs every example through it and through the
 * simulator's engines and compares the traces.
 *
 *   wf-run --module m.wasm [--ticks 3] [--max-pages 1] [--budget 10000000] [--seed s]
 *          [--caps clock,config,kv,log,telemetry,gpio,sensor] [--config key=value]... [--kv hexkey=hexvalue]...
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "wasm_export.h"
#include "wf/abi.h"
#include "wf/engine.h"
#include "wf/probation.h"
#include "wf/status.h"

#define MAX_KV 64
#define MAX_CONFIG 16

typedef struct {
    uint8_t key[WF_KV_KEY_MAX];
    size_t klen;
    uint8_t val[WF_KV_VALUE_MAX];
    size_t vlen;
} kv_t;

static kv_t kv[MAX_KV];
static size_t n_kv;
static const char *config_keys[MAX_CONFIG], *config_values[MAX_CONFIG];
static size_t n_config;
static const char *seed = "parity";
static uint8_t gpio[64];
static bool first_event = true;

static void json_string(const char *s, size_t len)
{
    size_t i;
    putchar('"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20u || c >= 0x7fu) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void json_hex(const uint8_t *b, size_t n)
{
    size_t i;
    putchar('"');
    for (i = 0; i < n; i++) { printf("%02x", b[i]); }
    putchar('"');
}

static void event_start(const char *kind)
{
    printf("%s{\"kind\":\"%s\"", first_event ? "" : ",", kind);
    first_event = false;
}

static void s_log(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    event_start("log");
    printf(",\"text\":");
    json_string(line, len);
    putchar('}');
}

static uint64_t s_now(void *ctx)
{
    (void)ctx;
    return 1767225600000ull; /* a fixed clock: traces compare across hosts */
}

static int32_t s_telemetry(void *ctx, const char *name, size_t len, double value)
{
    (void)ctx;
    event_start("telemetry");
    printf(",\"name\":");
    json_string(name, len);
    printf(",\"value\":%.17g}", value);
    return 0;
}

static int32_t s_config_get(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    size_t i, n;
    (void)ctx;
    for (i = 0; i < n_config; i++) {
        if (strlen(config_keys[i]) == klen && memcmp(config_keys[i], key, klen) == 0) {
            n = strlen(config_values[i]);
            if (n <= cap) { memcpy(out, config_values[i], n); }
            return (int32_t)n;
        }
    }
    return -1;
}

static kv_t *kv_find(const char *key, size_t klen)
{
    size_t i;
    for (i = 0; i < n_kv; i++) {
        if (kv[i].klen == klen && memcmp(kv[i].key, key, klen) == 0) { return &kv[i]; }
    }
    return NULL;
}

static int32_t s_kv_get(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    kv_t *e = kv_find(key, klen);
    (void)ctx;
    if (e == NULL) { return -1; }
    if (e->vlen <= cap) { memcpy(out, e->val, e->vlen); }
    return (int32_t)e->vlen;
}

static int32_t s_kv_set(void *ctx, const char *key, size_t klen, const uint8_t *val, size_t vlen)
{
    kv_t *e = kv_find(key, klen);
    (void)ctx;
    if (e == NULL) {
        if (n_kv >= MAX_KV) { return -1; }
        e = &kv[n_kv++];
        memcpy(e->key, key, klen);
        e->klen = klen;
    }
    memcpy(e->val, val, vlen);
    e->vlen = vlen;
    event_start("kv");
    printf(",\"key\":");
    json_hex((const uint8_t *)key, klen);
    printf(",\"value\":");
    json_hex(val, vlen);
    putchar('}');
    return 0;
}

static int32_t s_gpio_read(void *ctx, int32_t pin)
{
    char what[32];
    (void)ctx;
    if (pin >= 0 && pin < 64 && gpio[pin] != 0xffu) { return gpio[pin]; }
    snprintf(what, sizeof what, "gpio:%d", (int)pin);
    return wf_seeded_unit(seed, what) < 0.5 ? 0 : 1;
}

static int32_t s_gpio_write(void *ctx, int32_t pin, int32_t value)
{
    (void)ctx;
    if (pin < 0 || pin >= 64) { return -1; }
    gpio[pin] = value != 0 ? 1u : 0u;
    event_start("gpio");
    printf(",\"pin\":%d,\"value\":%d}", (int)pin, (int)gpio[pin]);
    return 0;
}

static double s_sensor_read(void *ctx, int32_t channel)
{
    char what[32];
    (void)ctx;
    snprintf(what, sizeof what, "sensor:%d", (int)channel);
    return wf_seeded_unit(seed, what);
}

static const wf_host_services_t services = {NULL,       s_log,           s_now,        s_telemetry,
                                            s_config_get, s_kv_get,      s_kv_set,     s_gpio_read,
                                            s_gpio_write, s_sensor_read};

static uint8_t pool[8u * 1024u * 1024u];

static void print_fault(const char *entry, wf_status_t st, const char *detail)
{
    printf("],\"fault\":{\"entry\":\"%s\",\"code\":\"%s\",\"detail\":", entry, wf_status_reason(st));
    json_string(detail, strlen(detail));
    putchar('}');
}

static int usage(void)
{
    fprintf(stderr, "usage: wf-run --module m.wasm [--ticks N] [--max-pages P] [--budget N] [--seed S] "
                    "[--caps csv] [--config k=v]... [--kv hexkey=hexvalue]...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *caps = "clock,config,kv,log,telemetry,gpio,sensor";
    unsigned long ticks = 3, max_pages = 1, budget = 10000000ul;
    uint8_t *wasm;
    size_t len, i;
    uint32_t granted;
    wf_module_t m;
    wf_status_t st;
    int32_t rc = 0;
    char detail[256] = "";
    const char *entry = "load";
    int a;

    for (a = 1; a + 1 < argc; a += 2) {
        const char *k = argv[a], *v = argv[a + 1];
        if (strcmp(k, "--module") == 0) {
            path = v;
        } else if (strcmp(k, "--ticks") == 0) {
            ticks = strtoul(v, NULL, 10);
        } else if (strcmp(k, "--max-pages") == 0) {
            max_pages = strtoul(v, NULL, 10);
        } else if (strcmp(k, "--budget") == 0) {
            budget = strtoul(v, NULL, 10);
        } else if (strcmp(k, "--seed") == 0) {
            seed = v;
        } else if (strcmp(k, "--caps") == 0) {
            caps = v;
        } else if (strcmp(k, "--config") == 0 && strchr(v, '=') != NULL && n_config < MAX_CONFIG) {
            char *eq = strchr(argv[a + 1], '=');
            *eq = '\0';
            config_keys[n_config] = argv[a + 1];
            config_values[n_config++] = eq + 1;
        } else if (strcmp(k, "--kv") == 0 && strchr(v, '=') != NULL && n_kv < MAX_KV) {
            char *eq = strchr(argv[a + 1], '=');
            int kl, vl;
            *eq = '\0';
            kl = wf_test_unhex(argv[a + 1], kv[n_kv].key, sizeof kv[n_kv].key);
            vl = wf_test_unhex(eq + 1, kv[n_kv].val, sizeof kv[n_kv].val);
            if (kl <= 0 || vl < 0) { return usage(); }
            kv[n_kv].klen = (size_t)kl;
            kv[n_kv++].vlen = (size_t)vl;
        } else {
            return usage();
        }
    }
    if (path == NULL || a != argc) { return usage(); }
    wasm = wf_test_read_file(path, &len);
    if (wasm == NULL) {
        fprintf(stderr, "wf-run: cannot read %s\n", path);
        return 2;
    }
    memset(gpio, 0xff, sizeof gpio);
    granted = wf_capabilities_parse(caps);
    if (wf_engine_init(pool, sizeof pool, granted, &services) != WF_OK) {
        fprintf(stderr, "wf-run: the engine did not start\n");
        return 4;
    }
    wasm_runtime_set_log_level(WASM_LOG_LEVEL_FATAL); /* stdout is the trace */
    printf("{\"events\":[");
    st = wf_module_load(&m, wasm, len, granted, 0, (uint32_t)max_pages, (uint32_t)budget);
    if (st != WF_OK) {
        print_fault("load", st, m.error);
    } else {
        entry = "wf_init";
        st = wf_module_call(&m, entry, &rc);
        st = wf_entry_fault(entry, st, rc, m.error, detail, sizeof detail);
        for (i = 0; st == WF_OK && i < ticks; i++) {
            entry = "wf_tick";
            st = wf_module_call(&m, entry, &rc);
            st = wf_entry_fault(entry, st, rc, m.error, detail, sizeof detail);
            if (st == WF_OK && (m.exports & WF_EXPORT_HEALTH) != 0u) {
                entry = "wf_health";
                st = wf_module_call(&m, entry, &rc);
                st = wf_entry_fault(entry, st, rc, m.error, detail, sizeof detail);
            }
        }
        if (st != WF_OK) {
            print_fault(entry, st, detail);
        } else {
            printf("],\"fault\":null");
        }
        wf_module_unload(&m);
    }
    printf(",\"kv\":{");
    for (i = 0; i < n_kv; i++) {
        printf("%s", i == 0 ? "" : ",");
        json_hex(kv[i].key, kv[i].klen);
        putchar(':');
        json_hex(kv[i].val, kv[i].vlen);
    }
    printf("}}\n");
    wf_engine_deinit();
    free(wasm);
    return 0;
}
