;; Declares one page without a maximum, then grows by 16 pages every tick:
;; the host must stop it at the manifest's page limit (MODULE_OUT_OF_MEMORY).
(module
  (memory (export "memory") 1)
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32)
    (drop (memory.grow (i32.const 16)))
    (i32.const 0)))
