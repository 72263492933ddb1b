/* Slot trailer accessors, the boot decision table, and the POSIX storage contract. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage_posix.h"
#include "testlib.h"
#include "wf/slot.h"

static void test_accessors(void)
{
    uint8_t t[WF_TRAILER_SIZE];
    wf_slot_info_t in, out;
    wf_trailer_erase(t);
    CHECK(wf_trailer_state(t) == WF_SLOT_EMPTY);
    CHECK(!wf_trailer_get_magic(t));
    CHECK(wf_trailer_get_info(t, &out) == WF_NOT_FOUND);

    memset(&in, 0, sizeof in);
    in.sequence = 0x100000005ull;
    in.image_size = 29;
    memset(in.image_sha256, 0xab, 32);
    memset(in.manifest_digest, 0xcd, 32);
    in.max_pages = 1;
    in.tick_ms = 100;
    in.exports = 3;
    in.config_len = 300;
    strcpy(in.component, "blink");
    strcpy(in.version, "1.2.3-rc.1");
    wf_trailer_set_info(t, &in);
    CHECK(wf_trailer_state(t) == WF_SLOT_EMPTY); /* info without magic is not an image */
    CHECK_STATUS(wf_trailer_get_info(t, &out), WF_OK);
    CHECK(out.sequence == in.sequence && out.image_size == 29 && out.config_len == 300);
    CHECK(strcmp(out.component, "blink") == 0 && strcmp(out.version, "1.2.3-rc.1") == 0);
    CHECK(memcmp(out.image_sha256, in.image_sha256, 32) == 0);

    wf_trailer_set_magic(t);
    CHECK(wf_trailer_state(t) == WF_SLOT_READY);
    wf_trailer_set_flag(t, WF_TRAILER_PENDING_OFF);
    CHECK(wf_trailer_state(t) == WF_SLOT_PENDING);
    wf_trailer_set_flag(t, WF_TRAILER_TRIAL_OFF);
    CHECK(wf_trailer_state(t) == WF_SLOT_TRIAL && wf_trailer_trials_used(t) == 1);
    wf_trailer_set_flag(t, WF_TRAILER_TRIAL_OFF + 8);
    wf_trailer_set_flag(t, WF_TRAILER_TRIAL_OFF + 16);
    CHECK(wf_trailer_state(t) == WF_SLOT_EXHAUSTED);
    wf_trailer_set_flag(t, WF_TRAILER_CONFIRMED_OFF);
    CHECK(wf_trailer_state(t) == WF_SLOT_CONFIRMED);

    /* a torn info cell reads as no image at all (validation starts from failure) */
    t[WF_TRAILER_INFO_OFF + 3] ^= 0x40;
    CHECK(wf_trailer_state(t) == WF_SLOT_EMPTY);
    /* a flag cell holding anything but 0x01 is not set */
    wf_trailer_erase(t);
    t[WF_TRAILER_PENDING_OFF] = 0x00;
    CHECK(!wf_trailer_get_flag(t, WF_TRAILER_PENDING_OFF));
}

static void test_decision_table(void)
{
    wf_boot_decision_t d;
    /* row 1: exhausted trial → revert, run the confirmed other */
    d = wf_boot_decide(WF_SLOT_CONFIRMED, 4, WF_SLOT_EXHAUSTED, 5);
    CHECK(d.action == WF_BOOT_REVERT && d.other == 1 && d.run_slot == 0);
    d = wf_boot_decide(WF_SLOT_EXHAUSTED, 1, WF_SLOT_EMPTY, 0);
    CHECK(d.action == WF_BOOT_REVERT && d.other == 0 && d.run_slot == -1);
    /* row 1 wins over row 2 */
    d = wf_boot_decide(WF_SLOT_EXHAUSTED, 5, WF_SLOT_PENDING, 6);
    CHECK(d.action == WF_BOOT_REVERT && d.other == 0);
    /* row 2: pending or a trial with attempts left → (re)try it, other is the fallback */
    d = wf_boot_decide(WF_SLOT_CONFIRMED, 4, WF_SLOT_PENDING, 5);
    CHECK(d.action == WF_BOOT_TRIAL && d.run_slot == 1 && d.other == 0);
    d = wf_boot_decide(WF_SLOT_TRIAL, 5, WF_SLOT_CONFIRMED, 4);
    CHECK(d.action == WF_BOOT_TRIAL && d.run_slot == 0 && d.other == 1);
    d = wf_boot_decide(WF_SLOT_TRIAL, 5, WF_SLOT_EMPTY, 0);
    CHECK(d.action == WF_BOOT_TRIAL && d.run_slot == 0 && d.other == -1);
    /* row 3: both confirmed → the higher sequence */
    d = wf_boot_decide(WF_SLOT_CONFIRMED, 4, WF_SLOT_CONFIRMED, 9);
    CHECK(d.action == WF_BOOT_RUN && d.run_slot == 1);
    d = wf_boot_decide(WF_SLOT_CONFIRMED, 9, WF_SLOT_CONFIRMED, 4);
    CHECK(d.action == WF_BOOT_RUN && d.run_slot == 0);
    /* row 4: one confirmed (the other empty or a leftover READY download) */
    d = wf_boot_decide(WF_SLOT_READY, 9, WF_SLOT_CONFIRMED, 4);
    CHECK(d.action == WF_BOOT_RUN && d.run_slot == 1);
    /* row 5: nothing */
    d = wf_boot_decide(WF_SLOT_EMPTY, 0, WF_SLOT_READY, 3);
    CHECK(d.action == WF_BOOT_NONE && d.run_slot == -1);
}

