# Broker tests: the API against real PostgreSQL and slapd from the harness,
# the broker running in-process (its HTTPS server on threads).
BROKER_TEST_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS) $(LDAP_CFLAGS) \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS) -DPORTAL_SRC_DIR='"$(abs_top_srcdir)/broker/portal"'

check_LIBRARIES += tests/broker/libbrokerfixture.a
tests_broker_libbrokerfixture_a_SOURCES = tests/broker/fixture.c tests/broker/fixture.h
tests_broker_libbrokerfixture_a_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)

BROKER_TESTS = tests/broker/files tests/broker/hostd-client tests/broker/api tests/broker/portal \
	tests/broker/vdictl tests/broker/with-hostd tests/broker/console
check_PROGRAMS += $(BROKER_TESTS)
TESTS += $(BROKER_TESTS)

tests_broker_files_SOURCES = tests/broker/files.c
tests_broker_files_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_files_LDADD = $(LIBVDIBROKER) $(TEST_LIBS)

tests_broker_api_SOURCES = tests/broker/api.c
tests_broker_api_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_api_LDADD = tests/broker/libbrokerfixture.a $(LIBVDIBROKER) $(HARNESS_LIB) \
	$(CURL_LIBS) $(TEST_LIBS)

tests_broker_portal_SOURCES = tests/broker/portal.c tests/broker/cdp.c tests/broker/cdp.h
tests_broker_portal_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_portal_LDADD = tests/broker/libbrokerfixture.a $(LIBVDIBROKER) $(HARNESS_LIB) \
	$(CURL_LIBS) $(TEST_LIBS)

# Screenshots the portal test leaves for people to look at.
CLEANFILES += tests/broker/portal-desktops.png tests/broker/portal-signed-out.png

TESTS += tests/broker/example.sh
EXTRA_DIST += tests/broker/example.sh

# Runs the built tools/vdictl (make check builds all programs first).
tests_broker_vdictl_SOURCES = tests/broker/vdictl.c
tests_broker_vdictl_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_vdictl_LDADD = tests/broker/libbrokerfixture.a $(LIBVDIBROKER) $(HARNESS_LIB) \
	$(CURL_LIBS) $(TEST_LIBS)

tests_broker_hostd_client_SOURCES = tests/broker/hostd-client.c
tests_broker_hostd_client_CPPFLAGS = $(BROKER_TEST_CPPFLAGS) $(MHD_CFLAGS)
tests_broker_hostd_client_LDADD = $(LIBVDIBROKER) $(TEST_LIBS)

# Against the real hostd/vdi-hostd of this tree (skips when it is not built).
tests_broker_with_hostd_SOURCES = tests/broker/with-hostd.c
tests_broker_with_hostd_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_with_hostd_LDADD = tests/broker/libbrokerfixture.a $(LIBVDIBROKER) $(HARNESS_LIB) \
	$(CURL_LIBS) $(TEST_LIBS)

# Body limits (Content-Length and chunked) and NUL in input, with curl
# against a real vdi-brokerd (tests/harness/broker-start).
TESTS += tests/broker/edges.sh
EXTRA_DIST += tests/broker/edges.sh

# PostgreSQL stopped and started again under a real vdi-brokerd: bounded
# 503s with Retry-After, recovery without a restart.
TESTS += tests/broker/db-outage.sh
EXTRA_DIST += tests/broker/db-outage.sh

# Three real brokers behind HAProxy: sessions valid on any broker, the pool
# loop's leader fails over when it is SIGKILLed.
TESTS += tests/broker/active-active.sh
EXTRA_DIST += tests/broker/active-active.sh tests/broker/brokers.sh

# Reconnect tickets: a real vdi-brokerd and vdi-hostd (hollow VMs), the
# desktop reached again while PostgreSQL is stopped.
TESTS += tests/broker/reconnect.sh
EXTRA_DIST += tests/broker/reconnect.sh tests/broker/lib.sh
tests/broker/reconnect.log: tests/hostd/hollow-vm hostd/vdi-hostd broker/vdi-brokerd

# PostgreSQL failover: a streaming replica promoted under a running broker
# with a multi-host conninfo (target_session_attrs=read-write).
TESTS += tests/broker/failover.sh
EXTRA_DIST += tests/broker/failover.sh
# The admin console in headless Chromium (issue 24).
# The live thumbnail and the user's restart run a real vdi-hostd with the
# hollow VM.
tests_broker_console_SOURCES = tests/broker/console.c tests/broker/cdp.c tests/broker/cdp.h
tests_broker_console_CPPFLAGS = $(BROKER_TEST_CPPFLAGS) -I$(top_srcdir)/tests/hostd
tests_broker_console_LDADD = tests/broker/libbrokerfixture.a $(LIBVDIBROKER) $(HARNESS_LIB) \
	$(HOSTD_PROC_LIB) $(CURL_LIBS) $(TEST_LIBS)
EXTRA_tests_broker_console_DEPENDENCIES = tests/hostd/hollow-vm hostd/vdi-hostd broker/vdi-brokerd
CLEANFILES += tests/broker/console-overview.png tests/broker/console-pool-error.png \
	tests/broker/console-pool-instant.png \
	tests/broker/console-pools.png tests/broker/console-desktops.png \
	tests/broker/console-sessions.png tests/broker/console-audit.png \
	tests/broker/console-forbidden.png tests/broker/console-user-desktop.png \
	tests/broker/console-logins.png tests/broker/console-images.png \
	tests/broker/console-screen.png tests/broker/console-user-restart.png \
	tests/broker/console-disconnect.png tests/broker/console-import-error.png \
	tests/broker/console-pool-filled.png tests/broker/console-pool-recomposed.png \
	tests/broker/console-pool-audit.png tests/broker/console-pool-recompose-now.png

# The login storm (issue 23): 1,000 LDAP users sign in and launch through
# HAProxy against three brokers, one SIGKILLed in the middle; desktops on
# hollow hosts. storm-driver is its libcurl multi client.
check_PROGRAMS += tests/broker/storm-driver
tests_broker_storm_driver_SOURCES = tests/broker/storm-driver.c
tests_broker_storm_driver_CPPFLAGS = $(BROKER_TEST_CPPFLAGS)
tests_broker_storm_driver_LDADD = $(CURL_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS)
TESTS += tests/broker/storm.sh
EXTRA_DIST += tests/broker/storm.sh
tests/broker/storm.log: tests/broker/storm-driver tests/hostd/hollow-vm hostd/vdi-hostd \
	broker/vdi-brokerd
