/*
 * Storage on flash: each slot is image + config, with its trailer in the slot's last sector
 * (write-once cells: a cell is programmed from erased 0xff once, never rewritten). The device
 * record has two copies (A/B) with a counter: a write erases and programs the older copy, so
 * a power cut leaves the other one valid (validation starts from failure: a copy counts only
 * with magic and checksum).
 */
#include "flash_platform.h"

#include <string.h>

#include "board.h"

extern uint8_t __slot0_start[], __slot1_start[], __slot_size[], __record_start[], __record_size[];

#define SLOT_SIZE ((uint32_t)(uintptr_t)__slot_size)
#define TRAILER_OFF (SLOT_SIZE - WF_FLASH_SECTOR)
#define RECORD_COPY ((uint32_t)(uintptr_t)__record_size / 2u)

static uint32_t slot_base(uint8_t slot)
{
    return (uint32_t)(uintptr_t)(slot == 0u ? __slot0_start : __slot1_start);
}

static wf_status_t f_slot_erase(void *ctx, uint8_t slot)
{
    (void)ctx;
    /* trailer sector first: from then on the slot reads EMPTY whatever else survives */
    if (wf_board_flash_erase(slot_base(slot) + TRAILER_OFF, WF_FLASH_SECTOR) != WF_OK) {
        return WF_STORAGE_ERROR;
    }
    return wf_board_flash_erase(slot_base(slot), TRAILER_OFF);
}

static wf_status_t f_slot_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *d, size_t n)
{
    (void)ctx;
    if (off > TRAILER_OFF || n > TRAILER_OFF - off) { return WF_STORAGE_ERROR; }
    return wf_board_flash_program(slot_base(slot) + off, d, (uint32_t)n);
}

static wf_status_t f_slot_read(void *ctx, uint8_t slot, uint32_t off, uint8_t *d, size_t n)
{
    (void)ctx;
    if (off > TRAILER_OFF || n > TRAILER_OFF - off) { return WF_STORAGE_ERROR; }
    memcpy(d, (const void *)(uintptr_t)(slot_base(slot) + off), n);
    return WF_OK;
}

static wf_status_t f_slot_sync(void *ctx, uint8_t slot)
{
    (void)ctx;
    (void)slot;
    return WF_OK; /* flash programming is durable when it returns */
}

static wf_status_t f_trailer_read(void *ctx, uint8_t slot, uint8_t t[WF_TRAILER_SIZE])
{
    (void)ctx;
    memcpy(t, (const void *)(uintptr_t)(slot_base(slot) + TRAILER_OFF), WF_TRAILER_SIZE);
    return WF_OK;
}

static wf_status_t f_trailer_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *d, size_t n)
{
    (void)ctx;
    if (off > WF_TRAILER_SIZE || n > WF_TRAILER_SIZE - off) { return WF_BAD_PARAMETER; }
    return wf_board_flash_program(slot_base(slot) + TRAILER_OFF + off, d, (uint32_t)n);
}

typedef struct {
    uint32_t magic;
    uint32_t counter;
    wf_record_t rec;
    uint32_t check;
} record_copy_t;

#define RECORD_MAGIC 0x63725766u /* "fWrc" */

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) { h = (h ^ p[i]) * 16777619u; }
    return h;
}

static const record_copy_t *copy_at(int i)
{
    return (const record_copy_t *)(uintptr_t)((uint32_t)(uintptr_t)__record_start + (uint32_t)i * RECORD_COPY);
}

static bool copy_valid(const record_copy_t *c)
{
    return c->magic == RECORD_MAGIC &&
           c->check == fnv1a((const uint8_t *)&c->rec, sizeof c->rec) + c->counter;
}

/* Index of the newest valid copy, or -1. */
static int newest(void)
{
    bool v0 = copy_valid(copy_at(0)), v1 = copy_valid(copy_at(1));
    if (v0 && v1) { return copy_at(1)->counter > copy_at(0)->counter ? 1 : 0; }
    return v0 ? 0 : (v1 ? 1 : -1);
}

static wf_status_t f_record_read(void *ctx, wf_record_t *rec)
{
    int i = newest();
    (void)ctx;
    if (i < 0) { return WF_NOT_FOUND; }
    *rec = copy_at(i)->rec;
    return WF_OK;
}

static wf_status_t f_record_write(void *ctx, const wf_record_t *rec)
{
    record_copy_t c;
    int cur = newest();
    int dst = (cur == 0) ? 1 : 0;
    uint32_t addr = (uint32_t)(uintptr_t)__record_start + (uint32_t)dst * RECORD_COPY;
    (void)ctx;
    c.magic = RECORD_MAGIC;
    c.counter = (cur < 0) ? 1u : copy_at(cur)->counter + 1u;
    c.rec = *rec;
    c.check = fnv1a((const uint8_t *)&c.rec, sizeof c.rec) + c.counter;
    if (wf_board_flash_erase(addr, WF_FLASH_SECTOR) != WF_OK) { return WF_STORAGE_ERROR; }
    return wf_board_flash_program(addr, (const uint8_t *)&c, sizeof c);
}

static uint64_t f_now_s(void *ctx)
{
    (void)ctx;
    return 1767225600u + wf_board_time_us() / 1000000u; /* a real board syncs an RTC (SNTP) */
}

static uint64_t f_mono_ms(void *ctx)
{
    (void)ctx;
    return wf_board_time_us() / 1000u;
}

static wf_status_t f_publish(void *ctx, const char *suffix, const uint8_t *p, size_t n, uint8_t qos,
                             bool retain)
{
    (void)ctx;
    return wf_board_publish(suffix, p, n, qos, retain ? 1 : 0);
}

static void f_log(void *ctx, const char *m)
{
    (void)ctx;
    wf_board_console(m, strlen(m));
    wf_board_console("\n", 1);
}

void wf_flash_platform_bind(wf_platform_t *pf)
{
    memset(pf, 0, sizeof *pf);
    pf->slot_size = TRAILER_OFF;
    pf->slot_erase = f_slot_erase;
    pf->slot_write = f_slot_write;
    pf->slot_read = f_slot_read;
    pf->slot_sync = f_slot_sync;
    pf->trailer_read = f_trailer_read;
    pf->trailer_write = f_trailer_write;
    pf->record_read = f_record_read;
    pf->record_write = f_record_write;
    pf->now_s = f_now_s;
    pf->monotonic_ms = f_mono_ms;
    pf->publish = f_publish;
    pf->log = f_log;
}
