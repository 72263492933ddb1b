#include "bundle_maker.h"

#include <sodium.h>
#include <string.h>

#include "wf/cbor_write.h"
#include "wf/crypto.h"

typedef struct {
    uint8_t pk[32], sk[64], kid[8];
} key_t_;

static key_t_ root, release, director;

static void make_key(key_t_ *k, uint8_t fill)
{
    uint8_t seed[32], digest[32];
    memset(seed, fill, sizeof seed);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    wf_sha256(k->pk, 32, digest);
    memcpy(k->kid, digest, 8);
}

void bm_keys_init(void)
{
    if (sodium_init() < 0) { return; }
    make_key(&root, 1);
    make_key(&release, 2);
    make_key(&director, 3);
}

const uint8_t *bm_root_public_key(void) { return root.pk; }

/* COSE_Sign1 over payload with key k, into out; returns length. */
static size_t sign1(const key_t_ *k, const uint8_t *payload, size_t plen, uint8_t *out, size_t cap)
{
    uint8_t prot[16], tbs[8192], sig[64];
    size_t prot_len, tbs_len, n;
    wf_writer_t w;
    wf_w_init(&w, prot, sizeof prot);
    wf_w_map(&w, 2);
    wf_w_uint(&w, 1);
    wf_w_int(&w, -8);
    wf_w_uint(&w, 4);
    wf_w_bytes(&w, k->kid, 8);
    wf_w_finish(&w, &prot_len);
    wf_w_init(&w, tbs, sizeof tbs);
    wf_w_array(&w, 4);
    wf_w_cstr(&w, "Signature1");
    wf_w_bytes(&w, prot, prot_len);
    wf_w_bytes(&w, NULL, 0);
    wf_w_bytes(&w, payload, plen);
    if (wf_w_finish(&w, &tbs_len) != WF_OK) { return 0; }
    crypto_sign_ed25519_detached(sig, NULL, tbs, tbs_len, k->sk);
    wf_w_init(&w, out, cap);
    wf_w_head(&w, 6, 18);
    wf_w_array(&w, 4);
    wf_w_bytes(&w, prot, prot_len);
    wf_w_map(&w, 0);
    wf_w_bytes(&w, payload, plen);
    wf_w_bytes(&w, sig, 64);
    return wf_w_finish(&w, &n) == WF_OK ? n : 0;
}

static void key_entry(wf_writer_t *w, const key_t_ *k, const char *role, uint64_t expires)
{
    wf_w_map(w, 4);
    wf_w_uint(w, 1);
    wf_w_bytes(w, k->kid, 8);
    wf_w_uint(w, 2);
    wf_w_cstr(w, role);
    wf_w_uint(w, 3);
    wf_w_bytes(w, k->pk, 32);
    wf_w_uint(w, 4);
    wf_w_uint(w, expires);
}

