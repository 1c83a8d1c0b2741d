# Shared protocol pieces: the display interface and the scancode table.
noinst_LIBRARIES += protocols/libprotocols.a
protocols_libprotocols_a_SOURCES = protocols/display.h protocols/display.c protocols/keymap.c protocols/keymap.h \
	protocols/damage.c protocols/damage.h

# The SPICE agent protocol from the client side (issue 19: RDP and web
# clipboard through the guest's spice-vdagent).
protocols_libprotocols_a_SOURCES += protocols/agent/vdagent.c protocols/agent/vdagent.h \
	protocols/agent/clip.c protocols/agent/clip.h protocols/agent/filter.c protocols/agent/filter.h
protocols_libprotocols_a_CPPFLAGS = $(AM_CPPFLAGS) $(SPICE_CFLAGS) $(GLIB_CFLAGS)

# libFuzzer target: the guest agent's chunk and message stream.
FUZZ_TARGETS += tests/fuzz/vdagent-fuzz
EXTRA_DIST += tests/fuzz/vdagent.c tests/fuzz/vdagent.sh
tests/fuzz/vdagent-fuzz: $(top_srcdir)/tests/fuzz/vdagent.c $(top_srcdir)/protocols/agent/vdagent.c \
		$(top_srcdir)/protocols/agent/vdagent.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(SPICE_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/vdagent.c \
		$(top_srcdir)/protocols/agent/vdagent.c

# libFuzzer target: the clipboard bridge (hostile guest and client) and the
# one-way stream filters.
FUZZ_TARGETS += tests/fuzz/clip-fuzz
EXTRA_DIST += tests/fuzz/clip.c tests/fuzz/clip.sh
tests/fuzz/clip-fuzz: $(top_srcdir)/tests/fuzz/clip.c $(top_srcdir)/protocols/agent/clip.c \
		$(top_srcdir)/protocols/agent/clip.h $(top_srcdir)/protocols/agent/vdagent.c \
		$(top_srcdir)/protocols/agent/vdagent.h $(top_srcdir)/protocols/agent/filter.c \
		$(top_srcdir)/protocols/agent/filter.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(SPICE_CFLAGS) $(GLIB_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/clip.c \
		$(top_srcdir)/protocols/agent/clip.c $(top_srcdir)/protocols/agent/vdagent.c \
		$(top_srcdir)/protocols/agent/filter.c $(GLIB_LIBS)
