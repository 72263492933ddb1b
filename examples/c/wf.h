/* Host ABI v1 (docs/protocol.md §6) for modules written in C: the imports of module "wf" and the
 * exports a host calls. Built freestanding (no libc) to wasm32 with clang + lld by examples/build.ts. */
#ifndef WF_MODULE_H
#define WF_MODULE_H

#define WF_IMPORT(name) __attribute__((import_module("wf"), import_name(#name)))
#define WF_EXPORT(name) __attribute__((export_name(#name)))

WF_IMPORT(log) void wf_log(const char *text, int len);
WF_IMPORT(now_ms) long long wf_now_ms(void);
WF_IMPORT(telemetry) int wf_telemetry(const char *name, int name_len, double value);
WF_IMPORT(config_get) int wf_config_get(const char *key, int key_len, char *out, int out_cap);
WF_IMPORT(kv_get) int wf_kv_get(const void *key, int key_len, void *out, int out_cap);
WF_IMPORT(kv_set) int wf_kv_set(const void *key, int key_len, const void *value, int value_len);
WF_IMPORT(gpio_read) int wf_gpio_read(int pin);
WF_IMPORT(gpio_write) int wf_gpio_write(int pin, int value);
WF_IMPORT(sensor_read) double wf_sensor_read(int channel);

/* sizeof a string literal without its NUL: WF_STR("x") → "x", 1 */
#define WF_STR(s) (s), (int)(sizeof(s) - 1)

#endif
