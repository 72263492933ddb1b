#include "testlib.h"

#include <stdlib.h>
#include <string.h>

int wf_test_passed, wf_test_failed;

int wf_test_finish(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, wf_test_passed, wf_test_failed);
    return wf_test_failed == 0 ? 0 : 1;
}

uint8_t *wf_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (f == NULL) { return NULL; }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1u);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf != NULL) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}

int wf_test_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex), i;
    if (n % 2u != 0u || n / 2u > cap) { return -1; }
    for (i = 0; i < n / 2u; i++) {
        unsigned v;
        if (sscanf(hex + 2u * i, "%2x", &v) != 1) { return -1; }
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2u);
}
