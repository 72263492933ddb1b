/* Minimal test harness: CHECK records a failure with file:line and goes on; each test binary
 * ends with "N passed, N failed" and exits non-zero on any failure. */
#ifndef WF_TESTLIB_H
#define WF_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int wf_test_passed, wf_test_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) { wf_test_passed++; }                                          \
        else { wf_test_failed++; fprintf(stderr, "%s:%d: CHECK(%s) failed\n",    \
                                         __FILE__, __LINE__, #cond); }           \
    } while (0)

#define CHECK_STATUS(got, want)                                                  \
    do {                                                                         \
        wf_status_t g_ = (got), w_ = (want);                                     \
        if (g_ == w_) { wf_test_passed++; }                                      \
        else { wf_test_failed++; fprintf(stderr, "%s:%d: %s gave %s, want %s\n", \
                                         __FILE__, __LINE__, #got,               \
                                         wf_status_name(g_), wf_status_name(w_)); } \
    } while (0)

int wf_test_finish(const char *suite);
/** Read a whole file into a malloc'd buffer (tests only). NULL on failure. */
uint8_t *wf_test_read_file(const char *path, size_t *len);
/** Hex string to bytes; returns the byte count or -1. */
int wf_test_unhex(const char *hex, uint8_t *out, size_t cap);

#endif
