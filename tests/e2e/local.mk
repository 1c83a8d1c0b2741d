# End to end (issue 12): the whole stack -- PostgreSQL, slapd, vdi-brokerd
# with its pool loop, vdi-hostd with real guests on /dev/kvm (in the KVM
# lab here) -- and real clients: the portal API, FreeRDP and spice-client
# libraries, headless Chromium, xfreerdp and remote-viewer for screenshots.
check_PROGRAMS += tests/e2e/client
tests_e2e_client_SOURCES = tests/e2e/client.c protocols/lsan.c protocols/lsan-unwind.c
tests_e2e_client_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS)
tests_e2e_client_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
tests_e2e_client_LDADD = $(TCLIENT_LIBS) $(SPICE_CLIENT_LIB) $(CURL_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS)

TESTS += tests/e2e/e2e.sh
tests/e2e/e2e.log: tests/e2e/client tests/guest/initrd.gz hostd/vdi-vm hostd/vdi-hostd broker/vdi-brokerd \
	tools/vdictl hostd/vdi-img
EXTRA_DIST += tests/e2e/e2e.sh tests/tap-check.h
CLEANFILES += tests/e2e/xfreerdp.png tests/e2e/remote-viewer.png tests/e2e/portal.png
dist_noinst_SCRIPTS += scripts/stack scripts/lab-hostd

# bench/e2e: Connect to first frame, per phase, on the same stack.
dist_noinst_SCRIPTS += bench/e2e
BENCHES += bench/e2e

# The portal in headless Chromium, on the e2e stack (run by e2e.sh).
check_PROGRAMS += tests/e2e/portal
tests_e2e_portal_SOURCES = tests/e2e/portal.c tests/broker/cdp.c tests/broker/cdp.h
tests_e2e_portal_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS)
tests_e2e_portal_LDADD = $(JANSSON_LIBS) $(GLIB_LIBS) $(TEST_LIBS)
tests/e2e/e2e.log: tests/e2e/portal