size_t bm_make_bundle(const bundle_spec_t *s, uint8_t *out, size_t cap)
{
    uint8_t payload[4096], keydoc[4096], manifest[2048], directive[4096], digest[32], sha[32];
    size_t plen, klen, mlen, dlen, n;
    unsigned ncaps = 0, i;
    wf_writer_t w;
    uint64_t exp = s->now + 86400u;

    /* key document (type 1) */
    wf_w_init(&w, payload, sizeof payload);
    wf_w_map(&w, 6);
    wf_w_uint(&w, 0); wf_w_uint(&w, 1);
    wf_w_uint(&w, 1); wf_w_uint(&w, 1);
    wf_w_uint(&w, 2); wf_w_uint(&w, 1);
    wf_w_uint(&w, 3); wf_w_uint(&w, s->now - 60u);
    wf_w_uint(&w, 4); wf_w_uint(&w, exp);
    wf_w_uint(&w, 5);
    wf_w_array(&w, 2);
    key_entry(&w, &release, "release", exp);
    key_entry(&w, &director, "director", exp);
    wf_w_finish(&w, &plen);
    klen = sign1(&root, payload, plen, keydoc, sizeof keydoc);

    /* release manifest (type 2) */
    if (s->image_sha256 != NULL) { memcpy(sha, s->image_sha256, 32); }
    else { wf_sha256(s->image, s->image_len, sha); }
    while (ncaps < 4 && s->capabilities[ncaps] != NULL) { ncaps++; }
    wf_w_init(&w, payload, sizeof payload);
    wf_w_map(&w, 11);
    wf_w_uint(&w, 0); wf_w_uint(&w, 2);
    wf_w_uint(&w, 1); wf_w_uint(&w, 1);
    wf_w_uint(&w, 2); wf_w_cstr(&w, s->component);
    wf_w_uint(&w, 3); wf_w_cstr(&w, s->version);
    wf_w_uint(&w, 4);
    wf_w_map(&w, 3);
    wf_w_uint(&w, 1); wf_w_bytes(&w, sha, 32);
    wf_w_uint(&w, 2); wf_w_uint(&w, s->image_len);
    wf_w_uint(&w, 3); wf_w_cstr(&w, "wasm");
    wf_w_uint(&w, 5); wf_w_uint(&w, 1);
    wf_w_uint(&w, 6);
    wf_w_array(&w, ncaps);
    for (i = 0; i < ncaps; i++) { wf_w_cstr(&w, s->capabilities[i]); }
    wf_w_uint(&w, 7);
    wf_w_map(&w, 2);
    wf_w_uint(&w, 1); wf_w_uint(&w, s->max_pages);
    wf_w_uint(&w, 2); wf_w_uint(&w, 16384);
    wf_w_uint(&w, 8); wf_w_uint(&w, s->tick_ms);
    wf_w_uint(&w, 9);
    wf_w_array(&w, 2);
    wf_w_cstr(&w, "wf_init");
    wf_w_cstr(&w, "wf_tick");
    wf_w_uint(&w, 10); wf_w_uint(&w, s->now - 120u);
    wf_w_finish(&w, &plen);
    mlen = sign1(&release, payload, plen, manifest, sizeof manifest);
    wf_sha256(manifest, mlen, digest);

    /* directive (type 3) */
    wf_w_init(&w, payload, sizeof payload);
    wf_w_map(&w, 8);
    wf_w_uint(&w, 0); wf_w_uint(&w, 3);
    wf_w_uint(&w, 1); wf_w_uint(&w, 1);
    wf_w_uint(&w, 2); wf_w_cstr(&w, s->device);
    wf_w_uint(&w, 3); wf_w_uint(&w, s->sequence);
    wf_w_uint(&w, 4); wf_w_uint(&w, s->now - 10u);
    wf_w_uint(&w, 5); wf_w_uint(&w, exp);
    wf_w_uint(&w, 6); wf_w_cstr(&w, "");
    wf_w_uint(&w, 7);
    wf_w_array(&w, 1);
    wf_w_map(&w, s->config_key != NULL ? 3u : 2u);
    wf_w_uint(&w, 1); wf_w_cstr(&w, s->component);
    wf_w_uint(&w, 2); wf_w_bytes(&w, digest, 32);
    if (s->config_key != NULL) {
        wf_w_uint(&w, 3);
        wf_w_map(&w, 1);
        wf_w_cstr(&w, s->config_key);
        wf_w_cstr(&w, s->config_value);
    }
    wf_w_finish(&w, &plen);
    dlen = sign1(&director, payload, plen, directive, sizeof directive);

    wf_w_init(&w, out, cap);
    wf_w_map(&w, 3);
    wf_w_uint(&w, 1); wf_w_bytes(&w, keydoc, klen);
    wf_w_uint(&w, 2); wf_w_bytes(&w, directive, dlen);
    wf_w_uint(&w, 3);
    wf_w_array(&w, 1);
    wf_w_bytes(&w, manifest, mlen);
    return wf_w_finish(&w, &n) == WF_OK ? n : 0;
}
