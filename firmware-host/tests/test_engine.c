/*
 * The engine (WAMR) and the agent together, on real modules:
 *  - engine: traps, budget, ungranted / unknown imports, wrong types, missing exports;
 *  - agent: install → probation → commit; self-revert on trap / timeout / health with the
 *    previous module still running; refused bundles, digests and chunks lose nothing;
 *  - kill -9 at every storage write of an install (MCUboot-style): after a restart the device
 *    runs a valid image and, given the directive again, finishes.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_maker.h"
#include "ram_platform.h"
#include "testlib.h"
#include "wasm_modules.h"
#include "wf/abi.h"
#include "wf/agent.h"
#include "wf/cbor_write.h"
#include "wf/crypto.h"
#include "wf/messages.h"
#include "../src/engine/natives.h"

#define DEVICE "dev-1"
#define BUDGET 200000u

static uint8_t pool[4u * 1024u * 1024u];
static unsigned log_calls, init_logs;
static uint8_t kv_val[16];
static int32_t kv_len = -1;

static void s_log(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    log_calls++;
    if (len == 17 && memcmp(line, "hello from ok.wat", 17) == 0) { init_logs++; }
}
static uint64_t s_now(void *ctx) { (void)ctx; return 1767225600000ull; }
static int32_t s_tel(void *ctx, const char *n, size_t l, double v) { (void)ctx; (void)n; (void)l; (void)v; return 0; }
static int32_t s_kv_get(void *ctx, const char *k, size_t kl, uint8_t *o, size_t cap)
{
    (void)ctx; (void)k; (void)kl;
    if (kv_len < 0) { return -1; }
    memcpy(o, kv_val, (size_t)kv_len < cap ? (size_t)kv_len : cap);
    return kv_len;
}
static int32_t s_kv_set(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)ctx; (void)k; (void)kl;
    if (vl > sizeof kv_val) { return -1; }
    memcpy(kv_val, v, vl);
    kv_len = (int32_t)vl;
    return 0;
}

/* kv around a trial (wf_platform_t.kv_trial) for the one-value kv store above */
static uint8_t kv_saved[16];
static int32_t kv_saved_len = -1;
static uint64_t kv_saved_seq;
static wf_status_t kv_trial(void *ctx, wf_kv_trial_t op, uint64_t sequence)
{
    (void)ctx;
    if (op == WF_KV_TRIAL_BEGIN && kv_saved_seq != sequence) {
        memcpy(kv_saved, kv_val, sizeof kv_val);
        kv_saved_len = kv_len;
        kv_saved_seq = sequence;
    } else if (op == WF_KV_TRIAL_UNDO && kv_saved_seq != 0u) {
        memcpy(kv_val, kv_saved, sizeof kv_val);
        kv_len = kv_saved_len;
        kv_saved_seq = 0;
    } else if (op == WF_KV_TRIAL_KEEP) {
        kv_saved_seq = 0;
    }
    return WF_OK;
}

static const wf_host_services_t services = {NULL, s_log, s_now, s_tel, NULL, s_kv_get, s_kv_set,
                                            NULL, NULL, NULL};

/* ---- engine ------------------------------------------------------------------------------ */

static wf_status_t load(wf_module_t *m, const uint8_t *wasm, size_t len, uint8_t *copy)
{
    memcpy(copy, wasm, len);
    return wf_module_load(m, copy, len, WF_CAP_BASE, 0, 1, BUDGET);
}

