/*
 * Cortex-M4 test image: the host core, the agent, WAMR and libsodium's verify path linked
 * as a device would ship them, plus a boot self-test:
 *   1. device checks 1-4 on protocol/vectors/bundle-valid.cbor (embedded at build time);
 *   2. WAMR runs ABI v1 modules under the budget: a healthy one, one that loops forever
 *      (stopped: MODULE_TIMEOUT) and one that traps (MODULE_TRAP);
 *   3. the agent starts on the flash slots (boot decision table) and polls.
 * Results go to wf_selftest[] and the console. The transport (an MQTT client on the board's
 * network stack) is the board's: see docs/firmware-host.md §Board ports.
 */
#include <string.h>

#include "board.h"
#include "flash_platform.h"
#include "selftest_data.h"
#include "wf/abi.h"
#include "wf/agent.h"

/* Module memory, reported apart from the host's static RAM: WAMR's pool (module, instance,
 * linear memory, operand stack) and the buffer the classic interpreter runs the image from. */
static uint8_t engine_pool[112u * 1024u] __attribute__((section(".wasm_pool"), aligned(8)));
static uint8_t image_buf[24u * 1024u] __attribute__((section(".wasm_pool"), aligned(8)));

static wf_agent_t agent;
static wf_platform_t platform;
volatile wf_status_t wf_selftest[5];

static void svc_log(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    wf_board_console(line, len);
    wf_board_console("\n", 1);
}

static uint64_t svc_now_ms(void *ctx)
{
    (void)ctx;
    return wf_board_time_us() / 1000u;
}

static int32_t svc_config_get(void *ctx, const char *key, size_t klen, uint8_t *out, size_t cap)
{
    (void)ctx;
    return wf_agent_config_get(&agent, key, klen, out, cap);
}

static const wf_host_services_t services = {
    NULL, svc_log, svc_now_ms, NULL, svc_config_get, NULL, NULL, NULL, NULL, NULL,
};

static wf_status_t check_vector(void)
{
    wf_device_ctx_t ctx;
    wf_running_t running;
    memset(&ctx, 0, sizeof ctx);
    ctx.device_id = "vec-device-1";
    ctx.root_public_key = selftest_root_key;
    ctx.now = 1767225600u;
    ctx.skew = WF_CLOCK_SKEW_S;
    ctx.capabilities = WF_CAP_BASE;
    ctx.memory = 262144u;
    ctx.committed_sequence = 4;
    ctx.keydoc_serial = 1;
    running.component = "blink";
    running.version = "1.0.0";
    memcpy(running.manifest_digest, selftest_running_digest, 32);
    ctx.running = &running;
    ctx.n_running = 1;
    /* the agent's work areas serve the self-test before the agent starts */
    return wf_check_bundle(selftest_bundle, sizeof selftest_bundle, &ctx, agent.scratch,
                           sizeof agent.scratch, &agent.checked);
}

/* wf_init then two wf_tick calls under a 100k-instruction budget; the first failure, if any. */
static wf_status_t run_module(const uint8_t *wasm, size_t len)
{
    wf_module_t m;
    int32_t rc = -1;
    wf_status_t st;
    memcpy(image_buf, wasm, len);
    st = wf_module_load(&m, image_buf, len, WF_CAP_BASE, 4096, 1, 100000);
    if (st != WF_OK) { return st; }
    st = wf_module_call(&m, "wf_init", &rc);
    if (st == WF_OK) { st = wf_module_call(&m, "wf_tick", &rc); }
    if (st == WF_OK) { st = wf_module_call(&m, "wf_tick", &rc); }
    wf_module_unload(&m);
    return st;
}

#ifdef WF_BOARD_QEMU
void wf_board_exit(int code);

static void say(const char *what, wf_status_t st)
{
    wf_board_console(what, strlen(what));
    wf_board_console(": ", 2);
    wf_board_console(wf_status_name(st), strlen(wf_status_name(st)));
    wf_board_console("\n", 1);
}
#endif

int main(void)
{
    wf_agent_config_t cfg;

    wf_selftest[0] = check_vector();
    (void)wf_engine_init(engine_pool, sizeof engine_pool, WF_CAP_BASE, &services);
    wf_selftest[1] = run_module(selftest_ok, sizeof selftest_ok);
    wf_selftest[2] = run_module(selftest_loop, sizeof selftest_loop);
    wf_selftest[3] = run_module(selftest_trap, sizeof selftest_trap);

    memset(&cfg, 0, sizeof cfg);
    cfg.device_id = "board-1";
    memcpy(cfg.root_public_key, selftest_root_key, 32);
    cfg.capabilities = WF_CAP_BASE;
    cfg.memory = 64u * 1024u;
    cfg.max_chunk = 1024;
    cfg.window = 2;
    cfg.budget = 1000000;
    cfg.agent_version = "wasmfleet-board/0.1.0";
    wf_flash_platform_bind(&platform);
    wf_selftest[4] = wf_agent_start(&agent, &platform, &cfg, image_buf, sizeof image_buf);
#ifdef WF_BOARD_QEMU
    say("self-test 1, device checks 1-4 on bundle-valid.cbor (want OK)", wf_selftest[0]);
    say("self-test 2, WAMR runs ok.wat: init + 2 ticks (want OK)", wf_selftest[1]);
    say("self-test 3, WAMR stops loop.wat at its budget (want MODULE_TIMEOUT)", wf_selftest[2]);
    say("self-test 4, WAMR traps trap_tick.wat (want MODULE_TRAP)", wf_selftest[3]);
    say("self-test 5, agent start on the flash slots (want OK)", wf_selftest[4]);
    wf_board_exit(wf_selftest[0] == WF_OK && wf_selftest[1] == WF_OK &&
                          wf_selftest[2] == WF_MODULE_TIMEOUT && wf_selftest[3] == WF_MODULE_TRAP &&
                          wf_selftest[4] == WF_OK ? 0 : 1);
#endif
    for (;;) {
        (void)wf_agent_poll(&agent);
        __asm volatile("wfi");
    }
}
