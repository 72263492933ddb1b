;; wf_tick never returns: the host's per-call time budget must stop it and revert.
(module
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
