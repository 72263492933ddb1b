/* WAMR vmcore platform API on bare metal (see platform_internal.h). */
#include "platform_api_vmcore.h"
#include "platform_api_extension.h"

/* Time base and console come from the board port (ports/board/board.c). */
extern uint64_t wf_board_time_us(void);
extern void wf_board_console(const char *text, size_t len);

int bh_platform_init(void) { return 0; }
void bh_platform_destroy(void) {}

/* The runtime uses its pool allocator (Alloc_With_Pool): these are never reached. */
void *os_malloc(unsigned size) { (void)size; return NULL; }
void *os_realloc(void *ptr, unsigned size) { (void)ptr; (void)size; return NULL; }
void os_free(void *ptr) { (void)ptr; }

int os_vprintf(const char *format, va_list ap)
{
    char buf[128];
    int n = vsnprintf(buf, sizeof buf, format, ap);
    if (n > 0) { wf_board_console(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1u); }
    return n;
}

int os_printf(const char *format, ...)
{
    va_list ap;
    int n;
    va_start(ap, format);
    n = os_vprintf(format, ap);
    va_end(ap);
    return n;
}

uint64 os_time_get_boot_us(void) { return wf_board_time_us(); }
uint64 os_time_thread_cputime_us(void) { return wf_board_time_us(); }

korp_tid os_self_thread(void) { return (korp_tid)1; }
uint8 *os_thread_get_stack_boundary(void) { return NULL; }
void os_thread_jit_write_protect_np(bool enabled) { (void)enabled; }

int os_mutex_init(korp_mutex *mutex) { *mutex = 0; return BHT_OK; }
int os_mutex_destroy(korp_mutex *mutex) { (void)mutex; return BHT_OK; }
int os_mutex_lock(korp_mutex *mutex) { (void)mutex; return BHT_OK; }
int os_mutex_unlock(korp_mutex *mutex) { (void)mutex; return BHT_OK; }

/* No MMU: "mapping" linear memory means taking it from the runtime's pool, so a module's
 * memory lives in the caller-owned engine pool like everything else. */
extern void *wasm_runtime_malloc(unsigned int size);
extern void wasm_runtime_free(void *ptr);

void *os_mmap(void *hint, size_t size, int prot, int flags, os_file_handle file)
{
    (void)hint; (void)prot; (void)flags; (void)file;
    if ((uint64)size >= UINT32_MAX) { return NULL; }
    return wasm_runtime_malloc((unsigned int)size);
}
void os_munmap(void *addr, size_t size)
{
    (void)size;
    if (addr != NULL) { wasm_runtime_free(addr); }
}
int os_mprotect(void *addr, size_t size, int prot) { (void)addr; (void)size; (void)prot; return 0; }
void os_dcache_flush(void) {}
void os_icache_flush(void *start, size_t len) { (void)start; (void)len; }

int os_dumps_proc_mem_info(char *out, unsigned int size) { (void)out; (void)size; return -1; }

/* memory.grow: a new block from the pool, copy, free the old one. */
void *os_mremap(void *old_addr, size_t old_size, size_t new_size)
{
    return os_mremap_slow(old_addr, old_size, new_size);
}

int os_getpagesize(void) { return 4096; }
