/* COSE_Sign1 parse and verify (protocol.md §2; RFC 9052 §4.2, §4.4). */
#include "wf/cose.h"

#include "wf/cbor_write.h"
#include "wf/crypto.h"

#define COSE_TAG18_HEAD 0xd2u /* tag 18 is the single head byte 0xd2 */

static wf_status_t parse_protected(wf_slice_t hdr, wf_sign1_t *out)
{
    wf_map_t m;
    size_t off;
    wf_item_t h;
    wf_status_t st;

    if (hdr.len > WF_COSE_PROTECTED_MAX) { return WF_CBOR_TOO_LARGE; }
    st = wf_cbor_check(hdr.ptr, hdr.len);
    if (st != WF_OK) { return st; }
    if (wf_cbor_head(hdr.ptr, hdr.len, 0, &h) != WF_OK || h.major != WF_CBOR_MAP || h.arg != 2u ||
        wf_map_open(&m, hdr.ptr, hdr.len, 0) != WF_OK) {
        return WF_COSE_MALFORMED; /* exactly {1: alg, 4: kid} */
    }
    /* alg (label 1) first: an unsupported algorithm is COSE_BAD_ALG whatever else is wrong */
    if (wf_map_find(&m, 1, &off) != WF_OK || wf_cbor_head(hdr.ptr, hdr.len, off, &h) != WF_OK ||
        h.major != WF_CBOR_NINT || (h.arg != 7u && h.arg != 18u)) {
        return WF_COSE_BAD_ALG;
    }
    out->alg = (int32_t)(-1 - (int64_t)h.arg);
    if (wf_map_find(&m, 4, &off) != WF_OK ||
        wf_cbor_get_bytes(hdr.ptr, hdr.len, off, WF_KID_LEN, WF_KID_LEN, &out->kid) != WF_OK) {
        return WF_COSE_MALFORMED;
    }
    return WF_OK;
}

wf_status_t wf_sign1_parse(const uint8_t *buf, size_t len, size_t max_bytes, wf_sign1_t *out)
{
    wf_array_t parts;
    wf_item_t h;
    size_t off;
    wf_status_t st;

    if (buf == NULL || out == NULL) { return WF_BAD_PARAMETER; }
    /* 1. size bound before anything else (protocol.md §4 step 1) */
    if (len > max_bytes) { return WF_CBOR_TOO_LARGE; }
    if (len == 0u) { return WF_CBOR_MALFORMED; }
    if (buf[0] != COSE_TAG18_HEAD) {
        st = wf_cbor_check(buf, len); /* report broken CBOR as such, else the missing tag */
        return (st != WF_OK) ? st : WF_COSE_MALFORMED;
    }
    st = wf_cbor_check(buf + 1, len - 1u);
    if (st != WF_OK) { return st; }
    buf++;
    len--;
    if (wf_cbor_get_array(buf, len, 0, 4, 4, &parts) != WF_OK) { return WF_COSE_MALFORMED; }
    /* protected: bstr */
    if (wf_array_next(&parts, &off) != WF_OK ||
        wf_cbor_get_bytes(buf, len, off, 0, len, &out->protected_hdr) != WF_OK) {
        return WF_COSE_MALFORMED;
    }
    /* unprotected: the empty map, a0 */
    if (wf_array_next(&parts, &off) != WF_OK || wf_cbor_head(buf, len, off, &h) != WF_OK ||
        h.major != WF_CBOR_MAP || h.arg != 0u) {
        return WF_COSE_MALFORMED;
    }
    if (wf_array_next(&parts, &off) != WF_OK ||
        wf_cbor_get_bytes(buf, len, off, 0, len, &out->payload) != WF_OK) {
        return WF_COSE_MALFORMED;
    }
    if (wf_array_next(&parts, &off) != WF_OK ||
        wf_cbor_get_bytes(buf, len, off, 64, 64, &out->signature) != WF_OK) {
        return WF_COSE_MALFORMED;
    }
    return parse_protected(out->protected_hdr, out);
}

static void write_sig_structure(wf_writer_t *w, const wf_sign1_t *msg)
{
    wf_w_array(w, 4);
    wf_w_cstr(w, "Signature1");
    wf_w_bytes(w, msg->protected_hdr.ptr, msg->protected_hdr.len);
    wf_w_bytes(w, NULL, 0); /* external_aad: h'' */
    wf_w_bytes(w, msg->payload.ptr, msg->payload.len);
}

size_t wf_sig_structure_size(const wf_sign1_t *msg)
{
    wf_writer_t w;
    size_t n;
    wf_w_init(&w, NULL, 0);
    write_sig_structure(&w, msg);
    (void)wf_w_finish(&w, &n);
    return n;
}

wf_status_t wf_sign1_verify(const wf_sign1_t *msg, const uint8_t public_key[32],
                            uint8_t *scratch, size_t scratch_len)
{
    wf_writer_t w;
    size_t n;
    wf_w_init(&w, scratch, scratch_len);
    write_sig_structure(&w, msg);
    if (scratch == NULL || wf_w_finish(&w, &n) != WF_OK) { return WF_BUFFER_TOO_SMALL; }
    return wf_ed25519_verify(msg->signature.ptr, scratch, n, public_key) ? WF_OK
                                                                          : WF_COSE_BAD_SIGNATURE;
}
