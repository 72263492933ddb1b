/* POSIX storage for the platform interface: slots, trailers and the record as files in the
 * state directory, every replacement by write-then-rename with fsync of file and directory. */
#ifndef WF_STORAGE_POSIX_H
#define WF_STORAGE_POSIX_H

#include "wf/platform.h"

typedef struct {
    char dir[512];
} wf_posix_storage_t;

/** Create the state directory if needed. @return WF_OK or WF_STORAGE_ERROR. */
wf_status_t wf_posix_storage_init(wf_posix_storage_t *s, const char *dir);

/** Fill the storage members of `pf` (ctx = s). */
void wf_posix_storage_bind(wf_platform_t *pf, wf_posix_storage_t *s, uint32_t slot_size);

/** Atomically replace `dir/name` with `len` bytes. */
wf_status_t wf_posix_write_atomic(const char *dir, const char *name, const void *data, size_t len);
/** Read `dir/name` fully into buf (≤ cap). WF_NOT_FOUND when missing. */
wf_status_t wf_posix_read_file(const char *dir, const char *name, void *buf, size_t cap, size_t *len);

#endif
