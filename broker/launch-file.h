/* Connection files handed to clients (DESIGN.md §4):
 *   .rdp  full address, username, loadbalanceinfo (routing token), and
 *         security settings that make mstsc/xfreerdp use TLS + NLA. A .rdp
 *         file cannot carry a cleartext password that mstsc accepts (its
 *         "password 51:b:" field is DPAPI-encrypted for one Windows user),
 *         so the one-time password travels in the launch answer instead and
 *         the portal shows it with a copy button (xfreerdp takes /p:).
 *   .vv   virt-viewer file for SPICE: host, tls-port, password (the
 *         ticket), delete-this-file=1, and the cluster CA / host subject
 *         when known, so remote-viewer verifies the host.
 * Values come from hosts and the directory: anything with a line break or
 * a NUL is refused, so no value can add a line to the file. */
#pragma once

#include <stddef.h>

struct launch_file_params {
        const char *title;    /* shown by the client, e.g. the pool's display name */
        const char *host;     /* address the client connects to */
        int port;
        const char *username; /* RDP user name / SPICE has none */
        const char *password; /* SPICE ticket (the .vv carries it) */
        const char *routing_token; /* RDP load-balancing cookie; may be NULL or "" */
        const char *ca_pem;        /* SPICE: CA certificate(s) to trust; may be NULL */
        const char *host_subject;  /* SPICE: expected certificate subject; may be NULL */
        int expires_in;
};

struct launch_file {
        char *name;         /* suggested file name, e.g. "office.rdp" */
        char *content_type; /* "application/x-rdp" or "application/x-virt-viewer" */
        char *content;
};

/* Build the file for protocol "rdp" or "spice". 0, or -EINVAL (with a
 * message) when a value cannot be written safely. */
int launch_file_build(const char *protocol, const char *file_stem,
                      const struct launch_file_params *p, struct launch_file *out,
                      char **error);
void launch_file_clear(struct launch_file *f);
