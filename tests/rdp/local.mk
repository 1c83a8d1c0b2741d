# RDP server tests with real FreeRDP clients (library and xfreerdp).
check_LIBRARIES += tests/rdp/libtclient.a
tests_rdp_libtclient_a_SOURCES = tests/rdp/client.c tests/rdp/client.h
tests_rdp_libtclient_a_CPPFLAGS = $(TEST_CPPFLAGS)
tests_rdp_libtclient_a_CFLAGS = $(AM_CFLAGS) $(FREERDP_CLIENT_CFLAGS) $(FREERDP_CFLAGS) $(GLIB_CFLAGS)
TCLIENT_LIBS = tests/rdp/libtclient.a $(FREERDP_CLIENT_LIBS) $(FREERDP_LIBS) $(GLIB_LIBS)

check_PROGRAMS += tests/rdp/rdp
TESTS += tests/rdp/rdp
tests_rdp_rdp_SOURCES = tests/rdp/rdp.c tests/rdp/fake-agent.c tests/rdp/fake-agent.h protocols/lsan.c \
	protocols/lsan-unwind.c
tests_rdp_rdp_CPPFLAGS = $(TEST_CPPFLAGS)
tests_rdp_rdp_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS) $(SPICE_CFLAGS)
tests_rdp_rdp_LDADD = $(TCLIENT_LIBS) $(RDP_SERVER_LIBS) $(TESTSRC_LIB) $(TEST_LIBS) -lm

# The clipboard through a vdi-vm's guest agent, for the lab (tests/vmm/agent.sh).
check_PROGRAMS += tests/rdp/clip
tests_rdp_clip_SOURCES = tests/rdp/clip.c protocols/lsan.c protocols/lsan-unwind.c
tests_rdp_clip_CPPFLAGS = $(TEST_CPPFLAGS)
tests_rdp_clip_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_rdp_clip_LDADD = $(TCLIENT_LIBS)

# xfreerdp under Xvfb against a stand-alone server.
check_PROGRAMS += tests/rdp/serve
tests_rdp_serve_SOURCES = tests/rdp/serve.c protocols/lsan.c protocols/lsan-unwind.c
tests_rdp_serve_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/hostd/vmm
tests_rdp_serve_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_rdp_serve_LDADD = $(RDP_SERVER_LIBS) $(TESTSRC_LIB) hostd/vmm/libvmm.a $(SECCOMP_LIBS) $(LIBVDI)
TESTS += tests/rdp/xfreerdp.sh
EXTRA_DIST += tests/rdp/xfreerdp.sh

# bench/display-rdp (DESIGN.md §10): frames/s, bytes per frame and encode
# time of a scripted desktop workload to a real FreeRDP client.
noinst_PROGRAMS += bench/display-rdp
BENCHES += bench/display-rdp
bench_display_rdp_SOURCES = bench/display-rdp.c protocols/lsan.c protocols/lsan-unwind.c
bench_display_rdp_CPPFLAGS = $(TEST_CPPFLAGS)
bench_display_rdp_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
bench_display_rdp_LDADD = $(TCLIENT_LIBS) $(RDP_SERVER_LIBS) $(TESTSRC_LIB) $(X11_LIBS)
# The reference: FreeRDP's shadow server library started as its CLI does
# (freerdp2-shadow-x11, which ships the CLI, is not installed).
noinst_PROGRAMS += bench/display-rdp-shadow
bench_display_rdp_shadow_SOURCES = bench/display-rdp-shadow.c
bench_display_rdp_shadow_CFLAGS = $(AM_CFLAGS) $(FREERDP_CFLAGS)
bench_display_rdp_shadow_LDADD = $(FREERDP_SHADOW_LIBS) $(FREERDP_LIBS)
