#include "config.h"

#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logging settings: written by main() before threads start,
 * read afterwards. This is the one sanctioned piece of global state. */
static struct {
        const char *ident;
        enum log_level max_level;
        int fd;
        bool journal;
} log_cfg = {
        .ident = "vdi",
        .max_level = LOG_LEVEL_INFO,
        .fd = -1,
};

static const char *const level_names[] = {
        [LOG_LEVEL_ERROR] = "error",   [LOG_LEVEL_WARNING] = "warning",
        [LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_DEBUG] = "debug",
};

/* systemd sets JOURNAL_STREAM=dev:ino when stderr is connected to journald. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(const char *ident, enum log_level max_level)
{
        log_cfg.ident = ident ? ident : "vdi";
        log_cfg.max_level = max_level;
        log_cfg.journal = stderr_is_journal();
}

void log_set_level(enum log_level max_level)
{
        log_cfg.max_level = max_level;
}

enum log_level log_get_level(void)
{
        return log_cfg.max_level;
}

void log_set_fd(int fd)
{
        log_cfg.fd = fd;
}

int log_level_from_string(const char *s, enum log_level *out)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
                if (level_names[i] && strcmp(level_names[i], s) == 0) {
                        *out = (enum log_level)i;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
        if ((size_t)level < ARRAY_SIZE(level_names) && level_names[level])
                return level_names[level];
        return "unknown";
}

/* Append s to buf (cap bytes) at *len, escaping control characters. */
static void append_escaped(char *buf, size_t cap, size_t *len, const char *s)
{
        for (; *s && *len + 5 < cap; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '\n') {
                        buf[(*len)++] = '\\';
                        buf[(*len)++] = 'n';
                } else if (c < 0x20 || c == 0x7f) {
                        *len += (size_t)snprintf(buf + *len, cap - *len, "\\x%02x", c);
                } else {
                        buf[(*len)++] = (char)c;
                }
        }
        buf[*len] = '\0';
}

void log_eventv(enum log_level level, const char *event, const char *fmt, va_list ap)
{
        char fields[3072] = "";
        char line[4096];
        size_t len = 0;
        int fd;

        if (level > log_cfg.max_level)
                return;

        if (fmt)
                vsnprintf(fields, sizeof(fields), fmt, ap);

        if (log_cfg.journal && log_cfg.fd < 0) {
                len = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
        } else {
                struct timespec ts;
                struct tm tm;
                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
                len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ldZ %s[%d]: ",
                                        ts.tv_nsec / 1000000, log_cfg.ident, (int)getpid());
        }
        len += (size_t)snprintf(line + len, sizeof(line) - len, "level=%s event=",
                                log_level_to_string(level));
        append_escaped(line, sizeof(line) - 2, &len, event ? event : "unknown");
        if (fields[0]) {
                line[len++] = ' ';
                append_escaped(line, sizeof(line) - 2, &len, fields);
        }
        line[len++] = '\n';

        fd = log_cfg.fd >= 0 ? log_cfg.fd : STDERR_FILENO;
        /* One write per line keeps lines from different threads whole. */
        (void)!write(fd, line, len);
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_eventv(level, event, fmt, ap);
        va_end(ap);
}

char *log_quote(const char *value)
{
        const char *v = value ? value : "(null)";
        bool plain = *v != '\0';
        size_t n = 0;
        char *out, *p;

        for (const char *s = v; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
                        plain = false;
                n++;
        }
        if (plain)
                return strdup(v);

        /* Worst case every byte becomes \xNN, plus quotes and NUL. */
        out = malloc(n * 4 + 3);
        if (!out)
                return NULL;
        p = out;
        *p++ = '"';
        for (const char *s = v; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\') {
                        *p++ = '\\';
                        *p++ = (char)c;
                } else if (c < 0x20 || c == 0x7f) {
                        p += sprintf(p, "\\x%02x", c);
                } else {
                        *p++ = (char)c;
                }
        }
        *p++ = '"';
        *p = '\0';
        return out;
}
