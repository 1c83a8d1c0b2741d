# SPICE display server (libspice-server) behind protocols/display-server.h.
noinst_LIBRARIES += protocols/spice/libspice-display.a
protocols_spice_libspice_display_a_SOURCES = \
	protocols/display-server.h \
	protocols/spice/spice-display.c protocols/spice/spice-display.h \
	protocols/spice/core.c protocols/spice/core.h \
	protocols/spice/fb.c protocols/spice/fb.h \
	protocols/spice/layout.c protocols/spice/layout.h \
	protocols/spice/input.c protocols/spice/input.h \
	protocols/spice/agent.c protocols/spice/agent.h \
	protocols/spice/audio.c protocols/spice/audio.h
protocols_spice_libspice_display_a_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(SPICE_CFLAGS)

# Link line for programs embedding the SPICE server.
SPICE_DISPLAY_LIB = protocols/spice/libspice-display.a protocols/libprotocols.a $(LIBVDI) \
	$(SPICE_LIBS) $(GLIB_LIBS)
