;; wf_init returns an error code.
(module
  (func (export "wf_init") (result i32) (i32.const 5))
  (func (export "wf_tick") (result i32) (i32.const 0)))
