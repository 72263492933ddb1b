/*
 * What a call's outcome means for probation (docs/firmware-host.md §6), as device-sim/probation.ts
 * faultOf: the engine stopped the call → its status (MODULE_TRAP, MODULE_TIMEOUT,
 * MODULE_OUT_OF_MEMORY); wf_init returned non-zero → MODULE_INIT_FAILED; wf_tick or wf_health
 * returned non-zero → MODULE_HEALTH. Pure; shared by the agent and the parity runner (tests/wf_run.c).
 */
#ifndef WF_PROBATION_H
#define WF_PROBATION_H

#include <stddef.h>
#include <stdint.h>

#include "wf/status.h"

/**
 * @param st            what wf_module_call returned
 * @param rc            the i32 result (when st is WF_OK)
 * @param engine_error  the engine's message (wf_module_t.error) when st is not WF_OK
 * @param detail        out: "<entry>: <message>" or "<entry> returned <rc>", "" when fine
 * @return WF_OK when the call is fine, else the reason code
 */
wf_status_t wf_entry_fault(const char *entry, wf_status_t st, int32_t rc, const char *engine_error,
                           char *detail, size_t cap);

/** seededUnit of device-sim/host-abi.ts: SHA-256("wasmfleet-sim\0" seed "\0" what) → [0, 1),
 *  the simulated gpio and sensors of every host. */
double wf_seeded_unit(const char *seed, const char *what);

#endif
