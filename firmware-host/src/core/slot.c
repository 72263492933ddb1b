/* Slot trailer accessors and the boot decision table (wf/slot.h). */
#include "wf/slot.h"

#include <string.h>

static const uint8_t trailer_magic[WF_TRAILER_MAGIC_SIZE] = {
    'w', 'f', 's', 'l', 'o', 't', 0x01, 0x00, 0x8e, 0x2b, 0x5c, 0x17, 0xd4, 0x63, 0xa9, 0x3f};

void wf_trailer_erase(uint8_t *trailer) { memset(trailer, WF_ERASED, WF_TRAILER_SIZE); }

bool wf_trailer_get_magic(const uint8_t *trailer)
{
    return memcmp(trailer + WF_TRAILER_MAGIC_OFF, trailer_magic, sizeof trailer_magic) == 0;
}

void wf_trailer_set_magic(uint8_t *trailer)
{
    memcpy(trailer + WF_TRAILER_MAGIC_OFF, trailer_magic, sizeof trailer_magic);
}

bool wf_trailer_get_flag(const uint8_t *trailer, uint32_t flag_off)
{
    return trailer[flag_off] == WF_FLAG_SET; /* anything else (erased, torn) is "not set" */
}

void wf_trailer_set_flag(uint8_t *trailer, uint32_t flag_off)
{
    memset(trailer + flag_off, 0, WF_TRAILER_FLAG_SIZE);
    trailer[flag_off] = WF_FLAG_SET;
}

/* Info cell layout: little-endian fixed fields, then NUL-padded strings, then a check byte
 * pair (0xa5, xor of the rest) so a torn write reads as "no info". */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0') { n++; }
    return n;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define INFO_SEQ 0u
#define INFO_SIZE 8u
#define INFO_SHA 12u
#define INFO_MANIFEST 44u
#define INFO_PAGES 76u
#define INFO_TICK 80u
#define INFO_CAPS 84u
#define INFO_EXPORTS 88u
#define INFO_COMPONENT 89u   /* 65 bytes */
#define INFO_VERSION 154u    /* 33 bytes */
#define INFO_CONFIG_LEN 188u /* 2 bytes */
#define INFO_CHECK 254u      /* 2 bytes */

static uint8_t info_xor(const uint8_t *info)
{
    uint8_t x = 0;
    uint32_t i;
    for (i = 0; i < INFO_CHECK; i++) { x ^= info[i]; }
    return x;
}

void wf_trailer_set_info(uint8_t *trailer, const wf_slot_info_t *in)
{
    uint8_t *p = trailer + WF_TRAILER_INFO_OFF;
    memset(p, 0, WF_TRAILER_INFO_SIZE);
    put32(p + INFO_SEQ, (uint32_t)in->sequence);
    put32(p + INFO_SEQ + 4u, (uint32_t)(in->sequence >> 32));
    put32(p + INFO_SIZE, in->image_size);
    memcpy(p + INFO_SHA, in->image_sha256, 32);
    memcpy(p + INFO_MANIFEST, in->manifest_digest, 32);
    put32(p + INFO_PAGES, in->max_pages);
    put32(p + INFO_TICK, in->tick_ms);
    put32(p + INFO_CAPS, in->capabilities);
    p[INFO_EXPORTS] = in->exports;
    memcpy(p + INFO_COMPONENT, in->component, bounded_len(in->component, 64));
    memcpy(p + INFO_VERSION, in->version, bounded_len(in->version, 32));
    p[INFO_CONFIG_LEN] = (uint8_t)in->config_len;
    p[INFO_CONFIG_LEN + 1u] = (uint8_t)(in->config_len >> 8);
    p[INFO_CHECK] = 0xa5u;
    p[INFO_CHECK + 1u] = info_xor(p);
}

