/* The POSIX device: platform table (storage first, so storage callbacks can use the same
 * ctx), host services for the natives (kv file, log, telemetry, seeded gpio/sensors). */
#ifndef WF_POSIX_DEVICE_H
#define WF_POSIX_DEVICE_H

#include "storage_posix.h"
#include "wf/agent.h"

struct mosquitto;

typedef struct {
    wf_posix_storage_t storage;  /* must stay first: the storage callbacks cast ctx to it */
    wf_platform_t pf;
    wf_host_services_t services;
    wf_agent_t agent;
    struct mosquitto *mosq;
    char topic_prefix[96];       /* wf/v1/dev/{id}/ */
    uint8_t gpio[64];            /* 0xff = never written */
    int64_t clock_offset_s;      /* a fake clock for tests (--clock-offset-file) */
    const char *clock_offset_file;
} wf_device_t;

void wf_device_bind(wf_device_t *d, const char *device_id, uint32_t slot_size);

/** Re-read the clock offset file, if one was given (tests move the device's clock with it). */
void wf_device_refresh_clock(wf_device_t *d);

#endif
