noinst_LIBRARIES += lib/libvdi.a
lib_libvdi_a_SOURCES = \
	lib/macro.h \
	lib/alloc.c lib/alloc.h \
	lib/fdpass.c lib/fdpass.h \
	lib/log.c lib/log.h \
	lib/conf.c lib/conf.h \
	lib/token.c lib/token.h \
	lib/reconnect.c lib/reconnect.h \
	lib/tls-policy.h
lib_libvdi_a_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)

# Link line for programs using lib/.
LIBVDI = lib/libvdi.a $(GLIB_LIBS) $(OPENSSL_LIBS) $(JANSSON_LIBS)

# The client of vdi-hostd's API (libcurl), used by the broker and the pool loop.
noinst_LIBRARIES += lib/libvdihostdclient.a
lib_libvdihostdclient_a_SOURCES = lib/hostd-client.c lib/hostd-client.h
lib_libvdihostdclient_a_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
LIBHOSTDCLIENT = lib/libvdihostdclient.a $(CURL_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS)

# HTTPS server (libmicrohttpd) shared by vdi-brokerd and vdi-hostd.
noinst_LIBRARIES += lib/libvdihttp.a
lib_libvdihttp_a_SOURCES = lib/http.c lib/http.h
lib_libvdihttp_a_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(MHD_CFLAGS) $(GNUTLS_CFLAGS) $(JANSSON_CFLAGS)
LIBVDIHTTP = lib/libvdihttp.a $(MHD_LIBS) $(GNUTLS_LIBS) $(JANSSON_LIBS)
