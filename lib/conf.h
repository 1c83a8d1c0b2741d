/* INI configuration files (/etc/vdi/<daemon>.conf) loaded through GKeyFile
 * against a schema. Every problem is reported as one message naming the
 * file, the [group] and key, and the reason, e.g.
 *   /etc/vdi/broker.conf: [http] port: 70000 is out of range 1..65535
 * Unknown groups and keys are errors too: a typo must not be ignored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum conf_type {
        CONF_STRING,  /* char * (malloc'd) */
        CONF_PATH,    /* char *, must be absolute */
        CONF_INT,     /* int64_t, within [min, max] */
        CONF_BOOL,    /* bool: true/false/yes/no/1/0 */
        CONF_STRLIST, /* char ** (NULL-terminated, g_strfreev), ';' or ',' separated */
};

enum conf_flags {
        CONF_REQUIRED = 1 << 0,    /* no default: the key must be present */
        CONF_FILE_EXISTS = 1 << 1, /* CONF_PATH must name a readable file */
        CONF_SECRET = 1 << 2,      /* never echo the value in an error */
};

/* One key of a schema. offset is offsetof() the field in the target struct. */
struct conf_option {
        const char *group;
        const char *key;
        enum conf_type type;
        size_t offset;
        const char *def; /* default as text; NULL means unset (or required) */
        int64_t min, max;
        unsigned flags;
        const char *help; /* one line, shown by conf_print_example */
};

/* Load path into target according to opts[0..n). Defaults are applied
 * first. On failure returns -EINVAL (or -errno for I/O), stores a malloc'd
 * message in *error, and leaves target with defaults only (call conf_free
 * on it either way). */
int conf_load_file(const char *path, const struct conf_option *opts, size_t n, void *target,
                   char **error);

/* Same, from an in-memory INI text; name is used in messages. */
int conf_load_data(const char *name, const char *data, const struct conf_option *opts, size_t n,
                   void *target, char **error);

/* Free the strings and lists conf_load_* stored in target. */
void conf_free(const struct conf_option *opts, size_t n, void *target);

/* Write a commented example file for the schema (every key, its default and
 * its help line) to f. Used to keep shipped examples honest. */
void conf_print_example(const struct conf_option *opts, size_t n, FILE *f);
