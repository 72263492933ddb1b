/* Strict CBOR reader and writer: each rejection of protocol.md §1 with its precise reason. */
#include <string.h>

#include "testlib.h"
#include "wf/cbor.h"
#include "wf/cbor_write.h"
#include "wf/cose.h"
#include "wf/messages.h"
#include "wf/text.h"

#define CHECK_BYTES(want, ...)                                         \
    do {                                                               \
        const uint8_t b_[] = {__VA_ARGS__};                            \
        CHECK_STATUS(wf_cbor_check(b_, sizeof b_), want);              \
    } while (0)

static wf_slice_t S(const char *s) { wf_slice_t x = {(const uint8_t *)s, strlen(s)}; return x; }

int main(void)
{
    /* well-formed, deterministic */
    CHECK_BYTES(WF_OK, 0x00);
    CHECK_BYTES(WF_OK, 0x18, 0x18);
    CHECK_BYTES(WF_OK, 0xa2, 0x01, 0x02, 0x03, 0x04);
    CHECK_BYTES(WF_OK, 0xa2, 0x17, 0x00, 0x18, 0x18, 0x00);           /* 23 < 24 */
    CHECK_BYTES(WF_OK, 0xa2, 0x0a, 0x00, 0x20, 0x00);                 /* uint before nint */
    CHECK_BYTES(WF_OK, 0x83, 0xf4, 0xf5, 0xf6);                       /* false, true, null */
    /* non-shortest heads */
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x18, 0x17);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x19, 0x00, 0xff);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0xb8, 0x01, 0x01, 0x02);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x5a, 0, 0, 0, 1, 0xaa);
    /* indefinite lengths */
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x9f, 0x01, 0xff);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0xbf, 0x01, 0x02, 0xff);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x5f, 0x41, 0xaa, 0xff);
    /* unsorted and duplicate keys */
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0xa2, 0x02, 0x00, 0x01, 0x00);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0xa2, 0x01, 0x00, 0x01, 0x00);
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0xa2, 0x20, 0x00, 0x01, 0x00);
    /* float16 / float32 are not in the profile */
    /* outside the profile, refused at once: tags, other simple values, floats */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xf9, 0x3c, 0x00);
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xf7);                               /* undefined */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xa1, 0x01, 0xf7);
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xf0);                               /* simple 16 */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xf8, 0x20);                         /* simple 32 */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xc1, 0x00);                         /* tag 1: epoch date */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xc2, 0x41, 0x01);                   /* tag 2: bignum */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xd8, 0x1c, 0x80);                   /* tag 28: shareable */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xd8, 0x1d, 0x00);                   /* tag 29: shared ref */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xd9, 0x01, 0x02, 0x80);             /* tag 258: set */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0xd2, 0x80);                         /* tag 18 inside */
    /* at once: a tag after a non-canonical head is still UNSUPPORTED */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0x82, 0x18, 0x01, 0xc1, 0x00);
    /* ... and a malformed tail after an unsupported item is never reached */
    CHECK_BYTES(WF_CBOR_UNSUPPORTED, 0x82, 0xf7, 0x1c);
    /* invalid UTF-8 in text */
    CHECK_BYTES(WF_CBOR_NON_CANONICAL, 0x62, 0xc3, 0x28);
    /* malformed: truncated, reserved, trailing, stray break, deep nesting */
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x18);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x43, 0x01, 0x02);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0xa1, 0x01);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x1c);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x01, 0x02);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0xff);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x9f, 0x01);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0xf8, 0x10);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
                0x81, 0x81, 0x81, 0x81, 0x00);
    CHECK_STATUS(wf_cbor_check(NULL, 0), WF_CBOR_MALFORMED);
    /* malformed wins over non-canonical (as the reference decoder fails first) */
    CHECK_BYTES(WF_CBOR_MALFORMED, 0xa2, 0x02, 0x00, 0x01);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0xdf);                                 /* indefinite tag */
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x81, 0xff);                           /* break in definite */
    /* item count bound: 4096 items pass, 4097 do not */
    {
        static uint8_t many[3 + WF_CBOR_MAX_ITEMS];
        memset(many, 0, sizeof many);
        many[0] = 0x99; many[1] = (uint8_t)((WF_CBOR_MAX_ITEMS - 1u) >> 8);
        many[2] = (uint8_t)((WF_CBOR_MAX_ITEMS - 1u) & 0xffu);
        CHECK_STATUS(wf_cbor_check(many, 3u + WF_CBOR_MAX_ITEMS - 1u), WF_OK);
        many[1] = (uint8_t)(WF_CBOR_MAX_ITEMS >> 8);
        many[2] = (uint8_t)(WF_CBOR_MAX_ITEMS & 0xffu);
        CHECK_STATUS(wf_cbor_check(many, 3u + WF_CBOR_MAX_ITEMS), WF_CBOR_TOO_LARGE);
    }
    /* a huge declared length must not be trusted */
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    CHECK_BYTES(WF_CBOR_MALFORMED, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

    /* map reader: missing, wrong type, unknown */
    {
        const uint8_t m[] = {0xa3, 0x01, 0x05, 0x02, 0x61, 'x', 0x09, 0x00};
        wf_map_t f;
        uint64_t v;
        wf_slice_t s;
        CHECK_STATUS(wf_map_open(&f, m, sizeof m, 0), WF_OK);
        CHECK_STATUS(wf_map_uint(&f, 1, 0, 4, &v), WF_CBOR_FIELD_INVALID);
        CHECK_STATUS(wf_map_uint(&f, 1, 0, 5, &v), WF_OK);
        CHECK_STATUS(wf_map_bytes(&f, 2, 0, 8, &s), WF_CBOR_FIELD_INVALID);
        CHECK_STATUS(wf_map_text(&f, 2, 0, 8, &s), WF_OK);
        CHECK_STATUS(wf_map_uint(&f, 3, 0, 8, &v), WF_CBOR_FIELD_MISSING);
        CHECK_STATUS(wf_map_done(&f), WF_CBOR_UNKNOWN_FIELD);
        CHECK_STATUS(wf_map_uint(&f, 9, 0, 8, &v), WF_OK);
        CHECK_STATUS(wf_map_done(&f), WF_OK);
    }
    /* writer: size first, then serialize; overflow reported */
    {
        uint8_t buf[8];
        size_t n;
        wf_chunk_request_t req;
        uint8_t sha[32] = {0};
        wf_writer_t w;
        wf_w_init(&w, NULL, 0);
        wf_w_uint(&w, 500);
        wf_w_cstr(&w, "abc");
        CHECK_STATUS(wf_w_finish(&w, &n), WF_OK);
        CHECK(n == 3 + 4);
        req.sha256.ptr = sha;
        req.sha256.len = 32;
        req.index = 3;
        req.chunk_size = 4096;
        CHECK_STATUS(wf_chunk_request_encode(&req, NULL, 0, &n), WF_OK);
        CHECK(n == 1 + 1 + 2 + 32 + 1 + 1 + 1 + 3);
        CHECK_STATUS(wf_chunk_request_encode(&req, buf, sizeof buf, &n), WF_BUFFER_TOO_SMALL);
        req.chunk_size = 16;
        CHECK_STATUS(wf_chunk_request_encode(&req, NULL, 0, &n), WF_BAD_PARAMETER);
    }
    /* a report we encode decodes strictly, with a reason string equal to the enum name */
    {
        uint8_t buf[512];
        size_t n;
        wf_report_t r;
        wf_report_view_t v;
        memset(&r, 0, sizeof r);
        r.state = WF_STATE_ROLLED_BACK;
        r.reason = WF_MODULE_TRAP;
        r.sequence = 7;
        r.target_sequence = 8;
        r.detail = "wf_init: unreachable";
        r.time = 1767225600u;
        CHECK_STATUS(wf_report_encode(&r, buf, sizeof buf, &n), WF_OK);
        CHECK_STATUS(wf_report_decode(buf, n, &v), WF_OK);
        CHECK(v.state == WF_STATE_ROLLED_BACK && wf_slice_eq(v.reason, "MODULE_TRAP"));
        CHECK(v.sequence == 7 && v.has_target && v.target_sequence == 8);
        /* oversized report: refused before parsing */
        CHECK_STATUS(wf_report_decode(buf, WF_REPORT_MAX + 1, &v), WF_CBOR_TOO_LARGE);
        /* truncated by one byte */
        CHECK_STATUS(wf_report_decode(buf, n - 1, &v), WF_CBOR_MALFORMED);
    }
    /* COSE: untagged, empty, wrong shapes */
    {
        wf_sign1_t s;
        const uint8_t untagged[] = {0x84, 0x40, 0xa0, 0x40, 0x40};
        const uint8_t not_array[] = {0xd2, 0x01};
        const uint8_t short_sig[] = {0xd2, 0x84, 0x40, 0xa0, 0x40, 0x41, 0x00};
        CHECK_STATUS(wf_sign1_parse(untagged, sizeof untagged, 100, &s), WF_COSE_MALFORMED);
        CHECK_STATUS(wf_sign1_parse(not_array, sizeof not_array, 100, &s), WF_COSE_MALFORMED);
        CHECK_STATUS(wf_sign1_parse(short_sig, sizeof short_sig, 100, &s), WF_COSE_MALFORMED);
        CHECK_STATUS(wf_sign1_parse(untagged, sizeof untagged, 2, &s), WF_CBOR_TOO_LARGE);
        CHECK_STATUS(wf_sign1_parse(untagged, 0, 2, &s), WF_CBOR_MALFORMED);
    }
    /* semver precedence (semver 2.0 §11) */
    CHECK(wf_semver_compare(S("1.0.0"), S("1.1.0")) < 0);
    CHECK(wf_semver_compare(S("1.10.0"), S("1.9.0")) > 0);
    CHECK(wf_semver_compare(S("1.0.0-alpha"), S("1.0.0")) < 0);
    CHECK(wf_semver_compare(S("1.0.0-alpha.1"), S("1.0.0-alpha.beta")) < 0);
    CHECK(wf_semver_compare(S("1.0.0-rc.1"), S("1.0.0-beta.11")) > 0);
    CHECK(wf_semver_compare(S("2.0.0"), S("2.0.0")) == 0);
    CHECK(wf_is_semver(S("1.2.3-rc.1")) && !wf_is_semver(S("01.2.3")) && !wf_is_semver(S("1.2")));
    CHECK(wf_is_device_id(S("dev-1_a")) && !wf_is_device_id(S("dev.1")) && !wf_is_device_id(S("")));
    return wf_test_finish("test_cbor");
}
