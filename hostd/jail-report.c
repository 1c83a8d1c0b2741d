/* Reading vdi-vm's seccomp report (jail-report.h). The log is written by a
 * process that was just caught misbehaving: every byte is suspect. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hostd/jail-report.h"

#define MARK "event=seccomp_violation"

static bool is_token_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-' || c == '.';
}

/* key=VALUE within line[0..n) into out (size cap). */
static void field(const char *line, size_t n, const char *key, char *out, size_t cap)
{
        size_t klen = strlen(key), o = 0;

        for (size_t i = 0; i + klen < n; i++) {
                if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, key, klen) == 0 && line[i + klen] == '=') {
                        for (size_t k = i + klen + 1; k < n && is_token_char(line[k]) && o + 1 < cap; k++)
                                out[o++] = line[k];
                        break;
                }
        }
        if (o == 0)
                snprintf(out, cap, "unknown");
        else
                out[o] = 0;
}

int jail_report_find(const char *text, size_t len, struct jail_report *out)
{
        const char *line = NULL;
        size_t n = 0, start = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i < len && text[i] != '\n')
                        continue;
                if (memmem(text + start, i - start, MARK, sizeof(MARK) - 1)) {
                        line = text + start;
                        n = i - start;
                }
                start = i + 1;
        }
        if (!line)
                return -ENOENT;
        field(line, n, "syscall", out->syscall, sizeof(out->syscall));
        field(line, n, "class", out->cls, sizeof(out->cls));
        field(line, n, "thread", out->thread, sizeof(out->thread));
        return 0;
}
