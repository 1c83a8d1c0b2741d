# gateway/: vdi-gateway, the browsers' WebSocket relay to the desktops'
# web displays (issue 21; protocols/web/PROTOCOL.md, "The gateway").
sbin_PROGRAMS += gateway/vdi-gateway
gateway_vdi_gateway_SOURCES = gateway/gateway.h gateway/internal.h gateway/config.c \
	gateway/gateway.c gateway/relay.c gateway/main.c
gateway_vdi_gateway_CPPFLAGS = $(AM_CPPFLAGS) $(SOUP_CFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) \
	-DSYSCONFDIR='"$(sysconfdir)"'
gateway_vdi_gateway_LDADD = protocols/web/libweb.a $(LIBVDI) $(SOUP_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS)

# The shipped example is generated from the schema (gateway/config.c);
# tests/gateway/example.sh checks that it matches.
EXTRA_DIST += gateway/gateway.conf.example gateway/vdi-gateway.service
