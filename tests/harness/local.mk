# Real-server harness (PostgreSQL, slapd) for integration tests. Link
# $(HARNESS_LIB) and use $(TEST_CPPFLAGS).
check_LIBRARIES += tests/harness/libharness.a
tests_harness_libharness_a_SOURCES = tests/harness/harness.c tests/harness/harness.h
tests_harness_libharness_a_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS)
HARNESS_LIB = tests/harness/libharness.a $(GLIB_LIBS)

HARNESS_TESTS = tests/harness/test-pg tests/harness/test-ldap
check_PROGRAMS += $(HARNESS_TESTS)
TESTS += $(HARNESS_TESTS)

tests_harness_test_pg_SOURCES = tests/harness/test-pg.c
tests_harness_test_pg_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS)
tests_harness_test_pg_LDADD = $(HARNESS_LIB) $(PQ_LIBS) $(TEST_LIBS)

tests_harness_test_ldap_SOURCES = tests/harness/test-ldap.c
tests_harness_test_ldap_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(LDAP_CFLAGS)
tests_harness_test_ldap_LDADD = $(HARNESS_LIB) $(LDAP_LIBS) $(TEST_LIBS)

EXTRA_DIST += tests/harness/common.sh tests/harness/pg-start tests/harness/pg-stop \
	tests/harness/slapd-start tests/harness/slapd-stop tests/harness/make-pki tests/harness/sample.ldif \
	tests/harness/broker-start tests/harness/haproxy-start tests/harness/hostd-start \
	tests/harness/pg-replica-start tests/harness/pg-promote
