# Pool policy (pure) and the reconcile loop against real PostgreSQL.
POOLS_TESTS = tests/pools/policy tests/pools/loop
check_PROGRAMS += $(POOLS_TESTS)
TESTS += $(POOLS_TESTS)

tests_pools_policy_SOURCES = tests/pools/policy.c
tests_pools_policy_CPPFLAGS = $(TEST_CPPFLAGS)
tests_pools_policy_LDADD = $(LIBPOOLS) $(LIBVDI) $(TEST_LIBS)

tests_pools_loop_SOURCES = tests/pools/loop.c
tests_pools_loop_CPPFLAGS = $(TEST_CPPFLAGS) -DTOP_BUILDDIR='"$(abs_top_builddir)"' $(GLIB_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) -I$(top_srcdir)/tests/hostd -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_pools_loop_LDADD = $(LIBPOOLS) $(LIBVDISQL) $(HARNESS_LIB) $(HOSTD_PROC_LIB) $(LIBVDI) \
	$(TEST_LIBS)
EXTRA_tests_pools_loop_DEPENDENCIES = hostd/vdi-hostd tests/hostd/hollow-vm
