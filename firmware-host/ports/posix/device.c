/* POSIX platform glue and host services (protocol.md §6). */
#define _POSIX_C_SOURCE 200809L
#include "device.h"

#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wf/abi.h"
#include "wf/crypto.h"
#include "wf/messages.h"
#include "wf/probation.h"

/* ---- clock, log, publish ---------------------------------------------------------------- */

static uint64_t now_s(void *ctx)
{
    const wf_device_t *d = ctx; /* storage is the first member: ctx is the device */
    return (uint64_t)((int64_t)time(NULL) + d->clock_offset_s);
}

void wf_device_refresh_clock(wf_device_t *d)
{
    FILE *f;
    long long v;
    if (d->clock_offset_file == NULL || d->clock_offset_file[0] == '\0') { return; }
    f = fopen(d->clock_offset_file, "r");
    if (f == NULL) { return; }
    if (fscanf(f, "%lld", &v) == 1) { d->clock_offset_s = (int64_t)v; }
    fclose(f);
}

static uint64_t monotonic_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_line(void *ctx, const char *message)
{
    wf_device_t *d = ctx;
    fprintf(stderr, "[%s] %s\n", d->agent.cfg.device_id != NULL ? d->agent.cfg.device_id : "-", message);
}

static wf_status_t publish(void *ctx, const char *suffix, const uint8_t *payload, size_t len,
                           uint8_t qos, bool retain)
{
    wf_device_t *d = ctx;
    char topic[160];
    if (d->mosq == NULL) { return WF_TRANSPORT_ERROR; }
    snprintf(topic, sizeof topic, "%s%s", d->topic_prefix, suffix);
    return mosquitto_publish(d->mosq, NULL, topic, (int)len, payload, qos, retain) == MOSQ_ERR_SUCCESS
               ? WF_OK : WF_TRANSPORT_ERROR;
}

/* ---- host services ---------------------------------------------------------------------- */

static void svc_log(void *ctx, const char *line, size_t len)
{
    wf_device_t *d = ctx;
    fprintf(stderr, "[%s] module: %.*s\n", d->agent.cfg.device_id, (int)len, line);
}

static uint64_t svc_now_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int32_t svc_telemetry(void *ctx, const char *name, size_t len, double value)
{
    wf_device_t *d = ctx;
    uint8_t buf[WF_TELEMETRY_MAX];
    size_t n;
    if (wf_telemetry_encode(name, len, value, now_s(ctx), buf, sizeof buf, &n) != WF_OK) { return -1; }
    return publish(ctx, "telemetry", buf, n, 0, false) == WF_OK ? 0 : -1;
    (void)d;
}

static int32_t svc_config_get(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    wf_device_t *d = ctx;
    return wf_agent_config_get(&d->agent, key, klen, out, cap);
}

/* kv.bin: entries (u8 key length, key, u16 value length, value), replaced by rename on set.
 * Survives updates and restarts (protocol.md §6). */
typedef struct {
    uint8_t klen;
    uint16_t vlen;
    char key[WF_KV_KEY_MAX];
    uint8_t val[WF_KV_VALUE_MAX];
} kv_entry_t;

static kv_entry_t kv[WF_KV_ENTRIES_MAX];
static size_t kv_n;
static bool kv_loaded;

static void kv_load(wf_device_t *d)
{
    static uint8_t buf[WF_KV_ENTRIES_MAX * (3 + WF_KV_KEY_MAX + WF_KV_VALUE_MAX)];
    size_t len = 0, pos = 0;
    kv_loaded = true;
    kv_n = 0;
    if (wf_posix_read_file(d->storage.dir, "kv.bin", buf, sizeof buf, &len) != WF_OK) { return; }
    while (pos + 3 <= len && kv_n < WF_KV_ENTRIES_MAX) {
        kv_entry_t *e = &kv[kv_n];
        e->klen = buf[pos];
        e->vlen = (uint16_t)(buf[pos + 1] | (buf[pos + 2] << 8));
        pos += 3;
        if (e->klen > WF_KV_KEY_MAX || e->vlen > WF_KV_VALUE_MAX || pos + e->klen + e->vlen > len) { break; }
        memcpy(e->key, buf + pos, e->klen);
        memcpy(e->val, buf + pos + e->klen, e->vlen);
        pos += e->klen + e->vlen;
        kv_n++;
    }
}

static kv_entry_t *kv_find(const char *key, size_t klen)
{
    size_t i;
    for (i = 0; i < kv_n; i++) {
        if (kv[i].klen == klen && memcmp(kv[i].key, key, klen) == 0) { return &kv[i]; }
    }
    return NULL;
}

static int32_t svc_kv_get(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    kv_entry_t *e;
    if (!kv_loaded) { kv_load(ctx); }
    e = kv_find(key, klen);
    if (e == NULL) { return -1; }
    memcpy(out, e->val, e->vlen < cap ? e->vlen : cap);
    return (int32_t)e->vlen;
}

