check_PROGRAMS += tests/broker/http
TESTS += tests/broker/http
tests_broker_http_SOURCES = tests/broker/http.c
tests_broker_http_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
tests_broker_http_LDADD = broker/libbroker.a $(LIBVDI) $(MHD_LIBS) $(JANSSON_LIBS) $(CURL_LIBS) \
	$(TEST_LIBS)
