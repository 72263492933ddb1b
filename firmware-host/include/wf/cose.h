/*
 * COSE_Sign1 (RFC 9052 §4.2) as profiled by docs/protocol.md §2:
 *   #6.18([ protected: bstr .cbor {1: -8 / -19, 4: kid bstr(8)}, unprotected: {}, payload: bstr,
 *           signature: bstr(64) ])
 */
#ifndef WF_COSE_H
#define WF_COSE_H

#include "wf/cbor.h"

#define WF_COSE_ALG_EDDSA (-8)     /* RFC 9053 */
#define WF_COSE_ALG_ED25519 (-19)  /* RFC 9864, fully specified */
#define WF_KID_LEN 8u
#define WF_COSE_PROTECTED_MAX 64u  /* bound on the protected header (as the reference) */

typedef struct {
    wf_slice_t protected_hdr;  /**< exactly as received: the signature covers these bytes */
    wf_slice_t payload;
    wf_slice_t signature;      /**< 64 bytes */
    wf_slice_t kid;            /**< 8 bytes */
    int32_t alg;               /**< -8 or -19 */
} wf_sign1_t;

/**
 * Strictly parse (not verify) a COSE_Sign1 of at most `max_bytes`.
 * @return WF_OK; WF_CBOR_TOO_LARGE; WF_CBOR_MALFORMED / WF_CBOR_NON_CANONICAL (the envelope or
 *         the protected header); WF_COSE_MALFORMED (no tag 18, not a 4-array, wrong part types,
 *         non-empty unprotected map, signature not 64 bytes, header not {1, 4}, kid not 8 bytes);
 *         WF_COSE_BAD_ALG (alg is neither -8 nor -19).
 */
wf_status_t wf_sign1_parse(const uint8_t *buf, size_t len, size_t max_bytes, wf_sign1_t *out);

/** Exact size of Sig_structure ["Signature1", protected, h'', payload] for `msg`. */
size_t wf_sig_structure_size(const wf_sign1_t *msg);

/**
 * Verify the Ed25519 signature over the Sig_structure, built in the caller's `scratch`.
 * @return WF_OK; WF_COSE_BAD_SIGNATURE; WF_BUFFER_TOO_SMALL (scratch shorter than
 *         wf_sig_structure_size()).
 */
wf_status_t wf_sign1_verify(const wf_sign1_t *msg, const uint8_t public_key[32],
                            uint8_t *scratch, size_t scratch_len);

#endif
