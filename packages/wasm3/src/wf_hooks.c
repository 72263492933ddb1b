/* The hooks declared in wf_hooks.h. */
#define _GNU_SOURCE
#include "wf_hooks.h"

#include <string.h>
#include <sys/mman.h>

#include "m3_env.h"

__thread int64_t wf_m3_fuel __attribute__((tls_model("initial-exec"))) = 0;
__thread uint32_t wf_m3_growRequest __attribute__((tls_model("initial-exec"))) = 0;
const char wf_m3_trapFuel[] = "[trap] instruction budget spent";
const char wf_m3_trapMemoryLimit[] = "[trap] memory past the host limit";

#define PAGE 4096u

static size_t round_up(size_t n)
{
    return (n + PAGE - 1u) & ~(size_t)(PAGE - 1u);
}

/* Linear memory starts with wasm3's M3MemoryHeader, whose length says how big the mapping is. */
static size_t linear_bytes(void *ptr)
{
    return round_up(((M3MemoryHeader *)ptr)->length + sizeof(M3MemoryHeader));
}

void *wf_m3_linearRealloc(void *ptr, size_t new_size, size_t old_size)
{
    (void)old_size; /* wasm3 passes 0 for a 0-page memory that has a header: trust the header */
    size_t want = round_up(new_size);
    void *out;
    if (ptr == NULL) {
        out = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return out == MAP_FAILED ? NULL : out;
    }
    size_t have = linear_bytes(ptr);
    if (want == have) { return ptr; }
    /* New pages of an anonymous mapping read as zero, as Wasm requires. */
    out = mremap(ptr, have, want, MREMAP_MAYMOVE);
    return out == MAP_FAILED ? NULL : out;
}

void wf_m3_linearFree(void *ptr)
{
    if (ptr != NULL) { munmap(ptr, linear_bytes(ptr)); }
}

/* A mapping with its size in front (16 bytes, keeping the slots aligned). */
void *wf_m3_pagesAlloc(size_t size)
{
    size_t total = round_up(size + 16u);
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { return NULL; }
    *(size_t *)p = total;
    return (char *)p + 16;
}

void wf_m3_pagesFree(void *ptr)
{
    if (ptr == NULL) { return; }
    char *base = (char *)ptr - 16;
    munmap(base, *(size_t *)base);
}

void wf_m3_pagesDiscard(void *ptr, size_t len)
{
    uintptr_t start = ((uintptr_t)ptr + PAGE - 1u) & ~(uintptr_t)(PAGE - 1u);
    uintptr_t end = ((uintptr_t)ptr + len) & ~(uintptr_t)(PAGE - 1u);
    if (end > start) { madvise((void *)start, end - start, MADV_DONTNEED); }
}
