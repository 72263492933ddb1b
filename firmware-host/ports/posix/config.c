/* Flag and config-file parsing for wasmfleet-device. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
    fprintf(to,
            "usage: wasmfleet-device --url mqtt[s]://HOST:PORT --id DEVICE --root-key HEX64\n"
            "                        --state-dir DIR [options]\n"
            "  --username USER                     MQTT user name (default: none)\n"
            "  --password-file FILE                MQTT password, first line of FILE (or the\n"
            "                                      environment: WASMFLEET_DEVICE_PASSWORD)\n"
            "  --ca FILE                           CA of the broker's certificate (mqtts://)\n"
            "  --cert FILE / --key FILE            client certificate (CN = device id) and\n"
            "                                      its key, instead of a password (mqtts://)\n"
            "  --capabilities LIST                 granted, comma separated (default\n"
            "                                      clock,config,kv,log,telemetry)\n"
            "  --max-chunk BYTES                   256..65536 (default 4096)\n"
            "  --window N                          chunk requests in flight (default 4)\n"
            "  --memory BYTES                      for module linear memory (default 262144)\n"
            "  --budget N                          instructions per entry call (default 10000000)\n"
            "  --probation-ticks N                 clean ticks before commit (default 3)\n"
            "  --slot-size BYTES                   per slot (default 1048576)\n"
            "  --freshness-grace SECONDS           stale after this long without a freshness\n"
            "                                      statement since boot (default 3600)\n"
            "  --clock-offset-file FILE            tests: seconds to add to the clock (re-read)\n"
            "  --config FILE                       key=value lines with the names above\n");
}

static int set(wf_posix_config_t *c, const char *key, const char *val)
{
#define STR(name, field) if (strcmp(key, name) == 0) { snprintf(c->field, sizeof c->field, "%s", val); return 0; }
#define NUM(name, field) if (strcmp(key, name) == 0) { c->field = (__typeof__(c->field))strtoull(val, NULL, 10); return 0; }
    STR("url", url) STR("id", device_id) STR("username", username) STR("password", password)
    STR("password-file", password_file) STR("ca", ca_file) STR("cert", cert_file) STR("key", key_file)
    STR("root-key", root_key_hex) STR("state-dir", state_dir) STR("capabilities", capabilities)
    NUM("max-chunk", max_chunk) NUM("window", window) NUM("memory", memory) NUM("budget", budget)
    NUM("probation-ticks", probation_ticks) NUM("slot-size", slot_size)
    NUM("freshness-grace", freshness_grace) STR("clock-offset-file", clock_offset_file)
#undef STR
#undef NUM
    return -1;
}

static int load_file(wf_posix_config_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[600];
    if (f == NULL) { fprintf(stderr, "cannot read %s\n", path); return -1; }
    while (fgets(line, sizeof line, f) != NULL) {
        char *eq, *end;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') { continue; }
        eq = strchr(line, '=');
        if (eq == NULL) { continue; }
        *eq = '\0';
        end = eq + 1;
        if (set(c, line, end) != 0) { fprintf(stderr, "%s: unknown key %s\n", path, line); fclose(f); return -1; }
    }
    fclose(f);
    return 0;
}

static int parse_url(wf_posix_config_t *c)
{
    const char *p = c->url;
    const char *colon;
    if (strncmp(p, "mqtt://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "mqtts://", 8) == 0) {
        p += 8;
        c->tls = 1;
    } else {
        return -1;
    }
    colon = strrchr(p, ':');
    if (colon == NULL) {
        snprintf(c->host, sizeof c->host, "%s", p);
        c->port = c->tls ? 8883 : 1883;
    } else {
        snprintf(c->host, sizeof c->host, "%.*s", (int)(colon - p), p);
        c->port = atoi(colon + 1);
    }
    return (c->host[0] != '\0' && c->port > 0 && c->port < 65536) ? 0 : -1;
}

/* The password: --password-file (first line), else $WASMFLEET_DEVICE_PASSWORD, else the config
 * file's password= line. */
static int read_password(wf_posix_config_t *c)
{
    const char *env = getenv("WASMFLEET_DEVICE_PASSWORD");
    if (c->password_file[0] != '\0') {
        FILE *f = fopen(c->password_file, "r");
        if (f == NULL) { fprintf(stderr, "cannot read --password-file %s\n", c->password_file); return -1; }
        if (fgets(c->password, sizeof c->password, f) == NULL) { c->password[0] = '\0'; }
        fclose(f);
        c->password[strcspn(c->password, "\r\n")] = '\0';
        if (c->password[0] == '\0') { fprintf(stderr, "--password-file %s is empty\n", c->password_file); return -1; }
    } else if (env != NULL && env[0] != '\0') {
        snprintf(c->password, sizeof c->password, "%s", env);
    }
    return 0;
}

int wf_posix_config_parse(wf_posix_config_t *c, int argc, char **argv, int *exit_code)
{
    int i;
    memset(c, 0, sizeof *c);
    snprintf(c->capabilities, sizeof c->capabilities, "clock,config,kv,log,telemetry");
    c->max_chunk = 4096;
    c->window = 4;
    c->memory = 262144;
    c->budget = 10000000;
    c->probation_ticks = 3;
    c->slot_size = 1024u * 1024u;
    *exit_code = 2;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); *exit_code = 0; return -1; }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) { usage(stderr); return -1; }
        if (strcmp(a, "--config") == 0) {
            if (load_file(c, argv[++i]) != 0) { return -1; }
            continue;
        }
        if (strcmp(a, "--password") == 0) {
            fprintf(stderr, "--password is not taken on the command line (other users can read it): "
                            "use --password-file FILE or WASMFLEET_DEVICE_PASSWORD\n");
            return -1;
        }
        if (set(c, a + 2, argv[++i]) != 0) { fprintf(stderr, "unknown flag %s\n", a); usage(stderr); return -1; }
    }
    if (read_password(c) != 0) { return -1; }
    if (c->url[0] == '\0' || c->device_id[0] == '\0' || strlen(c->root_key_hex) != 64 ||
        c->state_dir[0] == '\0') {
        fprintf(stderr, "--url, --id, --root-key (64 hex digits) and --state-dir are required\n");
        usage(stderr);
        return -1;
    }
    if (parse_url(c) != 0) { fprintf(stderr, "--url must be mqtt://host:port or mqtts://host:port\n"); return -1; }
    if ((c->cert_file[0] != '\0') != (c->key_file[0] != '\0')) { fprintf(stderr, "--cert and --key go together\n"); return -1; }
    if (!c->tls && (c->ca_file[0] != '\0' || c->cert_file[0] != '\0')) {
        fprintf(stderr, "--ca, --cert and --key need an mqtts:// --url\n");
        return -1;
    }
    if (c->tls && c->ca_file[0] == '\0') { fprintf(stderr, "mqtts:// needs --ca FILE (the fleet CA)\n"); return -1; }
    if (c->max_chunk < 256 || c->max_chunk > 65536) { fprintf(stderr, "--max-chunk must be 256..65536\n"); return -1; }
    return 0;
}
