/* MQTT transport on libmosquitto: connect with the online=false will, subscribe to the
 * device's directive and chunk topics, dispatch messages to the agent (protocol.md §5). */
#ifndef WF_TRANSPORT_MOSQUITTO_H
#define WF_TRANSPORT_MOSQUITTO_H

#include "config.h"
#include "device.h"

/** @return WF_OK or WF_TRANSPORT_ERROR (library or client setup failed). */
wf_status_t wf_mqtt_open(wf_device_t *d, const wf_posix_config_t *c);
/** Run network I/O for up to `wait_ms`; reconnects when the link is down. */
void wf_mqtt_run(wf_device_t *d, int wait_ms);
/** Ask the broker for the retained directive again (after a deferred one). */
void wf_mqtt_reread_directive(wf_device_t *d);
/** Clean exit: online=false (retained), disconnect. */
void wf_mqtt_close(wf_device_t *d);

#endif
