;; Lacks wf_tick.
(module
  (func (export "wf_init") (result i32) (i32.const 0)))
