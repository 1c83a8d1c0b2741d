/* The PostgreSQL harness gives a real server: connect over TCP with the
 * password, run queries, survive a restart, and clean up afterwards. */
#include "config.h"

#include <glib.h>
#include <libpq-fe.h>
#include <string.h>
#include <sys/stat.h>

#include "check-main.h"
#include "harness.h"

static struct harness_pg *pg;

static void setup(void)
{
        ck_assert_int_eq(harness_pg_start(&pg), 0);
}

static void teardown(void)
{
        char *dir = strdup(pg->dir);
        struct stat st;
        harness_pg_stop(pg);
        pg = NULL;
        /* Stopping removes the temporary directory. */
        ck_assert_int_ne(stat(dir, &st), 0);
        free(dir);
}

static char *query_one(const char *conninfo, const char *sql)
{
        PGconn *c = PQconnectdb(conninfo);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
        PGresult *res = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "query: %s", PQerrorMessage(c));
        char *v = strdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(c);
        return v;
}

START_TEST(test_query)
{
        char *v = query_one(pg->conninfo, "SELECT 6 * 7");
        ck_assert_str_eq(v, "42");
        free(v);
        v = query_one(pg->conninfo, "SELECT current_user || '@' || current_database()");
        ck_assert_str_eq(v, "vdi@vdi");
        free(v);
}
END_TEST

START_TEST(test_wrong_password_refused)
{
        char *ci = g_strdup_printf("host=127.0.0.1 port=%d user=vdi password=wrong dbname=vdi",
                                   pg->port);
        PGconn *c = PQconnectdb(ci);
        ck_assert_int_eq(PQstatus(c), CONNECTION_BAD);
        ck_assert_ptr_nonnull(strstr(PQerrorMessage(c), "password authentication failed"));
        PQfinish(c);
        g_free(ci);
}
END_TEST

START_TEST(test_restart_keeps_data)
{
        PGconn *c = PQconnectdb(pg->conninfo);
        ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
        PQclear(PQexec(c, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)"));
        PQfinish(c);
        int port = pg->port;
        ck_assert_int_eq(harness_pg_restart(pg), 0);
        ck_assert_int_eq(pg->port, port);
        char *v = query_one(pg->conninfo, "SELECT v FROM t");
        ck_assert_str_eq(v, "7");
        free(v);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("harness-pg");
        TCase *tc = tcase_create("pg");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_query);
        tcase_add_test(tc, test_wrong_password_refused);
        tcase_add_test(tc, test_restart_keeps_data);
        suite_add_tcase(s, tc);
        return s;
}
