/* Test-only: signed directive bundles made with the writer and libsodium's Ed25519 signing,
 * the same bytes protocol/ would produce (protocol.md §2, §3), with fixed test keys. */
#ifndef WF_TEST_BUNDLE_MAKER_H
#define WF_TEST_BUNDLE_MAKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *device;
    uint64_t sequence;
    uint64_t now;
    const char *component, *version;
    const uint8_t *image;
    size_t image_len;
    const uint8_t *image_sha256;   /* NULL: the real digest of image */
    const char *capabilities[4];   /* claimed by the manifest, sorted, NULL-terminated */
    uint32_t max_pages;
    uint32_t tick_ms;
    const char *config_key, *config_value;  /* optional */
} bundle_spec_t;

void bm_keys_init(void);
const uint8_t *bm_root_public_key(void);
/** Build a bundle into out (cap bytes); returns its length (0 when it does not fit). */
size_t bm_make_bundle(const bundle_spec_t *spec, uint8_t *out, size_t cap);

#endif
