;; Imports wf.log with the wrong type.
(module
  (import "wf" "log" (func $log (param i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (i32.const 0)))