static void test_posix_storage(void)
{
    char dir[] = "/tmp/wf-slot-XXXXXX";
    wf_posix_storage_t s;
    wf_platform_t pf;
    uint8_t t[WF_TRAILER_SIZE], data[16], back[16];
    wf_record_t rec, rec2;
    CHECK(mkdtemp(dir) != NULL);
    CHECK_STATUS(wf_posix_storage_init(&s, dir), WF_OK);
    memset(&pf, 0, sizeof pf);
    wf_posix_storage_bind(&pf, &s, 4096);
    /* never written: erased trailer, no record */
    CHECK_STATUS(pf.trailer_read(pf.ctx, 0, t), WF_OK);
    CHECK(wf_trailer_state(t) == WF_SLOT_EMPTY && t[0] == 0xff);
    CHECK_STATUS(pf.record_read(pf.ctx, &rec), WF_NOT_FOUND);
    /* one cell written leaves the others erased */
    memset(t, 0, 8);
    t[0] = WF_FLAG_SET;
    CHECK_STATUS(pf.trailer_write(pf.ctx, 1, WF_TRAILER_PENDING_OFF, t, 8), WF_OK);
    CHECK_STATUS(pf.trailer_read(pf.ctx, 1, t), WF_OK);
    CHECK(wf_trailer_get_flag(t, WF_TRAILER_PENDING_OFF) && !wf_trailer_get_magic(t));
    CHECK_STATUS(pf.trailer_write(pf.ctx, 1, WF_TRAILER_SIZE - 4, t, 8), WF_BAD_PARAMETER);
    /* slot data */
    memcpy(data, "0123456789abcdef", 16);
    CHECK_STATUS(pf.slot_write(pf.ctx, 0, 100, data, 16), WF_OK);
    CHECK_STATUS(pf.slot_sync(pf.ctx, 0), WF_OK);
    CHECK_STATUS(pf.slot_read(pf.ctx, 0, 100, back, 16), WF_OK);
    CHECK(memcmp(back, data, 16) == 0);
    CHECK_STATUS(pf.slot_read(pf.ctx, 0, 110, back, 16), WF_STORAGE_ERROR); /* past the end */
    /* record round trip */
    memset(&rec, 0, sizeof rec);
    rec.committed_sequence = 12;
    rec.keydoc_serial = 3;
    rec.dl_bytes = 8192;
    CHECK_STATUS(pf.record_write(pf.ctx, &rec), WF_OK);
    CHECK_STATUS(pf.record_read(pf.ctx, &rec2), WF_OK);
    CHECK(memcmp(&rec, &rec2, sizeof rec) == 0);
    /* erase: trailer gone first, then the image */
    CHECK_STATUS(pf.slot_erase(pf.ctx, 1), WF_OK);
    CHECK_STATUS(pf.trailer_read(pf.ctx, 1, t), WF_OK);
    CHECK(!wf_trailer_get_flag(t, WF_TRAILER_PENDING_OFF));
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
}

int main(void)
{
    test_accessors();
    test_decision_table();
    test_posix_storage();
    return wf_test_finish("test_slot");
}
