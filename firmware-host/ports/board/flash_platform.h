/* wf_platform_t over memory-mapped flash (MCUboot-like layout, see cortex-m4.ld). */
#ifndef WF_FLASH_PLATFORM_H
#define WF_FLASH_PLATFORM_H

#include "wf/platform.h"

#define WF_FLASH_SECTOR 4096u

void wf_flash_platform_bind(wf_platform_t *pf);

#endif
