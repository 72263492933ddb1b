/* libmosquitto transport (single-threaded: mosquitto_loop runs from the device loop, so the
 * agent is only ever called from one thread). */
#define _POSIX_C_SOURCE 200809L
#include "transport_mosquitto.h"

#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wf/messages.h"

static bool connected;
static time_t next_retry;

static void topic(const wf_device_t *d, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", d->topic_prefix, suffix);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    wf_device_t *d = obj;
    char t[160];
    if (rc != 0) {
        fprintf(stderr, "[%s] mqtt: connection refused: %s\n", d->agent.cfg.device_id,
                mosquitto_connack_string(rc));
        return;
    }
    connected = true;
    topic(d, "directive", t, sizeof t);
    mosquitto_subscribe(m, NULL, t, 1);
    topic(d, "chunk", t, sizeof t);
    mosquitto_subscribe(m, NULL, t, 0);
    mosquitto_subscribe(m, NULL, WF_FRESHNESS_TOPIC, 1);
    wf_agent_on_connect(&d->agent); /* hello, online, report: all retained */
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    wf_device_t *d = obj;
    (void)m;
    (void)rc;
    connected = false;
    wf_agent_on_disconnect(&d->agent);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    wf_device_t *d = obj;
    size_t plen = strlen(d->topic_prefix);
    const char *suffix;
    (void)m;
    if (strcmp(msg->topic, WF_FRESHNESS_TOPIC) == 0) {
        wf_agent_on_freshness(&d->agent, msg->payload, (size_t)msg->payloadlen);
        return;
    }
    if (strncmp(msg->topic, d->topic_prefix, plen) != 0) { return; }
    suffix = msg->topic + plen;
    if (strcmp(suffix, "directive") == 0) {
        wf_agent_on_directive(&d->agent, msg->payload, (size_t)msg->payloadlen);
    } else if (strcmp(suffix, "chunk") == 0) {
        wf_agent_on_chunk(&d->agent, msg->payload, (size_t)msg->payloadlen);
    }
}

wf_status_t wf_mqtt_open(wf_device_t *d, const wf_posix_config_t *c)
{
    uint8_t off[4];
    size_t off_len;
    char t[160];

    mosquitto_lib_init();
    d->mosq = mosquitto_new(c->device_id, true, d);
    if (d->mosq == NULL) { return WF_TRANSPORT_ERROR; }
    mosquitto_connect_callback_set(d->mosq, on_connect);
    mosquitto_disconnect_callback_set(d->mosq, on_disconnect);
    mosquitto_message_callback_set(d->mosq, on_message);
    if (c->username[0] != '\0') {
        mosquitto_username_pw_set(d->mosq, c->username, c->password[0] != '\0' ? c->password : NULL);
    }
    if (c->tls) {
        /* OpenSSL under libmosquitto: verify the broker against the fleet CA and its host name;
         * present the device certificate when there is one (docs/security.md, transport). */
        int rc = mosquitto_tls_set(d->mosq, c->ca_file, NULL, c->cert_file[0] != '\0' ? c->cert_file : NULL,
                                   c->key_file[0] != '\0' ? c->key_file : NULL, NULL);
        if (rc == MOSQ_ERR_SUCCESS) { rc = mosquitto_tls_opts_set(d->mosq, 1, "tlsv1.2", NULL); }
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "[%s] mqtt: TLS setup failed (%s): check --ca, --cert, --key\n", c->device_id,
                    mosquitto_strerror(rc));
            return WF_TRANSPORT_ERROR;
        }
    }
    /* the broker says "offline" for us when the link dies (protocol.md §5 online) */
    (void)wf_online_encode(false, off, sizeof off, &off_len);
    topic(d, "online", t, sizeof t);
    mosquitto_will_set(d->mosq, t, (int)off_len, off, 1, true);
    mosquitto_reconnect_delay_set(d->mosq, 1, 10, true);
    if (mosquitto_connect(d->mosq, c->host, c->port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "[%s] mqtt: %s:%d not reachable yet, retrying\n", c->device_id, c->host, c->port);
        next_retry = time(NULL) + 1;
    }
    return WF_OK;
}

void wf_mqtt_run(wf_device_t *d, int wait_ms)
{
    int rc = mosquitto_loop(d->mosq, wait_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        struct timespec ts = {0, 100 * 1000000L};
        if (connected) {
            connected = false;
            wf_agent_on_disconnect(&d->agent);
        }
        if (time(NULL) >= next_retry) {
            next_retry = time(NULL) + 1;
            (void)mosquitto_reconnect(d->mosq);
        } else {
            nanosleep(&ts, NULL);
        }
    }
}

void wf_mqtt_reread_directive(wf_device_t *d)
{
    char t[160];
    if (!connected) { return; }
    topic(d, "directive", t, sizeof t);
    mosquitto_unsubscribe(d->mosq, NULL, t);
    mosquitto_subscribe(d->mosq, NULL, t, 1); /* the broker sends the retained one again */
}

void wf_mqtt_close(wf_device_t *d)
{
    uint8_t off[4];
    size_t off_len;
    char t[160];
    if (d->mosq == NULL) { return; }
    if (connected) {
        (void)wf_online_encode(false, off, sizeof off, &off_len);
        topic(d, "online", t, sizeof t);
        mosquitto_publish(d->mosq, NULL, t, (int)off_len, off, 1, true);
        mosquitto_loop(d->mosq, 100, 1);
        mosquitto_disconnect(d->mosq);
        mosquitto_loop(d->mosq, 100, 1);
    }
    mosquitto_destroy(d->mosq);
    d->mosq = NULL;
    mosquitto_lib_cleanup();
}
