/* Internal: the natives table of the engine (natives.c). */
#ifndef WF_NATIVES_H
#define WF_NATIVES_H

#include "wasm_export.h"
#include "wf/engine.h"

void wf_natives_bind(const wf_host_services_t *services);
#define WF_NATIVES_MAX 9u
/** Copy the natives of the granted capabilities only into out[cap]; returns their count. */
uint32_t wf_natives_select(uint32_t granted, NativeSymbol *out, uint32_t cap);

#endif
