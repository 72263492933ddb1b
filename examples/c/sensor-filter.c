/* A sensor filter: an exponential moving average of sensor channel 0, reported as telemetry
 * "filtered". Its state (the average and the sample count) lives in kv, so an update or a restart
 * carries on from where it was. Capabilities: kv, sensor, telemetry. */
#include "wf.h"

struct state {
    double average;
    int samples;
};

static struct state st;

WF_EXPORT(wf_init) int wf_init(void)
{
    struct state saved;
    if (wf_kv_get(WF_STR("filter"), &saved, sizeof saved) == (int)sizeof saved) st = saved;
    return 0;
}

WF_EXPORT(wf_tick) int wf_tick(void)
{
    double x = wf_sensor_read(0);
    /* the first sample starts the average; then each new one weighs 1/4 */
    st.average = st.samples == 0 ? x : st.average + (x - st.average) / 4.0;
    st.samples++;
    if (wf_kv_set(WF_STR("filter"), &st, sizeof st) != 0) return 1;
    wf_telemetry(WF_STR("filtered"), st.average);
    wf_telemetry(WF_STR("samples"), (double)st.samples);
    return 0;
}

WF_EXPORT(wf_health) int wf_health(void)
{
    /* a sensor value outside [0, 1) means the filter state is garbage */
    return (st.average >= 0.0 && st.average < 1.0) ? 0 : 1;
}
