# Data layer tests against a real PostgreSQL started by the harness.
SQL_TESTS = tests/sql/db
check_PROGRAMS += $(SQL_TESTS)
TESTS += $(SQL_TESTS)

tests_sql_db_SOURCES = tests/sql/db.c
tests_sql_db_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS)
tests_sql_db_LDADD = $(LIBVDISQL) $(HARNESS_LIB) $(LIBVDI) $(TEST_LIBS)
