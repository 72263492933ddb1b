;; Traps in wf_init.
(module
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) unreachable)
  (func (export "wf_tick") (result i32) (i32.const 0)))
