/*
 * Host ABI v1 (docs/protocol.md §6): the imports a module may use, their exact wasm types, and
 * the capability each needs. One table, used by the manifest check (capabilities ⊆ granted),
 * by the module import check (imports ⊆ granted capabilities' imports) and by the engine, which
 * registers natives only for granted capabilities.
 */
#ifndef WF_ABI_H
#define WF_ABI_H

#include <stddef.h>
#include <stdint.h>

#define WF_ABI_VERSION 1u
#define WF_ABI_MODULE "wf"

/* Capability bits. WF_CAP_UNKNOWN marks a name outside ABI v1: it is never granted. */
#define WF_CAP_CLOCK     (1u << 0)
#define WF_CAP_CONFIG    (1u << 1)
#define WF_CAP_GPIO      (1u << 2)
#define WF_CAP_KV        (1u << 3)
#define WF_CAP_LOG       (1u << 4)
#define WF_CAP_SENSOR    (1u << 5)
#define WF_CAP_TELEMETRY (1u << 6)
#define WF_CAP_UNKNOWN   (1u << 31)
#define WF_CAP_BASE (WF_CAP_CLOCK | WF_CAP_CONFIG | WF_CAP_KV | WF_CAP_LOG | WF_CAP_TELEMETRY)

/* Entry-point export bits (release manifest key 9). */
#define WF_EXPORT_HEALTH (1u << 0)
#define WF_EXPORT_INIT   (1u << 1)
#define WF_EXPORT_TICK   (1u << 2)

/* Per-host limits (protocol.md §6). */
#define WF_KV_KEY_MAX 64u
#define WF_KV_VALUE_MAX 1024u
#define WF_KV_ENTRIES_MAX 64u
#define WF_LOG_LINE_MAX 256u
#define WF_CONFIG_VALUE_MAX 256u

typedef struct {
    const char *name;        /**< import field name in module "wf" */
    const char *signature;   /**< WAMR-style signature: "(ii)", "()I", "(**F)i" ... */
    const char *wasm_type;   /**< params->results with i/I/f/F letters: "ii>", ">I" */
    uint32_t capability;     /**< WF_CAP_* */
    uint8_t pointers;        /**< takes offsets into the module's exported memory */
} wf_abi_import_t;

extern const wf_abi_import_t wf_abi_imports[];
extern const size_t wf_abi_import_count;

/** Capability bit for a name ("kv" -> WF_CAP_KV); WF_CAP_UNKNOWN for any other name. */
uint32_t wf_capability_bit(const char *name, size_t len);

/** Name of one capability bit, or NULL. */
const char *wf_capability_name(uint32_t bit);

/** Parse "clock,kv,log" into bits. Unknown names set WF_CAP_UNKNOWN. */
uint32_t wf_capabilities_parse(const char *csv);

/** The ABI v1 import named `name`, or NULL. */
const wf_abi_import_t *wf_abi_find(const char *name, size_t len);

#endif
