;; Imports a function outside host ABI v1.
(module
  (import "env" "system" (func $s (param i32) (result i32)))
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (i32.const 0)))
