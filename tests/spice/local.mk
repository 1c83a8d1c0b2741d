# SPICE server tests with the real spice-client-glib (headless, no X).
check_LIBRARIES += tests/spice/libspiceclient.a
tests_spice_libspiceclient_a_SOURCES = tests/spice/client.c tests/spice/client.h
tests_spice_libspiceclient_a_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS)
SPICE_CLIENT_LIB = tests/spice/libspiceclient.a $(SPICE_CLIENT_LIBS)

check_PROGRAMS += tests/spice/test-spice
TESTS += tests/spice/test-spice
tests_spice_test_spice_SOURCES = tests/spice/test-spice.c protocols/lsan.c protocols/lsan-unwind.c
tests_spice_test_spice_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS) $(SPICE_CFLAGS)
tests_spice_test_spice_LDADD = $(SPICE_CLIENT_LIB) $(SPICE_DISPLAY_LIB) $(TESTSRC_LIB) $(TEST_LIBS) -lm

# bench/display-spice (DESIGN.md §10): frames/s, bytes per frame and server
# CPU per frame of a scripted desktop workload to a real SPICE client.
noinst_PROGRAMS += bench/display-spice
BENCHES += bench/display-spice
bench_display_spice_SOURCES = bench/display-spice.c protocols/lsan.c protocols/lsan-unwind.c
bench_display_spice_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS) $(SPICE_CFLAGS)
bench_display_spice_LDADD = $(SPICE_CLIENT_LIB) $(SPICE_DISPLAY_LIB) $(TESTSRC_LIB)

# A stand-alone SPICE server for shell probes (tests/tls/profile.sh).
check_PROGRAMS += tests/spice/serve
tests_spice_serve_SOURCES = tests/spice/serve.c protocols/lsan.c protocols/lsan-unwind.c
tests_spice_serve_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/hostd/vmm $(SPICE_CFLAGS) $(GLIB_CFLAGS)
tests_spice_serve_LDADD = $(SPICE_DISPLAY_LIB) $(TESTSRC_LIB) hostd/vmm/libvmm.a $(SECCOMP_LIBS) $(LIBVDI)

# The clipboard through the guest's agent, for the lab (tests/vmm/agent.sh).
check_PROGRAMS += tests/spice/clip
tests_spice_clip_SOURCES = tests/spice/clip.c protocols/lsan.c protocols/lsan-unwind.c
tests_spice_clip_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS)
tests_spice_clip_LDADD = $(SPICE_CLIENT_LIB)
