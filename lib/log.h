/* Structured logging: one line per event, "level=… event=… key=value…".
 *
 * Lines go to stderr (or a descriptor set with log_set_fd). Under systemd,
 * when stderr is the journal stream, each line carries a "<N>" syslog
 * priority prefix and no timestamp, so journald records the level.
 * Secrets (passwords, tickets, tokens) must never be passed to these
 * functions; pass an identifier instead. */
#pragma once

#include <stdarg.h>

#include "macro.h"

enum log_level {
        LOG_LEVEL_ERROR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

/* Configure once from main(), before threads start. */
void log_setup(const char *ident, enum log_level max_level);
void log_set_level(enum log_level max_level);
enum log_level log_get_level(void);
/* Write to fd instead of stderr (tests); -1 restores stderr. */
void log_set_fd(int fd);

/* Parse "error|warning|notice|info|debug"; 0 or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *out);
const char *log_level_to_string(enum log_level level);

/* Log one event. fmt (may be NULL) formats the key=value fields. Control
 * characters in the formatted text are escaped so a value can never forge a
 * second line. Safe from several threads: each line is one write(). */
void log_event(enum log_level level, const char *event, const char *fmt, ...) _printf_(3, 4);
void log_eventv(enum log_level level, const char *event, const char *fmt, va_list ap) _printf_(3, 0);

/* Quote a value for a key=value field: returned as-is when it has no
 * spaces, quotes, '=' or control characters, else in double quotes with
 * backslash escapes. Returns a malloc'd string (NULL → "(null)"), or NULL on
 * allocation failure. */
char *log_quote(const char *value);

#define log_error(event, ...) log_event(LOG_LEVEL_ERROR, event, __VA_ARGS__)
#define log_warning(event, ...) log_event(LOG_LEVEL_WARNING, event, __VA_ARGS__)
#define log_notice(event, ...) log_event(LOG_LEVEL_NOTICE, event, __VA_ARGS__)
#define log_info(event, ...) log_event(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_debug(event, ...) log_event(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
