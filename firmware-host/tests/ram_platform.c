#include "ram_platform.h"

#include <string.h>

#include "wf/messages.h"

static bool may_write(ram_t *r)
{
    if (r->dead) { return false; }
    if (r->die_at >= 0 && r->writes == r->die_at) {
        r->dead = true;
        return false;
    }
    r->writes++;
    return true;
}

void ram_init(ram_t *r)
{
    memset(r, 0, sizeof *r);
    memset(r->slot, 0xff, sizeof r->slot);
    memset(r->trailer, 0xff, sizeof r->trailer);
    r->now_s = 1767225600u;
    r->mono_ms = 1000u;
    r->die_at = -1;
}

static wf_status_t slot_erase(void *ctx, uint8_t slot)
{
    ram_t *r = ctx;
    if (!may_write(r)) { return WF_STORAGE_ERROR; }
    memset(r->trailer[slot], 0xff, WF_TRAILER_SIZE); /* trailer first, as the POSIX port */
    memset(r->slot[slot], 0xff, RAM_SLOT_SIZE);
    return WF_OK;
}

static wf_status_t slot_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *d, size_t n)
{
    ram_t *r = ctx;
    if (off > RAM_SLOT_SIZE || n > RAM_SLOT_SIZE - off) { return WF_STORAGE_ERROR; }
    if (!may_write(r)) { return WF_STORAGE_ERROR; }
    memcpy(r->slot[slot] + off, d, n);
    return WF_OK;
}

static wf_status_t slot_read(void *ctx, uint8_t slot, uint32_t off, uint8_t *d, size_t n)
{
    ram_t *r = ctx;
    if (off > RAM_SLOT_SIZE || n > RAM_SLOT_SIZE - off) { return WF_STORAGE_ERROR; }
    memcpy(d, r->slot[slot] + off, n);
    return WF_OK;
}

static wf_status_t slot_sync(void *ctx, uint8_t slot)
{
    (void)slot;
    return ((ram_t *)ctx)->dead ? WF_STORAGE_ERROR : WF_OK;
}

static wf_status_t trailer_read(void *ctx, uint8_t slot, uint8_t t[WF_TRAILER_SIZE])
{
    memcpy(t, ((ram_t *)ctx)->trailer[slot], WF_TRAILER_SIZE);
    return WF_OK;
}

static wf_status_t trailer_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *d, size_t n)
{
    ram_t *r = ctx;
    if (off > WF_TRAILER_SIZE || n > WF_TRAILER_SIZE - off) { return WF_BAD_PARAMETER; }
    if (!may_write(r)) { return WF_STORAGE_ERROR; }
    memcpy(r->trailer[slot] + off, d, n);
    return WF_OK;
}

static wf_status_t record_read(void *ctx, wf_record_t *rec)
{
    ram_t *r = ctx;
    if (!r->has_rec) { return WF_NOT_FOUND; }
    *rec = r->rec;
    return WF_OK;
}

static wf_status_t record_write(void *ctx, const wf_record_t *rec)
{
    ram_t *r = ctx;
    if (!may_write(r)) { return WF_STORAGE_ERROR; }
    r->rec = *rec;
    r->has_rec = true;
    return WF_OK;
}

static uint64_t now_s(void *ctx) { return ((ram_t *)ctx)->now_s; }
static uint64_t mono(void *ctx) { return ((ram_t *)ctx)->mono_ms; }

static wf_status_t publish(void *ctx, const char *suffix, const uint8_t *p, size_t n, uint8_t qos,
                           bool retain)
{
    ram_t *r = ctx;
    (void)qos;
    (void)retain;
    if (r->dead) { return WF_TRANSPORT_ERROR; }
    if (strcmp(suffix, "report") == 0 && n <= sizeof r->report) {
        memcpy(r->report, p, n);
        r->report_len = n;
        r->n_reports++;
    } else if (strcmp(suffix, "chunk/get") == 0) {
        wf_chunk_request_t req;
        if (wf_chunk_request_decode(p, n, &req) == WF_OK && r->n_requests < RAM_MAX_REQUESTS) {
            r->requests[r->n_requests++] = req.index;
        }
    } else if (strcmp(suffix, "telemetry") == 0) {
        r->n_telemetry++;
    }
    return WF_OK;
}

static void log_(void *ctx, const char *m)
{
    (void)ctx;
    (void)m;
}

void ram_bind(wf_platform_t *pf, ram_t *r)
{
    memset(pf, 0, sizeof *pf);
    pf->ctx = r;
    pf->slot_size = RAM_SLOT_SIZE;
    pf->slot_erase = slot_erase;
    pf->slot_write = slot_write;
    pf->slot_read = slot_read;
    pf->slot_sync = slot_sync;
    pf->trailer_read = trailer_read;
    pf->trailer_write = trailer_write;
    pf->record_read = record_read;
    pf->record_write = record_write;
    pf->now_s = now_s;
    pf->monotonic_ms = mono;
    pf->publish = publish;
    pf->log = log_;
}
