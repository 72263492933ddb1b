# WAMR platform layer for bare-metal Cortex-M (no RTOS): single thread, no mmap, all runtime
# memory from the pool given to wasm_runtime_full_init (Alloc_With_Pool).
set (PLATFORM_SHARED_DIR ${CMAKE_CURRENT_LIST_DIR})
add_definitions (-DBH_PLATFORM_WF_BAREMETAL)
include_directories (${PLATFORM_SHARED_DIR})
include_directories (${WAMR_ROOT}/core/shared/platform/include)
set (PLATFORM_SHARED_SOURCE ${PLATFORM_SHARED_DIR}/baremetal_platform.c)