static void test_engine(void)
{
    static uint8_t buf[4096];
    wf_module_t m;
    int32_t rc = -1;
    NativeSymbol natives[WF_NATIVES_MAX];
    uint32_t n, i;

    /* natives only for granted capabilities */
    n = wf_natives_select(WF_CAP_BASE, natives, WF_NATIVES_MAX);
    CHECK(n == 6);
    for (i = 0; i < n; i++) {
        CHECK(strncmp(natives[i].symbol, "gpio", 4) != 0 && strcmp(natives[i].symbol, "sensor_read") != 0);
    }
    n = wf_natives_select(WF_CAP_LOG, natives, WF_NATIVES_MAX);
    CHECK(n == 1 && strcmp(natives[0].symbol, "log") == 0);

    CHECK_STATUS(load(&m, wasm_ok, sizeof wasm_ok, buf), WF_OK);
    CHECK_STATUS(wf_module_call(&m, "wf_init", &rc), WF_OK);
    CHECK(rc == 0 && init_logs == 1);
    if (init_logs != 1) { fprintf(stderr, "  engine: %s\n", m.error); }
    CHECK_STATUS(wf_module_call(&m, "wf_tick", &rc), WF_OK);
    CHECK(kv_len == 4 && kv_val[0] == 1);
    CHECK_STATUS(wf_module_call(&m, "nope", &rc), WF_NOT_FOUND);
    wf_module_unload(&m);

    CHECK_STATUS(load(&m, wasm_trap_init, sizeof wasm_trap_init, buf), WF_OK);
    CHECK_STATUS(wf_module_call(&m, "wf_init", &rc), WF_MODULE_TRAP);
    wf_module_unload(&m);

    CHECK_STATUS(load(&m, wasm_loop, sizeof wasm_loop, buf), WF_OK);
    CHECK_STATUS(wf_module_call(&m, "wf_tick", &rc), WF_MODULE_TIMEOUT);
    /* the budget applies per call: the module can be called again and is stopped again */
    CHECK_STATUS(wf_module_call(&m, "wf_tick", &rc), WF_MODULE_TIMEOUT);
    CHECK_STATUS(wf_module_call(&m, "wf_init", &rc), WF_OK);
    wf_module_unload(&m);

    CHECK_STATUS(load(&m, wasm_gpio, sizeof wasm_gpio, buf), WF_CAPABILITY_NOT_GRANTED);
    CHECK(m.module == NULL);
    CHECK_STATUS(load(&m, wasm_unknown_import, sizeof wasm_unknown_import, buf), WF_ABI_UNKNOWN_IMPORT);
    CHECK_STATUS(load(&m, wasm_bad_signature, sizeof wasm_bad_signature, buf), WF_ABI_BAD_SIGNATURE);
    CHECK_STATUS(load(&m, wasm_no_tick, sizeof wasm_no_tick, buf), WF_ABI_MISSING_EXPORT);
    CHECK_STATUS(load(&m, wasm_ok, 20, buf), WF_MODULE_INVALID); /* truncated */
    {
        uint8_t junk[16] = {0x00, 'a', 's', 'm', 0x01, 0, 0, 0, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
        CHECK_STATUS(load(&m, junk, sizeof junk, buf), WF_MODULE_INVALID);
    }
}

/* ---- agent ------------------------------------------------------------------------------- */

static uint8_t image_buf[RAM_SLOT_SIZE];
static uint8_t bundle[16384];
static wf_agent_t agent;

static wf_agent_config_t agent_config(void)
{
    wf_agent_config_t c;
    memset(&c, 0, sizeof c);
    c.device_id = DEVICE;
    memcpy(c.root_public_key, bm_root_public_key(), 32);
    c.capabilities = WF_CAP_BASE;
    c.memory = 262144;
    c.max_chunk = 256;
    c.window = 3;
    c.probation_ticks = 3;
    c.budget = BUDGET;
    c.agent_version = "test";
    return c;
}

static wf_report_view_t last_report(const ram_t *r)
{
    wf_report_view_t v;
    memset(&v, 0, sizeof v);
    if (wf_report_decode(r->report, r->report_len, &v) != WF_OK) { v.state = WF_STATE_COUNT_; }
    return v;
}

static bool report_is(const ram_t *r, wf_state_t state, const char *reason)
{
    wf_report_view_t v = last_report(r);
    if (v.state != state) {
        fprintf(stderr, "  report state %s, want %s\n", wf_state_name(v.state), wf_state_name(state));
        return false;
    }
    if (reason != NULL && !wf_slice_eq(v.reason, reason)) {
        fprintf(stderr, "  report reason %.*s, want %s\n", (int)v.reason.len, (const char *)v.reason.ptr, reason);
        return false;
    }
    return true;
}

/* Answer the agent's chunk requests from `image` until it asks for nothing more. */
static void serve(ram_t *r, const uint8_t *image, size_t len)
{
    uint8_t sha[32], msg[512];
    wf_sha256(image, len, sha);
    while (r->next_request < r->n_requests && !r->dead) {
        uint32_t index = r->requests[r->next_request++];
        size_t off = (size_t)index * 256u, n = len - off > 256u ? 256u : len - off;
        wf_writer_t w;
        size_t mlen;
        if (off >= len) { continue; }
        wf_w_init(&w, msg, sizeof msg);
        wf_w_map(&w, 3);
        wf_w_uint(&w, 1); wf_w_bytes(&w, sha, 32);
        wf_w_uint(&w, 2); wf_w_uint(&w, index);
        wf_w_uint(&w, 3); wf_w_bytes(&w, image + off, n);
        wf_w_finish(&w, &mlen);
        wf_agent_on_chunk(&agent, msg, mlen);
    }
}

/* Let `ticks` module ticks happen. */
static void run_ticks(ram_t *r, unsigned ticks)
{
    unsigned i;
    for (i = 0; i < ticks; i++) {
        r->mono_ms += 1000;
        (void)wf_agent_poll(&agent);
    }
}

static size_t make(uint64_t seq, const uint8_t *wasm, size_t len, const char *version)
{
    bundle_spec_t s;
    memset(&s, 0, sizeof s);
    s.device = DEVICE;
    s.sequence = seq;
    s.now = 1767225600u;
    s.component = "app";
    s.version = version;
    s.image = wasm;
    s.image_len = len;
    s.capabilities[0] = NULL;
    s.max_pages = 1;
    s.tick_ms = 100;
    return bm_make_bundle(&s, bundle, sizeof bundle);
}

/* The long image used for installs: ok.wat padded with a custom section to span chunks. */
static uint8_t big[3000];
static size_t big_len;

static void make_big(void)
{
    size_t pad = sizeof big - sizeof wasm_ok - 4u;
    memcpy(big, wasm_ok, sizeof wasm_ok);
    big_len = sizeof wasm_ok;
    big[big_len++] = 0x00;                          /* custom section */
    big[big_len++] = (uint8_t)(0x80u | (pad & 0x7fu));
    big[big_len++] = (uint8_t)(pad >> 7);
    big[big_len++] = 0x03;                          /* name length 3 */
    memcpy(big + big_len, "pad", 3);
    memset(big + big_len + 3, 0xee, pad - 4u);
    big_len += pad - 1u;
}

static void install(ram_t *r, uint64_t seq, const uint8_t *wasm, size_t len, const char *version)
{
    size_t n = make(seq, wasm, len, version);
    wf_agent_on_directive(&agent, bundle, n);
    serve(r, wasm, len);
    run_ticks(r, 4);
}

static void test_agent(void)
{
    static ram_t r;
    wf_platform_t pf;
    wf_agent_config_t c = agent_config();
    size_t n;
    unsigned inits_before;

    ram_init(&r);
    ram_bind(&pf, &r);
    CHECK_STATUS(wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf), WF_OK);
    wf_agent_on_connect(&agent);
    CHECK(report_is(&r, WF_STATE_IDLE, NULL));

    /* install ok (3000 bytes = 12 chunks of 256, window 3) → committed; the device paces
     * itself: never more than `window` requests in flight */
    n = make(5, big, big_len, "1.0.0");
    wf_agent_on_directive(&agent, bundle, n);
    CHECK(r.n_requests == 3 && report_is(&r, WF_STATE_DOWNLOADING, NULL));
    serve(&r, big, big_len);
    run_ticks(&r, 4);
    CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
    CHECK(last_report(&r).sequence == 5 && last_report(&r).n_running == 1);
    CHECK(r.n_requests == 12);
    CHECK(wf_trailer_state(r.trailer[0]) == WF_SLOT_CONFIRMED);
    CHECK(agent.module.instance != NULL && kv_len == 4);

    /* trap in wf_init → rolled_back(MODULE_TRAP); the ok module runs again */
    install(&r, 6, wasm_trap_init, sizeof wasm_trap_init, "1.1.0");
    CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_TRAP"));
    CHECK(last_report(&r).sequence == 5);
    CHECK(wf_trailer_state(r.trailer[1]) == WF_SLOT_EMPTY && agent.active == 0);
    CHECK(agent.module.instance != NULL);
    kv_len = -1;
    run_ticks(&r, 1);
    CHECK(kv_len == 4); /* the ok module ticks */

    /* a trial that writes kv and then fails: its kv writes are undone with it */
    pf.kv_trial = kv_trial;
    {
        uint32_t before, after;
        memcpy(&before, kv_val, 4);
        install(&r, 20, wasm_kv_then_trap, sizeof wasm_kv_then_trap, "1.1.1");
        CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_TRAP"));
        memcpy(&after, kv_val, 4);
        /* the previous module counts on from its own count, not from the trial's 1000 */
        CHECK(kv_len == 4 && after >= before && after < 1000u);
    }
    pf.kv_trial = NULL;

    /* runs past its budget in probation → rolled_back(MODULE_TIMEOUT) */
    install(&r, 7, wasm_loop, sizeof wasm_loop, "1.2.0");
    CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_TIMEOUT"));
    /* unhealthy → rolled_back(MODULE_HEALTH); wf_init returning 5 → MODULE_INIT_FAILED;
     * trap in wf_tick → MODULE_TRAP */
    install(&r, 8, wasm_unhealthy, sizeof wasm_unhealthy, "1.2.1");
    CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_HEALTH"));
    install(&r, 9, wasm_init_fail, sizeof wasm_init_fail, "1.2.2");
    CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_INIT_FAILED"));
    install(&r, 10, wasm_trap_tick, sizeof wasm_trap_tick, "1.2.3");
    CHECK(report_is(&r, WF_STATE_ROLLED_BACK, "MODULE_TRAP"));

    /* a module whose manifest hides its gpio import: refused at step 6 without touching the
     * running module (wf_init is not called again) */
    inits_before = init_logs;
    install(&r, 11, wasm_gpio, sizeof wasm_gpio, "1.3.0");
    CHECK(report_is(&r, WF_STATE_FAILED, "CAPABILITY_NOT_GRANTED"));
    CHECK(init_logs == inits_before && agent.module.instance != NULL);

    /* refused bundles: truncated, oversized, replayed; nothing changes */
    n = make(12, wasm_ok, sizeof wasm_ok, "1.4.0");
    wf_agent_on_directive(&agent, bundle, n - 5);
    CHECK(report_is(&r, WF_STATE_FAILED, "CBOR_MALFORMED"));
    {
        static uint8_t huge[WF_BUNDLE_MAX + 1];
        memset(huge, 0xa0, sizeof huge);
        wf_agent_on_directive(&agent, huge, sizeof huge);
        CHECK(report_is(&r, WF_STATE_FAILED, "CBOR_TOO_LARGE"));
    }
    n = make(4, wasm_ok, sizeof wasm_ok, "1.4.0");
    wf_agent_on_directive(&agent, bundle, n);
    CHECK(report_is(&r, WF_STATE_FAILED, "DIRECTIVE_REPLAY"));
    CHECK(agent.module.instance != NULL && agent.active == 0);

    /* digest mismatch: the image served differs from the signed digest */
    {
        bundle_spec_t s;
        uint8_t wrong[32];
        memset(&s, 0, sizeof s);
        memset(wrong, 0x42, sizeof wrong);
        s.device = DEVICE; s.sequence = 13; s.now = 1767225600u; s.component = "app";
        s.version = "1.5.0"; s.image = big; s.image_len = big_len; s.image_sha256 = wrong;
        s.max_pages = 1; s.tick_ms = 100;
        n = bm_make_bundle(&s, bundle, sizeof bundle);
        wf_agent_on_directive(&agent, bundle, n);
        CHECK(report_is(&r, WF_STATE_DOWNLOADING, NULL));
        /* serve the real bytes under the wrong digest name */
        {
            uint8_t msg[512];
            uint32_t i;
            for (i = 0; i < 12; i++) {
                wf_writer_t w;
                size_t mlen, off = i * 256u, len = big_len - off > 256u ? 256u : big_len - off;
                wf_w_init(&w, msg, sizeof msg);
                wf_w_map(&w, 3);
                wf_w_uint(&w, 1); wf_w_bytes(&w, wrong, 32);
                wf_w_uint(&w, 2); wf_w_uint(&w, i);
                wf_w_uint(&w, 3); wf_w_bytes(&w, big + off, len);
                wf_w_finish(&w, &mlen);
                if (i == 2) {
                    /* bad chunks are ignored, the download goes on: wrong length, beyond the
                     * signed size, truncated message, another digest */
                    wf_agent_on_chunk(&agent, msg, mlen - 10);
                    msg[mlen - len - 1] = 0x7f; /* not a valid shape any more */
                    wf_agent_on_chunk(&agent, msg, mlen);
                    CHECK(report_is(&r, WF_STATE_DOWNLOADING, NULL));
                    wf_w_init(&w, msg, sizeof msg);
                    wf_w_map(&w, 3);
                    wf_w_uint(&w, 1); wf_w_bytes(&w, wrong, 32);
                    wf_w_uint(&w, 2); wf_w_uint(&w, 40);
                    wf_w_uint(&w, 3); wf_w_bytes(&w, big, 256);
                    wf_w_finish(&w, &mlen);
                    wf_agent_on_chunk(&agent, msg, mlen);
                    CHECK(agent.next_index == 2);
                    wf_w_init(&w, msg, sizeof msg);
                    wf_w_map(&w, 3);
                    wf_w_uint(&w, 1); wf_w_bytes(&w, wrong, 32);
                    wf_w_uint(&w, 2); wf_w_uint(&w, i);
                    wf_w_uint(&w, 3); wf_w_bytes(&w, big + off, len);
                    wf_w_finish(&w, &mlen);
                }
                wf_agent_on_chunk(&agent, msg, mlen);
            }
        }
        CHECK(report_is(&r, WF_STATE_FAILED, "IMAGE_DIGEST_MISMATCH"));
        CHECK(wf_trailer_state(r.trailer[1]) == WF_SLOT_EMPTY);
    }

    /* a newer good release still installs after all that, into the other slot */
    install(&r, 14, big, big_len, "2.0.0");
    CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
    CHECK(agent.active == 1 && wf_trailer_state(r.trailer[1]) == WF_SLOT_CONFIRMED);
    CHECK(last_report(&r).sequence == 14);

    /* restart: the device comes back on slot 1 at sequence 14 */
    wf_agent_stop(&agent);
    CHECK_STATUS(wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf), WF_OK);
    wf_agent_on_connect(&agent);
    CHECK(agent.active == 1 && agent.module.instance != NULL);
    CHECK(report_is(&r, WF_STATE_COMMITTED, NULL) && last_report(&r).sequence == 14);
    /* the retained directive delivered again on reconnect changes nothing */
    n = make(14, big, big_len, "2.0.0");
    wf_agent_on_directive(&agent, bundle, n);
    CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
    /* config from the directive reaches config_get of the module that runs */
    {
        bundle_spec_t sp;
        uint8_t val[16];
        memset(&sp, 0, sizeof sp);
        sp.device = DEVICE; sp.sequence = 16; sp.now = 1767225600u; sp.component = "app";
        sp.version = "2.1.0"; sp.image = wasm_ok; sp.image_len = sizeof wasm_ok;
        sp.max_pages = 1; sp.tick_ms = 100; sp.config_key = "mode"; sp.config_value = "eco";
        n = bm_make_bundle(&sp, bundle, sizeof bundle);
        wf_agent_on_directive(&agent, bundle, n);
        serve(&r, wasm_ok, sizeof wasm_ok);
        run_ticks(&r, 4);
        CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
        CHECK(wf_agent_config_get(&agent, "mode", 4, val, sizeof val) == 3 && memcmp(val, "eco", 3) == 0);
        CHECK(wf_agent_config_get(&agent, "other", 5, val, sizeof val) == -1);
        /* and it survives a restart (stored after the image in the slot) */
        wf_agent_stop(&agent);
        CHECK_STATUS(wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf), WF_OK);
        wf_agent_on_connect(&agent);
        CHECK(wf_agent_config_get(&agent, "mode", 4, val, sizeof val) == 3);
    }
    /* a directive naming what runs (release and config) commits its sequence without a download */
    {
        bundle_spec_t sp;
        uint8_t val[16];
        memset(&sp, 0, sizeof sp);
        sp.device = DEVICE; sp.sequence = 17; sp.now = 1767225600u; sp.component = "app";
        sp.version = "2.1.0"; sp.image = wasm_ok; sp.image_len = sizeof wasm_ok;
        sp.max_pages = 1; sp.tick_ms = 100; sp.config_key = "mode"; sp.config_value = "eco";
        n = bm_make_bundle(&sp, bundle, sizeof bundle);
        r.n_requests = r.next_request = 0;
        wf_agent_on_directive(&agent, bundle, n);
        CHECK(report_is(&r, WF_STATE_COMMITTED, NULL) && last_report(&r).sequence == 17);
        CHECK(r.n_requests == 0);
        /* the same release with another config is an update: applied under probation */
        sp.sequence = 18;
        sp.config_value = "max";
        n = bm_make_bundle(&sp, bundle, sizeof bundle);
        wf_agent_on_directive(&agent, bundle, n);
        serve(&r, wasm_ok, sizeof wasm_ok);
        run_ticks(&r, 4);
        CHECK(report_is(&r, WF_STATE_COMMITTED, NULL) && last_report(&r).sequence == 18);
        CHECK(wf_agent_config_get(&agent, "mode", 4, val, sizeof val) == 3 && memcmp(val, "max", 3) == 0);
    }
    wf_agent_stop(&agent);
}

