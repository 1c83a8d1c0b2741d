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

# libFuzzer target: the client's monitors config as a layout request.
FUZZ_TARGETS += tests/fuzz/spice-layout-fuzz
TESTS += tests/fuzz/spice-layout.sh
EXTRA_DIST += tests/fuzz/spice-layout.c tests/fuzz/spice-layout.sh
tests/fuzz/spice-layout-fuzz: $(top_srcdir)/tests/fuzz/spice-layout.c $(top_srcdir)/protocols/spice/layout.c \
		$(top_srcdir)/protocols/spice/layout.h $(top_srcdir)/protocols/display.c $(top_srcdir)/lib/log.c
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(SPICE_CFLAGS) $(GLIB_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/spice-layout.c \
		$(top_srcdir)/protocols/spice/layout.c $(top_srcdir)/protocols/display.c $(top_srcdir)/lib/log.c \
		$(GLIB_LIBS)
