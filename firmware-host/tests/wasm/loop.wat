;; wf_tick never returns: the instruction budget must stop it.
(module
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (loop $l (br $l)) (i32.const 0)))
