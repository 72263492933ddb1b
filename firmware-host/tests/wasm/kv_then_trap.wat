;; Writes count = 1000 in wf_init, then traps in its first tick: a trial whose kv writes must be undone.
(module
  (import "wf" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "count")
  (data (i32.const 64) "\e8\03\00\00")
  (func (export "wf_init") (result i32)
    (drop (call $kv_set (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 4)))
    (i32.const 0))
  (func (export "wf_tick") (result i32) unreachable))
