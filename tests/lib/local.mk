LIB_TESTS = tests/lib/alloc tests/lib/log tests/lib/conf tests/lib/token tests/lib/reconnect
check_PROGRAMS += $(LIB_TESTS)
TESTS += $(LIB_TESTS)

tests_lib_alloc_SOURCES = tests/lib/alloc.c
tests_lib_alloc_CPPFLAGS = $(TEST_CPPFLAGS)
tests_lib_alloc_LDADD = $(LIBVDI) $(TEST_LIBS)

tests_lib_log_SOURCES = tests/lib/log.c
tests_lib_log_CPPFLAGS = $(TEST_CPPFLAGS)
tests_lib_log_LDADD = $(LIBVDI) $(TEST_LIBS)

tests_lib_conf_SOURCES = tests/lib/conf.c
tests_lib_conf_CPPFLAGS = $(TEST_CPPFLAGS)
tests_lib_conf_LDADD = $(LIBVDI) $(TEST_LIBS)

tests_lib_token_SOURCES = tests/lib/token.c
tests_lib_token_CPPFLAGS = $(TEST_CPPFLAGS)
tests_lib_token_LDADD = $(LIBVDI) $(TEST_LIBS)

check_PROGRAMS += tests/lib/http
TESTS += tests/lib/http
tests_lib_http_SOURCES = tests/lib/http.c
tests_lib_http_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
tests_lib_http_LDADD = $(LIBVDIHTTP) $(LIBVDI) $(CURL_LIBS) $(TEST_LIBS)

tests_lib_reconnect_SOURCES = tests/lib/reconnect.c
tests_lib_reconnect_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(OPENSSL_CFLAGS)
tests_lib_reconnect_LDADD = $(LIBVDI) $(TEST_LIBS)
