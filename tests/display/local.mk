# The synthetic display source used by protocol tests and benchmarks.
check_LIBRARIES += tests/display/libtestsrc.a
tests_display_libtestsrc_a_SOURCES = tests/display/testsrc.c tests/display/testsrc.h
tests_display_libtestsrc_a_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS)
TESTSRC_LIB = tests/display/libtestsrc.a $(GLIB_LIBS)

check_PROGRAMS += tests/display/keymap
TESTS += tests/display/keymap
tests_display_keymap_SOURCES = tests/display/keymap.c
tests_display_keymap_CPPFLAGS = $(TEST_CPPFLAGS)
tests_display_keymap_LDADD = protocols/libprotocols.a $(TEST_LIBS)

check_PROGRAMS += tests/agent/vdagent
TESTS += tests/agent/vdagent tests/fuzz/vdagent.sh
tests_agent_vdagent_SOURCES = tests/agent/vdagent.c
tests_agent_vdagent_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CFLAGS)
tests_agent_vdagent_LDADD = protocols/libprotocols.a $(TEST_LIBS)

check_PROGRAMS += tests/agent/clip
TESTS += tests/agent/clip tests/fuzz/clip.sh
tests_agent_clip_SOURCES = tests/agent/clip.c
tests_agent_clip_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CFLAGS) $(GLIB_CFLAGS)
tests_agent_clip_LDADD = protocols/libprotocols.a $(GLIB_LIBS) $(TEST_LIBS)
