/* wasmfleet-device settings: command-line flags, or key=value lines of a --config file with
 * the same names (flags given after --config override it). The MQTT password is never a flag
 * (other users see the command line): --password-file, $WASMFLEET_DEVICE_PASSWORD or the
 * config file's password= line. */
#ifndef WF_POSIX_CONFIG_H
#define WF_POSIX_CONFIG_H

#include <stdint.h>

typedef struct {
    char url[256];          /* mqtt://host:port or mqtts://host:port */
    char host[200];
    int port;
    int tls;                /* 1 for mqtts:// */
    char ca_file[400];      /* PEM CA that signs the broker's certificate (mqtts) */
    char cert_file[400];    /* PEM client certificate (CN = device id), instead of a password */
    char key_file[400];     /* its PEM private key */
    char password_file[400];
    char device_id[65];
    char username[128];
    char password[256];
    char root_key_hex[65];
    char state_dir[400];
    char capabilities[200]; /* csv */
    uint32_t max_chunk;
    uint32_t window;
    uint64_t memory;
    uint32_t budget;
    uint32_t probation_ticks;
    uint32_t slot_size;
    uint32_t freshness_grace;  /* seconds after boot without a freshness statement: stale */
    char clock_offset_file[400]; /* test hook: seconds added to the clock, re-read every loop */
} wf_posix_config_t;

/** Parse argv; prints usage and returns non-zero on an error or --help (then *exit_code). */
int wf_posix_config_parse(wf_posix_config_t *c, int argc, char **argv, int *exit_code);

#endif
