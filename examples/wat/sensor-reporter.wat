;; Reads sensor channel 0 every tick and publishes it as "temperature" telemetry.
;; Capabilities: sensor, telemetry.
(module
  (import "wf" "sensor_read" (func $sensor_read (param i32) (result f64)))
  (import "wf" "telemetry" (func $telemetry (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "temperature")
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32)
    (drop (call $telemetry (i32.const 0) (i32.const 11) (call $sensor_read (i32.const 0))))
    (i32.const 0)))
