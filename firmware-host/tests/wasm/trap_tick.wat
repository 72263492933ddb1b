;; Divides by zero on the second tick.
(module
  (global $n (mut i32) (i32.const 1))
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32)
    (global.set $n (i32.sub (global.get $n) (i32.const 1)))
    (drop (i32.div_u (i32.const 1) (global.get $n)))
    (i32.const 0)))
