/* .rdp and .vv connection files (broker/launch-file.h). */
#include "config.h"

#include "broker/launch-file.h"

#include <errno.h>
#include <stdbool.h>
#include <glib.h>
#include <string.h>

static bool one_line(const char *s)
{
        return !s || !strpbrk(s, "\r\n");
}

/* File names: keep [A-Za-z0-9._-], replace the rest. */
static char *safe_stem(const char *stem)
{
        char *s = g_strdup(stem && *stem ? stem : "desktop");
        for (char *p = s; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
                        *p = '_';
        return s;
}

static char *build_rdp(const struct launch_file_params *p)
{
        GString *s = g_string_new(NULL);
        /* Line endings: mstsc writes CRLF and reads both; keep CRLF. */
        g_string_append_printf(s, "full address:s:%s:%d\r\n", p->host, p->port);
        g_string_append_printf(s, "username:s:%s\r\n", p->username);
        if (p->routing_token && *p->routing_token)
                g_string_append_printf(s, "loadbalanceinfo:s:Cookie: msts=%s\r\n",
                                       p->routing_token);
        /* TLS + NLA; warn (do not connect silently) on a bad server
         * certificate; no saved credentials; no drive or clipboard
         * redirection unless the admin's policy adds it later. */
        g_string_append(s, "authentication level:i:2\r\n"
                           "enablecredsspsupport:i:1\r\n"
                           "prompt for credentials:i:1\r\n"
                           "promptcredentialonce:i:1\r\n"
                           "negotiate security layer:i:1\r\n"
                           "redirectdrives:i:0\r\n"
                           "redirectprinters:i:0\r\n"
                           "screen mode id:i:2\r\n"
                           "use multimon:i:0\r\n"
                           "autoreconnection enabled:i:1\r\n");
        return g_string_free(s, FALSE);
}

static char *build_vv(const struct launch_file_params *p)
{
        GString *s = g_string_new("[virt-viewer]\n");
        g_string_append(s, "type=spice\n");
        g_string_append_printf(s, "host=%s\n", p->host);
        g_string_append_printf(s, "tls-port=%d\n", p->port);
        g_string_append_printf(s, "password=%s\n", p->password);
        if (p->title && *p->title)
                g_string_append_printf(s, "title=%s\n", p->title);
        g_string_append(s, "delete-this-file=1\n");
        g_string_append(s, "secure-channels=all\n");
        if (p->ca_pem && *p->ca_pem) {
                /* virt-viewer: the CA as one line, newlines written as \n. */
                g_autoptr(GString) ca = g_string_new(NULL);
                for (const char *c = p->ca_pem; *c; c++) {
                        if (*c == '\n')
                                g_string_append(ca, "\\n");
                        else if (*c != '\r')
                                g_string_append_c(ca, *c);
                }
                g_string_append_printf(s, "ca=%s\n", ca->str);
        }
        if (p->host_subject && *p->host_subject)
                g_string_append_printf(s, "host-subject=%s\n", p->host_subject);
        return g_string_free(s, FALSE);
}

int launch_file_build(const char *protocol, const char *file_stem,
                      const struct launch_file_params *p, struct launch_file *out,
                      char **error)
{
        bool rdp = !strcmp(protocol, "rdp");
        g_autofree char *stem = safe_stem(file_stem);

        if (!rdp && strcmp(protocol, "spice") != 0) {
                *error = g_strdup_printf("unknown protocol \"%s\"", protocol);
                return -EINVAL;
        }
        if (!p->host || !*p->host || p->port < 1 || p->port > 65535 ||
            (rdp && (!p->username || !*p->username)) ||
            (!rdp && (!p->password || !*p->password))) {
                *error = g_strdup("connection file: host, port and credentials are required");
                return -EINVAL;
        }
        if (!one_line(p->title) || !one_line(p->host) || !one_line(p->username) ||
            !one_line(p->password) || !one_line(p->routing_token) ||
            !one_line(p->host_subject) || strchr(p->host, ' ') ||
            (p->routing_token && strpbrk(p->routing_token, " \t"))) {
                *error = g_strdup("connection file: a value from the host contains a line "
                                  "break or space where none is allowed");
                return -EINVAL;
        }
        *out = (struct launch_file){
                .name = g_strdup_printf("%s.%s", stem, rdp ? "rdp" : "vv"),
                .content_type = g_strdup(rdp ? "application/x-rdp" : "application/x-virt-viewer"),
                .content = rdp ? build_rdp(p) : build_vv(p),
        };
        return 0;
}

void launch_file_clear(struct launch_file *f)
{
        if (!f)
                return;
        g_free(f->name);
        g_free(f->content_type);
        if (f->content)
                explicit_bzero(f->content, strlen(f->content));
        g_free(f->content);
        memset(f, 0, sizeof(*f));
}
