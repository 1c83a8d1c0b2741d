# Authentication tests: the LDAP backend against a real slapd started by the
# harness, and the local admin backend.
AUTH_TESTS = tests/auth/ldap tests/auth/local
check_PROGRAMS += $(AUTH_TESTS)
TESTS += $(AUTH_TESTS)

tests_auth_ldap_SOURCES = tests/auth/ldap.c
tests_auth_ldap_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(LDAP_CFLAGS)
tests_auth_ldap_LDADD = $(LIBVDIAUTH) $(HARNESS_LIB) $(LIBVDI) $(TEST_LIBS)

tests_auth_local_SOURCES = tests/auth/local.c
tests_auth_local_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS)
tests_auth_local_LDADD = $(LIBVDIAUTH) $(LIBVDI) $(TEST_LIBS)
