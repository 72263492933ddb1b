/*
 * wasmfleet-device: the C host on WAMR for POSIX. Speaks docs/protocol.md over MQTT
 * (libmosquitto), verifies with libsodium, keeps slots as files in --state-dir.
 * SIGTERM / SIGINT: clean exit (online=false published, module stopped). A kill -9 at any
 * point leaves a valid slot: see docs/firmware-host.md §Crash safety.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "transport_mosquitto.h"
#include "wf/abi.h"

#define AGENT_VERSION "wasmfleet-device/0.1.0"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int unhex32(const char *hex, uint8_t out[32])
{
    int i;
    for (i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) { return -1; }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static wf_device_t device;

int main(int argc, char **argv)
{
    wf_posix_config_t cfg;
    wf_agent_config_t ac;
    struct sigaction sa;
    uint8_t *pool, *image;
    size_t pool_len;
    int exit_code;

    if (wf_posix_config_parse(&cfg, argc, argv, &exit_code) != 0) { return exit_code; }
    memset(&ac, 0, sizeof ac);
    ac.device_id = cfg.device_id;
    if (unhex32(cfg.root_key_hex, ac.root_public_key) != 0) {
        fprintf(stderr, "--root-key: not 64 hex digits\n");
        return 2;
    }
    ac.capabilities = wf_capabilities_parse(cfg.capabilities);
    if ((ac.capabilities & WF_CAP_UNKNOWN) != 0u) {
        fprintf(stderr, "--capabilities: unknown name in \"%s\"\n", cfg.capabilities);
        return 2;
    }
    ac.memory = cfg.memory;
    ac.max_chunk = cfg.max_chunk;
    ac.window = cfg.window;
    ac.budget = cfg.budget;
    ac.probation_ticks = cfg.probation_ticks;
    ac.agent_version = AGENT_VERSION;
    ac.freshness_grace_s = cfg.freshness_grace;

    if (wf_posix_storage_init(&device.storage, cfg.state_dir) != WF_OK) {
        fprintf(stderr, "cannot use state directory %s\n", cfg.state_dir);
        return 1;
    }
    wf_device_bind(&device, cfg.device_id, cfg.slot_size);
    device.clock_offset_file = cfg.clock_offset_file;
    wf_device_refresh_clock(&device);

    /* the two allocations of the process, made once: WAMR's pool and the image buffer */
    pool_len = (size_t)cfg.memory + 2u * 1024u * 1024u;
    pool = malloc(pool_len);
    image = malloc(cfg.slot_size);
    if (pool == NULL || image == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (wf_engine_init(pool, pool_len, ac.capabilities, &device.services) != WF_OK) {
        fprintf(stderr, "WAMR did not start\n");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (wf_agent_start(&device.agent, &device.pf, &ac, image, cfg.slot_size) != WF_OK) {
        fprintf(stderr, "cannot read the slots in %s\n", cfg.state_dir);
        return 1;
    }
    if (wf_mqtt_open(&device, &cfg) != WF_OK) {
        fprintf(stderr, "mqtt client setup failed\n");
        return 1;
    }
    fprintf(stderr, "[%s] running (%s, state %s)\n", cfg.device_id, AGENT_VERSION, cfg.state_dir);
    while (!stop_requested) {
        uint32_t wait;
        wf_device_refresh_clock(&device);
        wait = wf_agent_poll(&device.agent);
        if (device.agent.want_directive && device.agent.state != WF_STATE_PROBATION) {
            device.agent.want_directive = false;
            wf_mqtt_reread_directive(&device);
        }
        wf_mqtt_run(&device, (int)(wait > 200u ? 200u : wait));
    }
    fprintf(stderr, "[%s] stopping\n", cfg.device_id);
    wf_mqtt_close(&device);
    wf_agent_stop(&device.agent);
    wf_engine_deinit();
    free(image);
    free(pool);
    return 0;
}
