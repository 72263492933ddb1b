;; Runs, but wf_health says it is not well.
(module
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (i32.const 0))
  (func (export "wf_health") (result i32) (i32.const 1)))
