;; Imports a function outside host ABI v1: publishing it must be refused (ABI_UNKNOWN_IMPORT).
(module
  (import "wf" "launch_missiles" (func $launch (param i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) (drop (call $launch (i32.const 1))) (i32.const 0))
  (func (export "wf_tick") (result i32) (i32.const 0)))