static int32_t svc_kv_set(void *ctx, const char *key, size_t klen, const uint8_t *val, size_t vlen)
{
    wf_device_t *d = ctx;
    static uint8_t buf[WF_KV_ENTRIES_MAX * (3 + WF_KV_KEY_MAX + WF_KV_VALUE_MAX)];
    size_t pos = 0, i;
    kv_entry_t *e;
    if (!kv_loaded) { kv_load(d); }
    e = kv_find(key, klen);
    if (e == NULL) {
        if (kv_n >= WF_KV_ENTRIES_MAX) { return -1; }
        e = &kv[kv_n++];
        e->klen = (uint8_t)klen;
        memcpy(e->key, key, klen);
    }
    e->vlen = (uint16_t)vlen;
    memcpy(e->val, val, vlen);
    for (i = 0; i < kv_n; i++) {
        buf[pos] = kv[i].klen;
        buf[pos + 1] = (uint8_t)kv[i].vlen;
        buf[pos + 2] = (uint8_t)(kv[i].vlen >> 8);
        memcpy(buf + pos + 3, kv[i].key, kv[i].klen);
        memcpy(buf + pos + 3 + kv[i].klen, kv[i].val, kv[i].vlen);
        pos += 3u + kv[i].klen + kv[i].vlen;
    }
    return wf_posix_write_atomic(d->storage.dir, "kv.bin", buf, pos) == WF_OK ? 0 : -1;
}

/* kv.trial.bin: u64 sequence (little-endian) + the kv.bin of before the trial of that sequence. */
static wf_status_t kv_trial(void *ctx, wf_kv_trial_t op, uint64_t sequence)
{
    wf_device_t *d = ctx;
    static uint8_t buf[8 + WF_KV_ENTRIES_MAX * (3 + WF_KV_KEY_MAX + WF_KV_VALUE_MAX)];
    char path[sizeof d->storage.dir + 16];
    size_t len = 0;
    uint64_t seq = 0;
    int i;
    bool have = wf_posix_read_file(d->storage.dir, "kv.trial.bin", buf, sizeof buf, &len) == WF_OK &&
                len >= 8u;

    for (i = 0; have && i < 8; i++) { seq |= (uint64_t)buf[i] << (8 * i); }
    snprintf(path, sizeof path, "%s/kv.trial.bin", d->storage.dir);
    switch (op) {
    case WF_KV_TRIAL_BEGIN:
        if (have && seq == sequence) { return WF_OK; }
        for (i = 0; i < 8; i++) { buf[i] = (uint8_t)(sequence >> (8 * i)); }
        len = 0;
        if (wf_posix_read_file(d->storage.dir, "kv.bin", buf + 8, sizeof buf - 8u, &len) != WF_OK) {
            len = 0; /* no kv yet: the copy is the empty store */
        }
        return wf_posix_write_atomic(d->storage.dir, "kv.trial.bin", buf, 8u + len);
    case WF_KV_TRIAL_UNDO:
        if (!have) { return WF_OK; }
        if (wf_posix_write_atomic(d->storage.dir, "kv.bin", buf + 8, len - 8u) != WF_OK) {
            return WF_STORAGE_ERROR;
        }
        kv_loaded = false; /* read again on the next kv call */
        break;
    case WF_KV_TRIAL_KEEP:
    default:
        break;
    }
    return (remove(path) == 0 || !have) ? WF_OK : WF_STORAGE_ERROR;
}

static int32_t svc_gpio_read(void *ctx, int32_t pin)
{
    wf_device_t *d = ctx;
    char what[32];
    if (pin >= 0 && pin < 64 && d->gpio[pin] != 0xffu) { return d->gpio[pin]; }
    snprintf(what, sizeof what, "gpio:%d", (int)pin);
    return wf_seeded_unit(d->agent.cfg.device_id, what) < 0.5 ? 0 : 1;
}

static int32_t svc_gpio_write(void *ctx, int32_t pin, int32_t value)
{
    wf_device_t *d = ctx;
    if (pin < 0 || pin >= 64) { return -1; }
    d->gpio[pin] = value != 0 ? 1u : 0u;
    return 0;
}

static double svc_sensor_read(void *ctx, int32_t channel)
{
    wf_device_t *d = ctx;
    char what[32];
    snprintf(what, sizeof what, "sensor:%d", (int)channel);
    return wf_seeded_unit(d->agent.cfg.device_id, what);
}

void wf_device_bind(wf_device_t *d, const char *device_id, uint32_t slot_size)
{
    wf_posix_storage_bind(&d->pf, &d->storage, slot_size);
    d->pf.ctx = d; /* == &d->storage */
    d->pf.now_s = now_s;
    d->pf.monotonic_ms = monotonic_ms;
    d->pf.publish = publish;
    d->pf.log = log_line;
    d->pf.kv_trial = kv_trial;
    d->services.ctx = d;
    d->services.log = svc_log;
    d->services.now_ms = svc_now_ms;
    d->services.telemetry = svc_telemetry;
    d->services.config_get = svc_config_get;
    d->services.kv_get = svc_kv_get;
    d->services.kv_set = svc_kv_set;
    d->services.gpio_read = svc_gpio_read;
    d->services.gpio_write = svc_gpio_write;
    d->services.sensor_read = svc_sensor_read;
    memset(d->gpio, 0xff, sizeof d->gpio);
    snprintf(d->topic_prefix, sizeof d->topic_prefix, "wf/v1/dev/%s/", device_id);
}
