/* Request helpers shared by the handlers: errors, body fields, result
 * rows as JSON, timings and audit. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"
#include "log.h"

void api_internal_error(struct http_response *resp, const char *event, const char *what,
                        const char *error)
{
        log_error(event, "what=\"%s\" error=\"%s\"", what, error ? error : "unknown");
        http_respond_error(resp, 500, "internal",
                           "the broker failed to %s; the error is in its log", what);
}

void api_db_error(struct http_response *resp, const char *what, int r, const char *error)
{
        if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET || r == -EAGAIN) {
                log_error("database_unavailable", "what=\"%s\" error=\"%s\"", what,
                          error ? error : "unknown");
                http_respond_error(resp, 503, "database_unavailable",
                                   "the broker's database is not answering; try again shortly");
                http_add_header(resp, "Retry-After", "5");
                return;
        }
        api_internal_error(resp, "database_error", what, error);
}

void api_field_error(struct http_response *resp, unsigned status, const char *code,
                     const char *field, const char *fmt, ...)
{
        va_list ap;
        g_autofree char *msg = NULL;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        http_respond_json(resp, status,
                          json_pack("{s:s, s:s, s:s}", "error", code, "message", msg, "field",
                                    field));
}

bool api_field_string(json_t *body, const char *key, bool required, const char **out,
                      struct http_response *resp)
{
        json_t *v = json_object_get(body, key);
        if (!v || json_is_null(v)) {
                if (!required) {
                        *out = NULL;
                        return true;
                }
                api_field_error(resp, 400, "missing_field", key, "missing field \"%s\"", key);
                return false;
        }
        if (!json_is_string(v)) {
                api_field_error(resp, 400, "wrong_type", key, "field \"%s\" must be a string", key);
                return false;
        }
        *out = json_string_value(v);
        return true;
}

bool api_field_int(json_t *body, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, struct http_response *resp)
{
        json_t *v = json_object_get(body, key);
        if (!v || json_is_null(v)) {
                if (!required)
                        return true; /* *out keeps its default */
                api_field_error(resp, 400, "missing_field", key, "missing field \"%s\"", key);
                return false;
        }
        if (!json_is_integer(v)) {
                api_field_error(resp, 400, "wrong_type", key, "field \"%s\" must be an integer",
                                key);
                return false;
        }
        json_int_t i = json_integer_value(v);
        if (i < min || i > max) {
                api_field_error(resp, 400, "out_of_range", key,
                                "field \"%s\" must be between %" PRId64 " and %" PRId64, key,
                                min, max);
                return false;
        }
        *out = i;
        return true;
}

bool api_field_bool(json_t *body, const char *key, bool *out, struct http_response *resp)
{
        json_t *v = json_object_get(body, key);
        if (!v || json_is_null(v))
                return true;
        if (!json_is_boolean(v)) {
                api_field_error(resp, 400, "wrong_type", key,
                                "field \"%s\" must be true or false", key);
                return false;
        }
        *out = json_is_true(v);
        return true;
}

bool api_only_fields(json_t *body, const char *const *allowed, struct http_response *resp)
{
        const char *key;
        json_t *v;

        json_object_foreach (body, key, v) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        ok |= !strcmp(key, allowed[i]);
                if (!ok) {
                        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
                        api_field_error(resp, 400, "unknown_field", key,
                                        "unknown field \"%s\" (expected: %s)", key, list);
                        return false;
                }
        }
        return true;
}

int64_t pg_i64(const PGresult *res, int row, int col)
{
        if (PQgetisnull(res, row, col))
                return 0;
        return g_ascii_strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *pg_str(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

bool pg_bool(const PGresult *res, int row, int col)
{
        return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

json_t *pg_json(const PGresult *res, int row, int col)
{
        json_t *v;
        if (PQgetisnull(res, row, col))
                return json_null();
        v = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, NULL);
        return v ? v : json_null();
}

/* Type OIDs from PostgreSQL's pg_type.dat (stable across versions). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_JSONB 3802

json_t *pg_row_object(const PGresult *res, int row)
{
        json_t *o = json_object();
        for (int c = 0; c < PQnfields(res); c++) {
                json_t *v;
                Oid t = PQftype(res, c);
                if (PQgetisnull(res, row, c))
                        v = json_null();
                else if (t == OID_BOOL)
                        v = json_boolean(pg_bool(res, row, c));
                else if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2)
                        v = json_integer(pg_i64(res, row, c));
                else if (t == OID_JSON || t == OID_JSONB)
                        v = pg_json(res, row, c);
                else
                        v = json_string(PQgetvalue(res, row, c));
                json_object_set_new(o, PQfname(res, c), v ? v : json_null());
        }
        return o;
}

json_t *pg_rows_array(const PGresult *res)
{
        json_t *a = json_array();
        for (int r = 0; r < PQntuples(res); r++)
                json_array_append_new(a, pg_row_object(res, r));
        return a;
}

/* One statement for all phases of a request. */
DB_STMT(timings_add,
        "INSERT INTO login_timings (request_id, user_name, phase, duration_us)"
        " SELECT $1, $2, p, d FROM unnest($3::text[], $4::bigint[]) AS t(p, d)",
        4);

void broker_timings_arrays(struct broker *b, const struct broker_timer *t, char **phases_out,
                           char **us_out)
{
        GString *phases = g_string_new("{"), *us = g_string_new("{");

        for (int p = 0; p < PHASE_COUNT; p++) {
                if (!t->done[p])
                        continue;
                broker_metrics_phase(&b->metrics, p, t->us[p]);
                g_string_append_printf(phases, "%s%s", phases->len > 1 ? "," : "",
                                       broker_phase_name(p));
                g_string_append_printf(us, "%s%" PRId64, us->len > 1 ? "," : "", t->us[p]);
        }
        g_string_append_c(phases, '}');
        g_string_append_c(us, '}');
        *phases_out = g_string_free(phases, FALSE);
        *us_out = g_string_free(us, FALSE);
}

void broker_record_timings(struct broker *b, const char *request_id, const char *user,
                           const struct broker_timer *t)
{
        g_autofree char *err = NULL, *phases = NULL, *us = NULL;

        broker_timings_arrays(b, t, &phases, &us);
        const char *params[] = { request_id, user ? user : "", phases, us };
        if (db_exec(b->db, &timings_add, params, 0, NULL, &err) < 0)
                log_warning("timings_not_stored", "request=%s error=\"%s\"", request_id, err);
}

void broker_audit(struct broker *b, const struct db_audit *ev)
{
        g_autofree char *err = NULL;
        struct db_audit e = *ev;
        /* inet column: "unknown" is not an address. */
        if (e.remote_addr && !strcmp(e.remote_addr, "unknown"))
                e.remote_addr = NULL;
        if (db_audit_add(b->db, &e, &err) < 0)
                log_warning("audit_not_stored", "action=%s error=\"%s\"", ev->action, err);
}
