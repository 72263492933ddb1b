/* Text rules shared by every side (protocol/fields.ts PATTERNS) and semver precedence. */
#ifndef WF_TEXT_H
#define WF_TEXT_H

#include <stdbool.h>

#include "wf/cbor.h"

/** [A-Za-z0-9_-]{1,64} */
bool wf_is_device_id(wf_slice_t s);
/** [A-Za-z0-9._-]{1,64} */
bool wf_is_component(wf_slice_t s);
/** MAJOR.MINOR.PATCH[-PRERELEASE] as protocol.md §3.2 (numbers ≤ 9 digits, no leading zero,
 *  prerelease [0-9A-Za-z.-]{1,20}). */
bool wf_is_semver(wf_slice_t s);
/** Semver 2.0 §11 precedence of two valid versions: <0, 0, >0. */
int wf_semver_compare(wf_slice_t a, wf_slice_t b);
/** Bytewise order (shorter first on a common prefix), as JavaScript compares ASCII strings. */
int wf_slice_compare(wf_slice_t a, wf_slice_t b);

#endif
