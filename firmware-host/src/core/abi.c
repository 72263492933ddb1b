/* Host ABI v1 table (protocol.md §6; protocol/abi.ts is the TypeScript twin). */
#include "wf/abi.h"

#include <string.h>

/* wasm_type: parameter letters, '>', result letters; i = i32, I = i64, F = f64. */
const wf_abi_import_t wf_abi_imports[] = {
    {"log", "(ii)", "ii>", WF_CAP_LOG, 1},
    {"now_ms", "()I", ">I", WF_CAP_CLOCK, 0},
    {"telemetry", "(iiF)i", "iiF>i", WF_CAP_TELEMETRY, 1},
    {"config_get", "(iiii)i", "iiii>i", WF_CAP_CONFIG, 1},
    {"kv_get", "(iiii)i", "iiii>i", WF_CAP_KV, 1},
    {"kv_set", "(iiii)i", "iiii>i", WF_CAP_KV, 1},
    {"gpio_read", "(i)i", "i>i", WF_CAP_GPIO, 0},
    {"gpio_write", "(ii)i", "ii>i", WF_CAP_GPIO, 0},
    {"sensor_read", "(i)F", "i>F", WF_CAP_SENSOR, 0},
};
const size_t wf_abi_import_count = sizeof wf_abi_imports / sizeof wf_abi_imports[0];

static const struct {
    const char *name;
    uint32_t bit;
} caps[] = {
    {"clock", WF_CAP_CLOCK}, {"config", WF_CAP_CONFIG}, {"gpio", WF_CAP_GPIO},
    {"kv", WF_CAP_KV},       {"log", WF_CAP_LOG},       {"sensor", WF_CAP_SENSOR},
    {"telemetry", WF_CAP_TELEMETRY},
};

uint32_t wf_capability_bit(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        if (strlen(caps[i].name) == len && memcmp(caps[i].name, name, len) == 0) {
            return caps[i].bit;
        }
    }
    return WF_CAP_UNKNOWN;
}

const char *wf_capability_name(uint32_t bit)
{
    size_t i;
    for (i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        if (caps[i].bit == bit) { return caps[i].name; }
    }
    return NULL;
}

uint32_t wf_capabilities_parse(const char *csv)
{
    uint32_t bits = 0;
    while (csv != NULL && *csv != '\0') {
        const char *end = strchr(csv, ',');
        size_t n = (end != NULL) ? (size_t)(end - csv) : strlen(csv);
        if (n > 0u) { bits |= wf_capability_bit(csv, n); }
        csv = (end != NULL) ? end + 1 : NULL;
    }
    return bits;
}

const wf_abi_import_t *wf_abi_find(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < wf_abi_import_count; i++) {
        if (strlen(wf_abi_imports[i].name) == len && memcmp(wf_abi_imports[i].name, name, len) == 0) {
            return &wf_abi_imports[i];
        }
    }
    return NULL;
}
