# Web display server (issue 21): PROTOCOL.md over WebSocket (libsoup 3) on
# TLS, H.264 from protocols/encode for WebCodecs, PNG tiles as fallback.
noinst_LIBRARIES += protocols/web/libweb.a
protocols_web_libweb_a_SOURCES = \
	protocols/web/web-server.h protocols/web/internal.h protocols/web/proto.h \
	protocols/web/proto.c protocols/web/keycode.c protocols/web/tile.c protocols/web/tile.h \
	protocols/web/server.c protocols/web/session.c protocols/web/video.c protocols/web/video.h \
	protocols/web/web-display-server.c
protocols_web_libweb_a_CFLAGS = $(AM_CFLAGS) $(SOUP_CFLAGS) $(PNG_CFLAGS) $(GST_CFLAGS) \
	$(GLIB_CFLAGS) $(OPENSSL_CFLAGS)
EXTRA_DIST += protocols/web/PROTOCOL.md
# Link line for programs embedding the web display server.
WEB_SERVER_LIBS = protocols/web/libweb.a $(ENCODE_LIBS) protocols/libprotocols.a lib/libvdi.a \
	$(SOUP_LIBS) $(PNG_LIBS) $(GST_LIBS) $(GLIB_LIBS) $(OPENSSL_LIBS)

# libFuzzer target: the inbound message parser and the key table.
FUZZ_TARGETS += tests/fuzz/web-proto-fuzz
EXTRA_DIST += tests/fuzz/web-proto.c
tests/fuzz/web-proto-fuzz: $(top_srcdir)/tests/fuzz/web-proto.c $(top_srcdir)/protocols/web/proto.c \
		$(top_srcdir)/protocols/web/keycode.c $(top_srcdir)/protocols/web/proto.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/web-proto.c \
		$(top_srcdir)/protocols/web/proto.c $(top_srcdir)/protocols/web/keycode.c
