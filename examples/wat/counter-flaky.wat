;; counter with a bug: wf_init traps on boards whose revision sensor (channel 7) reads >= 0.5.
;; On a simulated fleet that is about half the devices (sensors are deterministic per device seed):
;; they fail probation and revert by themselves. Capabilities: kv, sensor, telemetry.
(module
  (import "wf" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "wf" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "wf" "telemetry" (func $telemetry (param i32 i32 f64) (result i32)))
  (import "wf" "sensor_read" (func $sensor_read (param i32) (result f64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "count")
  (global $count (mut i32) (i32.const 0))
  (func (export "wf_init") (result i32)
    (if (f64.ge (call $sensor_read (i32.const 7)) (f64.const 0.5))
      (then unreachable))
    (if (i32.eq (call $kv_get (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 4)) (i32.const 4))
      (then (global.set $count (i32.load (i32.const 64)))))
    (i32.const 0))
  (func (export "wf_tick") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 2)))
    (i32.store (i32.const 64) (global.get $count))
    (drop (call $kv_set (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 4)))
    (drop (call $telemetry (i32.const 0) (i32.const 5) (f64.convert_i32_u (global.get $count))))
    (i32.const 0))
  (func (export "wf_health") (result i32) (i32.const 0)))
