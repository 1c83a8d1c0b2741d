# pools/: pool policy (pure) and the reconcile loop, a library linked into
# vdi-brokerd (pools/loop.h).
noinst_LIBRARIES += pools/libpools.a
pools_libpools_a_SOURCES = \
	pools/policy.c pools/policy.h \
	pools/loop.c pools/loop.h pools/snapshot.c pools/execute.c pools/internal.h
pools_libpools_a_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS) $(CURL_CFLAGS) \
	$(JANSSON_CFLAGS)
# Link line for programs using the pools library.
LIBPOOLS = pools/libpools.a $(LIBHOSTDCLIENT) $(PQ_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS) -lpthread
