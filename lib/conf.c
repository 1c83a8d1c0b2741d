#include "config.h"

#include "conf.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"

static void *field(void *target, const struct conf_option *o)
{
        return (char *)target + o->offset;
}

static void clear_field(void *target, const struct conf_option *o)
{
        switch (o->type) {
        case CONF_STRING:
        case CONF_PATH: {
                char **p = field(target, o);
                g_free(*p);
                *p = NULL;
                break;
        }
        case CONF_STRLIST: {
                char ***p = field(target, o);
                g_strfreev(*p);
                *p = NULL;
                break;
        }
        case CONF_INT:
                *(int64_t *)field(target, o) = 0;
                break;
        case CONF_BOOL:
                *(bool *)field(target, o) = false;
                break;
        }
}

/* Parse text for option o into target; on error return a malloc'd reason. */
static char *set_value(void *target, const struct conf_option *o, const char *text)
{
        switch (o->type) {
        case CONF_STRING:
                g_free(*(char **)field(target, o));
                *(char **)field(target, o) = g_strdup(text);
                return NULL;
        case CONF_PATH:
                if (text[0] != '/')
                        return g_strdup_printf("\"%s\" is not an absolute path", text);
                if ((o->flags & CONF_FILE_EXISTS) && access(text, R_OK) < 0)
                        return g_strdup_printf("cannot read \"%s\": %s", text, g_strerror(errno));
                g_free(*(char **)field(target, o));
                *(char **)field(target, o) = g_strdup(text);
                return NULL;
        case CONF_INT: {
                gint64 v;
                g_autoptr(GError) err = NULL;
                if (!g_ascii_string_to_signed(text, 10, o->min, o->max, &v, &err)) {
                        if (o->flags & CONF_SECRET)
                                return g_strdup("invalid value");
                        if (err && err->code == G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)
                                return g_strdup_printf("%s is out of range %" G_GINT64_FORMAT
                                                       "..%" G_GINT64_FORMAT,
                                                       text, (gint64)o->min, (gint64)o->max);
                        return g_strdup_printf("\"%s\" is not an integer", text);
                }
                *(int64_t *)field(target, o) = v;
                return NULL;
        }
        case CONF_BOOL:
                if (!g_ascii_strcasecmp(text, "true") || !g_ascii_strcasecmp(text, "yes") ||
                    !strcmp(text, "1") || !g_ascii_strcasecmp(text, "on")) {
                        *(bool *)field(target, o) = true;
                        return NULL;
                }
                if (!g_ascii_strcasecmp(text, "false") || !g_ascii_strcasecmp(text, "no") ||
                    !strcmp(text, "0") || !g_ascii_strcasecmp(text, "off")) {
                        *(bool *)field(target, o) = false;
                        return NULL;
                }
                return g_strdup_printf("\"%s\" is not a boolean (use true or false)", text);
        case CONF_STRLIST: {
                char **parts = g_strsplit_set(text, ";,", -1);
                GPtrArray *list = g_ptr_array_new();
                for (char **p = parts; *p; p++) {
                        char *s = g_strstrip(*p);
                        if (*s)
                                g_ptr_array_add(list, g_strdup(s));
                }
                g_ptr_array_add(list, NULL);
                g_strfreev(parts);
                g_strfreev(*(char ***)field(target, o));
                *(char ***)field(target, o) = (char **)g_ptr_array_free(list, FALSE);
                return NULL;
        }
        }
        return g_strdup("internal error: unknown option type");
}

static const struct conf_option *find_option(const struct conf_option *opts, size_t n,
                                             const char *group, const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(opts[i].group, group) && (!key || !strcmp(opts[i].key, key)))
                        return &opts[i];
        return NULL;
}

static int load_keyfile(const char *name, GKeyFile *kf, const struct conf_option *opts, size_t n,
                        void *target, char **error)
{
        g_auto(GStrv) groups = NULL;

        for (size_t i = 0; i < n; i++) {
                clear_field(target, &opts[i]);
                if (opts[i].def) {
                        g_autofree char *why = set_value(target, &opts[i], opts[i].def);
                        if (why) {
                                *error = g_strdup_printf("%s: [%s] %s: bad built-in default: %s",
                                                         name, opts[i].group, opts[i].key, why);
                                return -EINVAL;
                        }
                }
        }

        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_auto(GStrv) keys = NULL;

                if (!find_option(opts, n, *g, NULL)) {
                        *error = g_strdup_printf("%s: [%s]: unknown section", name, *g);
                        return -EINVAL;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = keys; k && *k; k++) {
                        const struct conf_option *o = find_option(opts, n, *g, *k);
                        g_autofree char *raw = NULL;
                        g_autofree char *why = NULL;

                        if (!o) {
                                *error = g_strdup_printf("%s: [%s] %s: unknown key", name, *g, *k);
                                return -EINVAL;
                        }
                        raw = g_key_file_get_string(kf, *g, *k, NULL);
                        if (!raw)
                                raw = g_strdup("");
                        g_strstrip(raw);
                        if (!*raw && (o->flags & CONF_REQUIRED)) {
                                *error = g_strdup_printf("%s: [%s] %s: must not be empty", name,
                                                         *g, *k);
                                return -EINVAL;
                        }
                        why = set_value(target, o, raw);
                        if (why) {
                                *error = g_strdup_printf("%s: [%s] %s: %s", name, *g, *k, why);
                                return -EINVAL;
                        }
                }
        }

        for (size_t i = 0; i < n; i++) {
                if ((opts[i].flags & CONF_REQUIRED) &&
                    !g_key_file_has_key(kf, opts[i].group, opts[i].key, NULL)) {
                        *error = g_strdup_printf("%s: [%s] %s: required key is missing", name,
                                                 opts[i].group, opts[i].key);
                        return -EINVAL;
                }
        }
        return 0;
}

int conf_load_data(const char *name, const char *data, const struct conf_option *opts, size_t n,
                   void *target, char **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) err = NULL;

        if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &err)) {
                *error = g_strdup_printf("%s: %s", name, err->message);
                return -EINVAL;
        }
        return load_keyfile(name, kf, opts, n, target, error);
}

int conf_load_file(const char *path, const struct conf_option *opts, size_t n, void *target,
                   char **error)
{
        g_autofree char *data = NULL;
        g_autoptr(GError) err = NULL;

        if (!g_file_get_contents(path, &data, NULL, &err)) {
                int r = err->domain == G_FILE_ERROR && err->code == G_FILE_ERROR_NOENT ? -ENOENT
                                                                                      : -EIO;
                *error = g_strdup_printf("%s: cannot read configuration: %s", path, err->message);
                return r;
        }
        return conf_load_data(path, data, opts, n, target, error);
}

void conf_free(const struct conf_option *opts, size_t n, void *target)
{
        if (!target)
                return;
        for (size_t i = 0; i < n; i++)
                clear_field(target, &opts[i]);
}

void conf_print_example(const struct conf_option *opts, size_t n, FILE *f)
{
        const char *group = NULL;

        for (size_t i = 0; i < n; i++) {
                const struct conf_option *o = &opts[i];
                if (!group || strcmp(group, o->group)) {
                        fprintf(f, "%s[%s]\n", group ? "\n" : "", o->group);
                        group = o->group;
                }
                if (o->help)
                        fprintf(f, "# %s\n", o->help);
                if (o->flags & CONF_REQUIRED)
                        fprintf(f, "# (required)\n%s=\n", o->key);
                else
                        fprintf(f, "#%s=%s\n", o->key, o->def ? o->def : "");
        }
}
