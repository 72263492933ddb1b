/*
 * WAMR platform definitions for the wasmfleet bare-metal board port: one thread, no OS.
 * Locks are no-ops (the agent and the engine run from one loop), there is no mmap: linear
 * memory and every runtime structure come from the caller's pool.
 */
#ifndef _PLATFORM_INTERNAL_H
#define _PLATFORM_INTERNAL_H

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BH_PLATFORM_WF_BAREMETAL
#define BH_PLATFORM_WF_BAREMETAL
#endif

#define BH_APPLET_PRESERVED_STACK_SIZE (2 * BH_KB)
#define BH_THREAD_DEFAULT_PRIORITY 0

typedef void *korp_tid;
typedef int korp_mutex;
typedef int korp_cond;
typedef int korp_sem;
typedef int korp_rwlock;
typedef int korp_thread;
typedef int os_file_handle;
typedef void *os_dir_stream;
typedef int os_raw_file_handle;
typedef struct { int fd; short events, revents; } os_poll_file_handle;
typedef unsigned int os_nfds_t;
typedef struct timespec os_timespec;

#define os_thread_local_attribute

#define OS_THREAD_MUTEX_INITIALIZER 0

static inline os_file_handle os_get_invalid_handle(void) { return -1; }

#define bh_socket_t int

#endif
