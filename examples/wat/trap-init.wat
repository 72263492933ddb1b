;; Traps in wf_init: a device must refuse to commit it and revert to its previous module.
(module
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) unreachable)
  (func (export "wf_tick") (result i32) (i32.const 0)))
