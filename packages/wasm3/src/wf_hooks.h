/* Hooks this binding adds to wasm3's interpreter (applied by scripts/prepare-sources.mjs).
 *  - fuel: every dispatched operation spends one unit; below zero the call traps with
 *    wf_m3_trapFuel. Per thread, since every call runs to its end on the thread that made it.
 *  - memory.grow past the host's page limit traps with wf_m3_trapMemoryLimit (instead of
 *    returning -1), so a module cannot quietly run on without the memory it asked for.
 *  - linear memory and the value stack live in anonymous mappings: pages never touched cost no RAM. */
#ifndef WF_HOOKS_H
#define WF_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

extern __thread int64_t wf_m3_fuel __attribute__((tls_model("initial-exec")));
extern const char wf_m3_trapFuel[];
extern const char wf_m3_trapMemoryLimit[];
/* The page count the last grow past the limit asked for. */
extern __thread uint32_t wf_m3_growRequest __attribute__((tls_model("initial-exec")));

void *wf_m3_linearRealloc(void *ptr, size_t new_size, size_t old_size);
void wf_m3_linearFree(void *ptr);
void *wf_m3_pagesAlloc(size_t size);
void wf_m3_pagesFree(void *ptr);
/* Give the whole pages inside [ptr, ptr + len) of a wf_m3_pagesAlloc mapping back to the kernel:
 * they read as zero again, as freshly allocated. */
void wf_m3_pagesDiscard(void *ptr, size_t len);

#ifdef __cplusplus
}
#endif

#endif
