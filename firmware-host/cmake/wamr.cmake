# WAMR (WebAssembly Micro Runtime) as a static library `vmlib`, built from C sources by us.
#
# Sources: ${WAMR_ROOT} when set (a checkout or release tarball of WAMR 2.4.x), otherwise
# third_party/wamr, which scripts/fetch-deps.sh fills from the pinned crate wamrx-sys 0.3.0
# (WAMR 2.4.3) with its pinned SHA-256. CMake runs that script itself when the tree is missing.
#
# Feature choices (docs/firmware-host.md §WAMR):
#  - classic interpreter only: no AOT, no JITs, no fast-interp pre-compilation buffer, so a module
#    costs its own bytes plus WAMR's parsed structures, not a second translated copy (RAM first);
#  - SIMD off: WAMR's SIMD for interpreters pulls SIMDe from the network at configure time;
#  - no libc-builtin / WASI: modules import only `wf` (host ABI v1);
#  - instruction metering on: the per-call budget that stops modules that loop forever;
#  - hardware bound checks off: no guard-page reservation (and no signal handler) at startup;
#  - bulk memory on (WAT/clang output uses memory.fill/copy), reference types off.
if(NOT WAMR_ROOT)
  if(DEFINED ENV{WAMR_ROOT} AND NOT "$ENV{WAMR_ROOT}" STREQUAL "")
    set(WAMR_ROOT "$ENV{WAMR_ROOT}")
  else()
    set(WAMR_ROOT "${CMAKE_CURRENT_LIST_DIR}/../third_party/wamr")
    if(NOT EXISTS "${WAMR_ROOT}/build-scripts/runtime_lib.cmake")
      message(STATUS "WAMR sources missing: running scripts/fetch-deps.sh")
      execute_process(COMMAND bash "${CMAKE_CURRENT_LIST_DIR}/../scripts/fetch-deps.sh"
                      RESULT_VARIABLE _wf_fetch)
      if(NOT _wf_fetch EQUAL 0)
        message(FATAL_ERROR "fetch-deps.sh failed; set WAMR_ROOT to a WAMR 2.4.x source tree")
      endif()
    endif()
  endif()
endif()
get_filename_component(WAMR_ROOT "${WAMR_ROOT}" ABSOLUTE)
if(NOT EXISTS "${WAMR_ROOT}/build-scripts/runtime_lib.cmake")
  message(FATAL_ERROR "WAMR_ROOT=${WAMR_ROOT} has no build-scripts/runtime_lib.cmake")
endif()
set(WAMR_ROOT_DIR "${WAMR_ROOT}")

if(NOT DEFINED WAMR_BUILD_PLATFORM)
  set(WAMR_BUILD_PLATFORM "linux")
endif()
if(NOT DEFINED WAMR_BUILD_TARGET)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    set(WAMR_BUILD_TARGET "X86_64")
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(WAMR_BUILD_TARGET "AARCH64")
  else()
    message(FATAL_ERROR "set WAMR_BUILD_TARGET for ${CMAKE_SYSTEM_PROCESSOR}")
  endif()
endif()

set(WAMR_BUILD_INTERP 1)
set(WAMR_BUILD_FAST_INTERP 0)
set(WAMR_BUILD_AOT 0)
set(WAMR_BUILD_JIT 0)
set(WAMR_BUILD_FAST_JIT 0)
set(WAMR_BUILD_LIBC_BUILTIN 0)
set(WAMR_BUILD_LIBC_WASI 0)
set(WAMR_BUILD_SIMD 0)
set(WAMR_BUILD_LIB_SIMDE 0)
set(WAMR_BUILD_REF_TYPES 0)
set(WAMR_BUILD_BULK_MEMORY 1)
set(WAMR_BUILD_MULTI_MODULE 0)
set(WAMR_BUILD_SHARED_MEMORY 0)
set(WAMR_BUILD_THREAD_MGR 0)
set(WAMR_BUILD_LIB_PTHREAD 0)
set(WAMR_BUILD_MINI_LOADER 0)
set(WAMR_BUILD_INSTRUCTION_METERING 1)
set(WAMR_BUILD_TAIL_CALL 0)
set(WAMR_BUILD_GC 0)
set(WAMR_BUILD_EXCE_HANDLING 0)
set(WAMR_BUILD_MEMORY64 0)
set(WAMR_BUILD_MULTI_MEMORY 0)
set(WAMR_BUILD_EXTENDED_CONST_EXPR 0)
set(WAMR_BUILD_CUSTOM_NAME_SECTION 0)
set(WAMR_BUILD_LOAD_CUSTOM_SECTION 0)
set(WAMR_BUILD_DUMP_CALL_STACK 0)
set(WAMR_BUILD_MEMORY_PROFILING 0)
set(WAMR_BUILD_PERF_PROFILING 0)
set(WAMR_BUILD_QUICK_AOT_ENTRY 0)
set(WAMR_BUILD_WASM_CACHE 0)
set(WAMR_BUILD_SPEC_TEST 0)
set(WAMR_BUILD_STRINGREF 0)
set(WAMR_BUILD_SHRUNK_MEMORY 1)
set(WAMR_DISABLE_HW_BOUND_CHECK 1)
set(WAMR_DISABLE_STACK_HW_BOUND_CHECK 1)
set(WAMR_DISABLE_WAKEUP_BLOCKING_OP 1)

include("${WAMR_ROOT}/build-scripts/runtime_lib.cmake")
add_library(vmlib STATIC ${WAMR_RUNTIME_LIB_SOURCE})
# WAMR's sources are not ours to lint or sanitize: compile them plainly and quietly.
target_compile_options(vmlib PRIVATE -w)
set(WAMR_INCLUDE_DIR "${WAMR_ROOT}/core/iwasm/include")
