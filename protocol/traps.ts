// Trap messages in one vocabulary (docs/protocol.md §6): every host reports a trap in a wf_* call
// as MODULE_TRAP with the detail "<entry>: <name>", the name being one of TRAP_NAMES (the
// WebAssembly spec's wording). Engines word their traps differently; ENGINE_ALIASES maps theirs.
export const TRAP_NAMES = [
  'unreachable',
  'integer divide by zero',
  'integer overflow',
  'invalid conversion to integer',
  'out of bounds memory access',
  'out of bounds table access',
  'undefined element',
  'indirect call type mismatch',
  'stack overflow',
] as const;
export type TrapName = (typeof TRAP_NAMES)[number];

/** Other engines' words for the same traps (V8; wasm3 "[trap] ..."; WAMR's are normalized in C, engine_wamr.c). */
const ENGINE_ALIASES: Record<string, TrapName> = {
  'divide by zero': 'integer divide by zero',
  'remainder by zero': 'integer divide by zero',
  'divide result unrepresentable': 'integer overflow',
  'float unrepresentable in integer range': 'invalid conversion to integer',
  'memory access out of bounds': 'out of bounds memory access',
  'table index is out of bounds': 'undefined element',
  'null function or function signature mismatch': 'indirect call type mismatch',
  'Maximum call stack size exceeded': 'stack overflow',
  'unreachable executed': 'unreachable',
  'integer overflow': 'integer overflow',
};

/** The canonical name of an engine's trap message; other messages (host errors) unchanged. */
export function normalizeTrap(message: string): string {
  const m = message.replace(/^\[trap\]\s*/, '').replace(/^RuntimeError:\s*/, '').trim();
  if ((TRAP_NAMES as readonly string[]).includes(m)) return m;
  return ENGINE_ALIASES[m] ?? m;
}
