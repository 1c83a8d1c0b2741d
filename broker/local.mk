noinst_LIBRARIES += broker/libbroker.a
broker_libbroker_a_SOURCES = broker/http.c broker/http.h
broker_libbroker_a_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS)
