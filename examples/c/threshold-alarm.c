/* An alarm driven by its directive's config: "threshold" (a decimal, e.g. 0.5) and "pin" (the
 * gpio of the alarm, default 13). Each tick it reads sensor channel 1, sets the pin when the value
 * is at or above the threshold, and reports "level" and "alarm". Without a threshold in its config
 * wf_init fails (MODULE_INIT_FAILED): a misconfigured deploy reverts by itself.
 * Capabilities: config, gpio, log, sensor, telemetry. */
#include "wf.h"

static double threshold;
static int pin = 13;

/* A decimal like "0.75" or "12" (no libc here). */
static int parse_decimal(const char *s, int n, double *out)
{
    double v = 0.0, scale = 1.0;
    int i = 0, digits = 0, frac = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && !frac) {
            frac = 1;
        } else if (c >= '0' && c <= '9') {
            digits++;
            if (frac) {
                scale /= 10.0;
                v += (c - '0') * scale;
            } else {
                v = v * 10.0 + (c - '0');
            }
        } else {
            return -1;
        }
    }
    if (digits == 0) return -1;
    *out = v;
    return 0;
}

WF_EXPORT(wf_init) int wf_init(void)
{
    char buf[32];
    double p;
    int n = wf_config_get(WF_STR("threshold"), buf, sizeof buf);
    if (n < 0 || n > (int)sizeof buf || parse_decimal(buf, n, &threshold) != 0) {
        wf_log(WF_STR("threshold-alarm: no valid \"threshold\" in the config"));
        return 1;
    }
    n = wf_config_get(WF_STR("pin"), buf, sizeof buf);
    if (n > 0 && n <= (int)sizeof buf && parse_decimal(buf, n, &p) == 0 && p < 64.0) pin = (int)p;
    wf_log(WF_STR("threshold-alarm: armed"));
    return 0;
}

WF_EXPORT(wf_tick) int wf_tick(void)
{
    double level = wf_sensor_read(1);
    int on = level >= threshold;
    if (wf_gpio_write(pin, on) != 0) return 1;
    wf_telemetry(WF_STR("level"), level);
    wf_telemetry(WF_STR("alarm"), (double)on);
    return 0;
}

WF_EXPORT(wf_health) int wf_health(void)
{
    /* the pin must read back what was written */
    return wf_gpio_read(pin) == (wf_sensor_read(1) >= threshold) ? 0 : 1;
}
