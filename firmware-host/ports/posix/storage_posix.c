/*
 * POSIX storage (wf/platform.h contract): slotN.img holds image bytes (pwrite + fsync),
 * slotN.trailer the trailer cells, record.bin the device record. Trailers and the record are
 * replaced whole by write-then-rename, so a kill -9 leaves either the old or the new file.
 */
#define _POSIX_C_SOURCE 200809L
#include "storage_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Test hook for MCUboot-style crash tests (test/firmware-host.e2e.test.ts): with
 * WF_CRASH_AT_WRITE=N in the environment the process kills itself with SIGKILL just before
 * its N-th update write (slot erase/write, trailer cell, record), a real kill -9 at an exact
 * point of an install. Unset in production: one getenv at the first write. */
static void crash_point(void)
{
    static long at = -1, count;
    if (at < 0) {
        const char *env = getenv("WF_CRASH_AT_WRITE");
        at = (env != NULL) ? strtol(env, NULL, 10) : 0;
    }
    if (at > 0 && ++count == at) {
        raise(SIGKILL);
    }
}

static void path_of(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static wf_status_t fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) { return WF_STORAGE_ERROR; }
    (void)fsync(fd);
    close(fd);
    return WF_OK;
}

wf_status_t wf_posix_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[600], dst[600];
    int fd;
    ssize_t n;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    path_of(dst, sizeof dst, dir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { return WF_STORAGE_ERROR; }
    n = write(fd, data, len);
    if (n < 0 || (size_t)n != len || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return WF_STORAGE_ERROR;
    }
    close(fd);
    if (rename(tmp, dst) != 0) {
        unlink(tmp);
        return WF_STORAGE_ERROR;
    }
    return fsync_dir(dir);
}

wf_status_t wf_posix_read_file(const char *dir, const char *name, void *buf, size_t cap, size_t *len)
{
    char p[600];
    int fd;
    ssize_t n;
    path_of(p, sizeof p, dir, name);
    fd = open(p, O_RDONLY);
    if (fd < 0) { return errno == ENOENT ? WF_NOT_FOUND : WF_STORAGE_ERROR; }
    n = read(fd, buf, cap);
    close(fd);
    if (n < 0) { return WF_STORAGE_ERROR; }
    *len = (size_t)n;
    return WF_OK;
}

wf_status_t wf_posix_storage_init(wf_posix_storage_t *s, const char *dir)
{
    if (strlen(dir) >= sizeof s->dir) { return WF_BAD_PARAMETER; }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) { return WF_STORAGE_ERROR; }
    return WF_OK;
}

static void slot_name(char *out, size_t cap, uint8_t slot, const char *ext)
{
    snprintf(out, cap, "slot%u.%s", (unsigned)slot, ext);
}

static wf_status_t p_trailer_read(void *ctx, uint8_t slot, uint8_t trailer[WF_TRAILER_SIZE])
{
    wf_posix_storage_t *s = ctx;
    char name[32];
    size_t len = 0;
    wf_status_t st;
    slot_name(name, sizeof name, slot, "trailer");
    wf_trailer_erase(trailer);
    st = wf_posix_read_file(s->dir, name, trailer, WF_TRAILER_SIZE, &len);
    if (st == WF_NOT_FOUND) { return WF_OK; } /* never written: erased */
    if (st != WF_OK) { return st; }
    if (len != WF_TRAILER_SIZE) { wf_trailer_erase(trailer); } /* cannot happen with rename */
    return WF_OK;
}

static wf_status_t p_trailer_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *data, size_t len)
{
    wf_posix_storage_t *s = ctx;
    uint8_t t[WF_TRAILER_SIZE];
    char name[32];
    if (off > WF_TRAILER_SIZE || len > WF_TRAILER_SIZE - off) { return WF_BAD_PARAMETER; }
    crash_point();
    if (p_trailer_read(ctx, slot, t) != WF_OK) { return WF_STORAGE_ERROR; }
    memcpy(t + off, data, len);
    slot_name(name, sizeof name, slot, "trailer");
    return wf_posix_write_atomic(s->dir, name, t, sizeof t);
}

