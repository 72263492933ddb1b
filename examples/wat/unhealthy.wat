;; Runs, but wf_health reports a fault: probation must fail with MODULE_HEALTH.
(module
  (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (i32.const 0))
  (func (export "wf_health") (result i32) (i32.const 1)))