/* Kill the device at storage write k of an install (k = 0, 1, 2, ...), restart it from what
 * the storage holds, check it runs a valid image, deliver the directive again, and check it
 * finishes: committed on the new image. MCUboot's "interrupt at every write" test. */
static void test_kill_every_write(void)
{
    static ram_t r, base;
    wf_platform_t pf;
    wf_agent_config_t c = agent_config();
    long k, total = -1;
    size_t n;

    /* a committed baseline: the ok module in slot 0 at sequence 5 */
    ram_init(&base);
    ram_bind(&pf, &base);
    wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf);
    wf_agent_on_connect(&agent);
    install(&base, 5, wasm_ok, sizeof wasm_ok, "1.0.0");
    CHECK(report_is(&base, WF_STATE_COMMITTED, NULL));
    wf_agent_stop(&agent);

    for (k = 0; total < 0 || k <= total; k++) {
        uint8_t sha[32];
        int before = wf_test_failed;
        r = base;
        r.writes = 0;
        r.die_at = k;
        r.n_requests = r.next_request = 0;
        ram_bind(&pf, &r);
        wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf);
        wf_agent_on_connect(&agent);
        n = make(6, big, big_len, "2.0.0");
        wf_agent_on_directive(&agent, bundle, n);
        serve(&r, big, big_len);
        run_ticks(&r, 4);
        wf_agent_stop(&agent);
        if (!r.dead) { /* the install needed fewer than k writes: all points covered */
            total = r.writes;
            CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
            break;
        }
        /* restart after the "kill" */
        r.dead = false;
        r.die_at = -1;
        r.n_requests = r.next_request = 0;
        wf_agent_start(&agent, &pf, &c, image_buf, sizeof image_buf);
        wf_agent_on_connect(&agent);
        /* a valid slot runs: its bytes hash to its recorded digest */
        CHECK(agent.active >= 0);
        if (agent.active >= 0) {
            wf_sha256(r.slot[agent.active], agent.active_info.image_size, sha);
            CHECK(memcmp(sha, agent.active_info.image_sha256, 32) == 0);
        }
        CHECK(agent.module.instance != NULL);
        /* it finishes: given the directive again, it ends committed at sequence 6 */
        wf_agent_on_directive(&agent, bundle, n);
        serve(&r, big, big_len);
        run_ticks(&r, 4);
        CHECK(report_is(&r, WF_STATE_COMMITTED, NULL));
        CHECK(last_report(&r).sequence == 6);
        wf_agent_stop(&agent);
        if (wf_test_failed != before) { fprintf(stderr, "  (killed at write %ld)\n", k); }
    }
    printf("kill -9 at each of %ld storage writes of an install: restart ok\n", total);
    CHECK(total > 20);
}

int main(void)
{
    bm_keys_init();
    make_big();
    CHECK_STATUS(wf_engine_init(pool, sizeof pool, WF_CAP_BASE, &services), WF_OK);
    test_engine();
    test_agent();
    test_kill_every_write();
    wf_engine_deinit();
    return wf_test_finish("test_engine");
}
