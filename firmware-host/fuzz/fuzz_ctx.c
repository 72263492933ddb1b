#include "fuzz_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testlib.h"
#include "wf/abi.h"
#include "wf/status.h"

#ifndef WF_VECTORS_DIR_DEFAULT
#define WF_VECTORS_DIR_DEFAULT "../protocol/vectors"
#endif

static wf_fuzz_ctx_t ctx;
static int loaded;
static char device_id[65], component[65], version[33], caps_csv[256];

static uint64_t num(const jval_t *o, const char *key)
{
    const jval_t *v = json_get(o, key);
    return (v != NULL && v->type == J_NUM) ? (uint64_t)v->num : 0u;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap) { fprintf(stderr, "fuzz: bad vector index\n"); abort(); }
    strcpy(dst, src);
}

wf_fuzz_ctx_t *wf_fuzz_ctx(void)
{
    char path[1024];
    const char *dir = getenv("WF_VECTORS_DIR");
    uint8_t *text;
    size_t len, i;
    jval_t *index;
    const jval_t *c, *run, *caps;

    if (loaded) { return &ctx; }
    snprintf(path, sizeof path, "%s/index.json", dir != NULL ? dir : WF_VECTORS_DIR_DEFAULT);
    text = wf_test_read_file(path, &len);
    if (text == NULL) { fprintf(stderr, "fuzz: cannot read %s\n", path); abort(); }
    index = json_parse((const char *)text);
    c = json_get(index, "context");
    run = json_get(c, "running");
    caps = json_get(c, "capabilities");
    if (c == NULL || run == NULL || wf_test_unhex(json_str(index, "root_public_key"), ctx.root_pk, 32) != 32) {
        fprintf(stderr, "fuzz: %s is not a vector index\n", path);
        abort();
    }
    copy_str(device_id, sizeof device_id, json_str(c, "device"));
    copy_str(component, sizeof component, json_str(run, "component"));
    copy_str(version, sizeof version, json_str(run, "version"));
    for (i = 0; caps != NULL && i < caps->n; i++) {
        if (strlen(caps_csv) + strlen(caps->items[i]->str) + 2u > sizeof caps_csv) { abort(); }
        strcat(caps_csv, caps->items[i]->str);
        strcat(caps_csv, ",");
    }
    wf_test_unhex(json_str(run, "manifest"), ctx.running.manifest_digest, 32);
    ctx.running.component = component;
    ctx.running.version = version;
    ctx.device.device_id = device_id;
    ctx.device.root_public_key = ctx.root_pk;
    ctx.device.now = num(c, "now");
    ctx.device.skew = (uint32_t)num(c, "skew");
    ctx.device.capabilities = wf_capabilities_parse(caps_csv);
    ctx.device.memory = num(c, "memory");
    ctx.device.committed_sequence = num(c, "committed_sequence");
    ctx.device.keydoc_serial = num(c, "keydoc_serial");
    ctx.device.running = &ctx.running;
    ctx.device.n_running = 1;
    json_free(index);
    free(text);
    loaded = 1;
    return &ctx;
}

void wf_fuzz_expect_wire_status(int status)
{
    if (status >= (int)WF_HOST_ONLY_) {
        fprintf(stderr, "fuzz: host-internal status %s on hostile input\n", wf_status_name((wf_status_t)status));
        abort();
    }
}