static wf_status_t p_slot_erase(void *ctx, uint8_t slot)
{
    wf_posix_storage_t *s = ctx;
    char name[32], p[600];
    crash_point();
    /* trailer first: without it the slot is EMPTY whatever bytes remain */
    slot_name(name, sizeof name, slot, "trailer");
    path_of(p, sizeof p, s->dir, name);
    if (unlink(p) != 0 && errno != ENOENT) { return WF_STORAGE_ERROR; }
    slot_name(name, sizeof name, slot, "img");
    path_of(p, sizeof p, s->dir, name);
    if (unlink(p) != 0 && errno != ENOENT) { return WF_STORAGE_ERROR; }
    return fsync_dir(s->dir);
}

static int open_slot(wf_posix_storage_t *s, uint8_t slot, int flags)
{
    char name[32], p[600];
    slot_name(name, sizeof name, slot, "img");
    path_of(p, sizeof p, s->dir, name);
    return open(p, flags, 0600);
}

static wf_status_t p_slot_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *data, size_t len)
{
    int fd;
    ssize_t n;
    crash_point();
    fd = open_slot(ctx, slot, O_WRONLY | O_CREAT);
    if (fd < 0) { return WF_STORAGE_ERROR; }
    n = pwrite(fd, data, len, (off_t)off);
    close(fd);
    return (n >= 0 && (size_t)n == len) ? WF_OK : WF_STORAGE_ERROR;
}

static wf_status_t p_slot_read(void *ctx, uint8_t slot, uint32_t off, uint8_t *data, size_t len)
{
    int fd;
    ssize_t n;
    if (len == 0u) { return WF_OK; }
    fd = open_slot(ctx, slot, O_RDONLY);
    if (fd < 0) { return WF_STORAGE_ERROR; }
    n = pread(fd, data, len, (off_t)off);
    close(fd);
    return (n >= 0 && (size_t)n == len) ? WF_OK : WF_STORAGE_ERROR;
}

static wf_status_t p_slot_sync(void *ctx, uint8_t slot)
{
    wf_posix_storage_t *s = ctx;
    int fd = open_slot(s, slot, O_WRONLY | O_CREAT);
    int rc;
    if (fd < 0) { return WF_STORAGE_ERROR; }
    rc = fsync(fd);
    close(fd);
    if (rc != 0) { return WF_STORAGE_ERROR; }
    return fsync_dir(s->dir);
}

/* record.bin: "wfrec1" + the struct + a 32-bit FNV-1a of the struct. Replaced by rename, so
 * the check only guards against a foreign or truncated file. */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) { h = (h ^ p[i]) * 16777619u; }
    return h;
}

static wf_status_t p_record_read(void *ctx, wf_record_t *rec)
{
    wf_posix_storage_t *s = ctx;
    uint8_t buf[6 + sizeof(wf_record_t) + 4];
    size_t len = 0;
    uint32_t sum;
    /* a record written before the root fields were appended: read it, the root fields are 0 */
    const size_t before_root = offsetof(wf_record_t, root_version);
    size_t body;
    wf_status_t st = wf_posix_read_file(s->dir, "record.bin", buf, sizeof buf, &len);
    if (st != WF_OK) { return st; }
    if ((len != sizeof buf && len != 6 + before_root + 4) || memcmp(buf, "wfrec1", 6) != 0) {
        return WF_NOT_FOUND;
    }
    body = len - 10u;
    memcpy(&sum, buf + 6 + body, 4);
    if (sum != fnv1a(buf + 6, body)) { return WF_NOT_FOUND; }
    memset(rec, 0, sizeof *rec);
    memcpy(rec, buf + 6, body);
    return WF_OK;
}

static wf_status_t p_record_write(void *ctx, const wf_record_t *rec)
{
    wf_posix_storage_t *s = ctx;
    uint8_t buf[6 + sizeof(wf_record_t) + 4];
    uint32_t sum;
    crash_point();
    memcpy(buf, "wfrec1", 6);
    memcpy(buf + 6, rec, sizeof *rec);
    sum = fnv1a(buf + 6, sizeof *rec);
    memcpy(buf + 6 + sizeof *rec, &sum, 4);
    return wf_posix_write_atomic(s->dir, "record.bin", buf, sizeof buf);
}

void wf_posix_storage_bind(wf_platform_t *pf, wf_posix_storage_t *s, uint32_t slot_size)
{
    pf->ctx = s;
    pf->slot_size = slot_size;
    pf->slot_erase = p_slot_erase;
    pf->slot_write = p_slot_write;
    pf->slot_read = p_slot_read;
    pf->slot_sync = p_slot_sync;
    pf->trailer_read = p_trailer_read;
    pf->trailer_write = p_trailer_write;
    pf->record_read = p_record_read;
    pf->record_write = p_record_write;
}
