/* Step 5 (protocol.md §4): pull the image by chunks into the spare slot with a bounded window
 * of requests, hash as it arrives, never past image.size, resume after a restart. Data is
 * synced before the record points past it, so a resume never trusts unsynced bytes. */
#include "agent_internal.h"

#include <stdio.h>
#include <string.h>
#include "wf/crypto.h"

static uint32_t chunk_count(const wf_agent_t *a)
{
    return (uint32_t)((a->target.image_size + a->chunk_size - 1u) / a->chunk_size);
}

void wf_ag_request_chunks(wf_agent_t *a)
{
    uint32_t total = chunk_count(a);
    if (a->requested_upto < a->next_index) { a->requested_upto = a->next_index; }
    while (a->connected && a->requested_upto < total &&
           a->requested_upto - a->next_index < a->cfg.window) {
        uint8_t buf[WF_CHUNK_REQUEST_MAX];
        size_t len;
        wf_chunk_request_t req;
        req.sha256.ptr = a->target.image_sha256;
        req.sha256.len = 32;
        req.index = a->requested_upto;
        req.chunk_size = a->chunk_size;
        if (wf_chunk_request_encode(&req, buf, sizeof buf, &len) != WF_OK ||
            a->pf->publish(a->pf->ctx, "chunk/get", buf, len, 0, false) != WF_OK) {
            break;
        }
        a->requested_upto++;
    }
}

/* Re-hash what a previous run left in the slot, so the digest still covers every byte. */
static wf_status_t resume_hash(wf_agent_t *a, uint8_t slot, uint32_t bytes)
{
    uint32_t off = 0;
    wf_sha256_init(&a->hash);
    while (off < bytes) { /* through the scratch: the image buffer is the running module's */
        uint32_t n = bytes - off;
        if (n > sizeof a->scratch) { n = (uint32_t)sizeof a->scratch; }
        if (a->pf->slot_read(a->pf->ctx, slot, off, a->scratch, n) != WF_OK) { return WF_STORAGE_ERROR; }
        wf_sha256_update(&a->hash, a->scratch, n);
        off += n;
    }
    return WF_OK;
}

void wf_ag_start_download(wf_agent_t *a)
{
    uint8_t slot = (uint8_t)((a->active == 0) ? 1 : 0);
    bool resume;

    a->target_slot = (int8_t)slot;
    a->chunk_size = a->cfg.max_chunk;
    resume = a->rec.dl_sequence == a->target.sequence && a->rec.dl_slot == slot &&
             memcmp(a->rec.dl_sha256, a->target.image_sha256, 32) == 0 &&
             a->rec.dl_chunk_size == a->chunk_size && a->rec.dl_bytes <= a->target.image_size &&
             a->rec.dl_bytes % a->chunk_size == 0u;
    if (resume && resume_hash(a, slot, a->rec.dl_bytes) == WF_OK) {
        a->next_index = a->rec.dl_bytes / a->chunk_size;
        wf_ag_log(a, "agent: resuming the download%s%s", "", "");
    } else {
        if (a->pf->slot_erase(a->pf->ctx, slot) != WF_OK) {
            wf_ag_fail(a, WF_STORAGE_ERROR, "slot erase");
            return;
        }
        wf_sha256_init(&a->hash);
        a->next_index = 0;
        a->rec.dl_sequence = a->target.sequence;
        a->rec.dl_slot = slot;
        memcpy(a->rec.dl_sha256, a->target.image_sha256, 32);
        a->rec.dl_bytes = 0;
        a->rec.dl_chunk_size = a->chunk_size;
        wf_ag_save_record(a);
    }
    a->requested_upto = a->next_index;
    a->last_progress_ms = a->pf->monotonic_ms(a->pf->ctx);
    (void)wf_ag_step(a, WF_EV_START, WF_OK, NULL);
    if (a->next_index * (uint64_t)a->chunk_size >= a->target.image_size) {
        wf_ag_verify_and_install(a);
        return;
    }
    wf_ag_request_chunks(a);
}

void wf_agent_on_chunk(wf_agent_t *a, const uint8_t *msg, size_t len)
{
    wf_chunk_response_t r;
    wf_status_t st;
    uint64_t off, expect;
    uint8_t slot;

    if (a->state != WF_STATE_DOWNLOADING) { return; }
    st = wf_chunk_response_decode(msg, len, a->chunk_size, &r);
    if (st != WF_OK) {
        /* bad input loses nothing: the download goes on, the chunk is asked again */
        wf_ag_log(a, "agent: chunk refused: %s%s", wf_status_reason(st), "");
        return;
    }
    if (!wf_ct_equal(r.sha256.ptr, a->target.image_sha256, 32)) { return; } /* another image */
    if (!r.has_data) {
        char code[65];
        wf_status_t reason;
        snprintf(code, sizeof code, "%.*s", (int)r.error.len, (const char *)r.error.ptr);
        reason = wf_status_from_reason(code, r.error.len);
        wf_ag_fail(a, reason == WF_NOT_FOUND ? WF_INTERNAL : reason, "the server could not serve the chunk");
        return;
    }
    if ((uint64_t)r.index * a->chunk_size >= a->target.image_size) {
        wf_ag_log(a, "agent: chunk beyond the signed size refused (%s)%s", "CHUNK_INVALID", "");
        return;
    }
    if (r.index != a->next_index) { return; } /* duplicate or out of order: asked again later */
    off = (uint64_t)r.index * a->chunk_size;
    expect = a->target.image_size - off;
    if (expect > a->chunk_size) { expect = a->chunk_size; }
    if (r.data.len != expect) {
        wf_ag_log(a, "agent: chunk with the wrong length refused (%s)%s", "CHUNK_INVALID", "");
        return;
    }
    slot = (uint8_t)a->target_slot;
    if (a->pf->slot_write(a->pf->ctx, slot, (uint32_t)off, r.data.ptr, r.data.len) != WF_OK ||
        a->pf->slot_sync(a->pf->ctx, slot) != WF_OK) {
        wf_ag_fail(a, WF_STORAGE_ERROR, "slot write");
        return;
    }
    wf_sha256_update(&a->hash, r.data.ptr, r.data.len);
    a->next_index++;
    a->rec.dl_bytes = (uint32_t)(off + r.data.len);
    if (a->rec.dl_bytes < a->target.image_size) {
        a->rec.dl_bytes = a->next_index * a->chunk_size; /* whole chunks only */
    }
    wf_ag_save_record(a);
    a->last_progress_ms = a->pf->monotonic_ms(a->pf->ctx);
    if (off + r.data.len >= a->target.image_size) {
        wf_ag_verify_and_install(a);
        return;
    }
    (void)wf_ag_step(a, WF_EV_CHUNK, WF_OK, NULL);
    wf_ag_request_chunks(a);
}
