# RDP server (FreeRDP 2): TLS + NLA with one-time tickets, RDPGFX with
# AVC420 from protocols/encode, planar fallback.
noinst_LIBRARIES += protocols/rdp/librdp.a
protocols_rdp_librdp_a_SOURCES = \
	protocols/rdp/rdp-server.h protocols/rdp/internal.h \
	protocols/rdp/server.c protocols/rdp/peer.c protocols/rdp/input.c \
	protocols/rdp/gfx.c protocols/rdp/disp.c protocols/rdp/clip.c protocols/rdp/legacy.c protocols/rdp/pointer.c protocols/rdp/ticket.c \
	protocols/rdp/rdp-display-server.c
protocols_rdp_librdp_a_CFLAGS = $(AM_CFLAGS) $(FREERDP_CFLAGS) $(GST_CFLAGS) $(GLIB_CFLAGS) \
	$(OPENSSL_CFLAGS)
# Link line for programs embedding the RDP server.
RDP_SERVER_LIBS = protocols/rdp/librdp.a $(ENCODE_LIBS) protocols/libprotocols.a lib/libvdi.a \
	$(FREERDP_LIBS) $(GST_LIBS) $(GLIB_LIBS) $(OPENSSL_LIBS)