wf_status_t wf_trailer_get_info(const uint8_t *trailer, wf_slot_info_t *out)
{
    const uint8_t *p = trailer + WF_TRAILER_INFO_OFF;
    if (p[INFO_CHECK] != 0xa5u || p[INFO_CHECK + 1u] != info_xor(p) ||
        p[INFO_COMPONENT + 64u] != 0u || p[INFO_VERSION + 32u] != 0u) {
        return WF_NOT_FOUND;
    }
    out->sequence = (uint64_t)get32(p + INFO_SEQ) | ((uint64_t)get32(p + INFO_SEQ + 4u) << 32);
    out->image_size = get32(p + INFO_SIZE);
    memcpy(out->image_sha256, p + INFO_SHA, 32);
    memcpy(out->manifest_digest, p + INFO_MANIFEST, 32);
    out->max_pages = get32(p + INFO_PAGES);
    out->tick_ms = get32(p + INFO_TICK);
    out->capabilities = get32(p + INFO_CAPS);
    out->exports = p[INFO_EXPORTS];
    memcpy(out->component, p + INFO_COMPONENT, 65);
    memcpy(out->version, p + INFO_VERSION, 33);
    out->config_len = (uint16_t)(p[INFO_CONFIG_LEN] | (p[INFO_CONFIG_LEN + 1u] << 8));
    return WF_OK;
}

uint32_t wf_trailer_trials_used(const uint8_t *trailer)
{
    uint32_t k = 0;
    while (k < WF_TRIAL_CELLS &&
           wf_trailer_get_flag(trailer, WF_TRAILER_TRIAL_OFF + k * WF_TRAILER_FLAG_SIZE)) {
        k++;
    }
    return k;
}

wf_slot_state_t wf_trailer_state(const uint8_t *trailer)
{
    wf_slot_info_t info;
    /* from failure: no magic or no readable info means nothing usable is there */
    if (!wf_trailer_get_magic(trailer) || wf_trailer_get_info(trailer, &info) != WF_OK) {
        return WF_SLOT_EMPTY;
    }
    if (wf_trailer_get_flag(trailer, WF_TRAILER_CONFIRMED_OFF)) { return WF_SLOT_CONFIRMED; }
    if (!wf_trailer_get_flag(trailer, WF_TRAILER_PENDING_OFF)) { return WF_SLOT_READY; }
    switch (wf_trailer_trials_used(trailer)) {
    case 0: return WF_SLOT_PENDING;
    case WF_TRIAL_CELLS: return WF_SLOT_EXHAUSTED;
    default: return WF_SLOT_TRIAL;
    }
}

wf_boot_decision_t wf_boot_decide(wf_slot_state_t s0, uint64_t seq0, wf_slot_state_t s1,
                                  uint64_t seq1)
{
    wf_boot_decision_t d;
    const wf_slot_state_t s[2] = {s0, s1};
    int i;

    d.action = WF_BOOT_NONE;
    d.run_slot = -1;
    d.other = -1;
    /* 1. a trial that died in every attempt: revert */
    for (i = 0; i < 2; i++) {
        if (s[i] == WF_SLOT_EXHAUSTED) {
            d.action = WF_BOOT_REVERT;
            d.other = (int8_t)i;
            d.run_slot = (s[1 - i] == WF_SLOT_CONFIRMED) ? (int8_t)(1 - i) : (int8_t)-1;
            return d;
        }
    }
    /* 2. an activation requested, attempts left: (re)start probation */
    for (i = 0; i < 2; i++) {
        if (s[i] == WF_SLOT_PENDING || s[i] == WF_SLOT_TRIAL) {
            d.action = WF_BOOT_TRIAL;
            d.run_slot = (int8_t)i;
            d.other = (s[1 - i] == WF_SLOT_CONFIRMED) ? (int8_t)(1 - i) : (int8_t)-1;
            return d;
        }
    }
    /* 3. both committed: the newer */
    if (s0 == WF_SLOT_CONFIRMED && s1 == WF_SLOT_CONFIRMED) {
        d.action = WF_BOOT_RUN;
        d.run_slot = (seq1 > seq0) ? 1 : 0;
        d.other = (int8_t)(1 - d.run_slot);
        return d;
    }
    /* 4. one committed */
    for (i = 0; i < 2; i++) {
        if (s[i] == WF_SLOT_CONFIRMED) {
            d.action = WF_BOOT_RUN;
            d.run_slot = (int8_t)i;
            d.other = (int8_t)(1 - i);
            return d;
        }
    }
    /* 5. nothing runnable */
    return d;
}
