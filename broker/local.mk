# broker/: vdi-brokerd, the portal and the user/admin API (issue 8).
BROKER_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS) $(LDAP_CFLAGS) $(MHD_CFLAGS) \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS) \
	-DSYSCONFDIR='"$(sysconfdir)"' -DPORTAL_ASSETS_DIR='"$(pkgdatadir)/portal"'

noinst_LIBRARIES += broker/libvdibroker.a
broker_libvdibroker_a_SOURCES = \
	broker/broker.h broker/internal.h broker/broker.c broker/config.c \
	broker/api-util.c broker/session.c broker/api-user.c broker/api-launch.c \
	broker/api-reconnect.c broker/api-gateway.c \
	broker/api-ops.c broker/api-admin.c broker/api-console.c broker/api-self.c \
	broker/metrics.c broker/metrics.h \
	broker/launch-file.c broker/launch-file.h
broker_libvdibroker_a_CPPFLAGS = $(BROKER_CPPFLAGS)

# Link line for programs embedding the broker (tests, benchmarks).
LIBVDIBROKER = broker/libvdibroker.a $(LIBHOSTDCLIENT) $(LIBVDIAUTH) $(LIBVDISQL) $(LIBVDIHTTP) $(LIBVDI) \
	$(CURL_LIBS) $(JANSSON_LIBS)

sbin_PROGRAMS += broker/vdi-brokerd
broker_vdi_brokerd_SOURCES = broker/main.c
broker_vdi_brokerd_CPPFLAGS = $(BROKER_CPPFLAGS)
broker_vdi_brokerd_LDADD = $(LIBVDIBROKER) $(LIBPOOLS)

portaldir = $(pkgdatadir)/portal
dist_portal_DATA = broker/portal/index.html broker/portal/app.js broker/portal/style.css \
	broker/portal/common.js broker/portal/admin.html broker/portal/admin.js broker/portal/logo.svg \
	broker/portal/desktop.html broker/portal/desktop.js

EXTRA_DIST += broker/broker.conf.example broker/vdi-brokerd.service broker/README.md

# bench/login-storm (DESIGN.md §10): concurrent sign-ins through the broker
# against real slapd and PostgreSQL, next to the plain libldap + libpq floor.
noinst_PROGRAMS += bench/login-storm
BENCHES += bench/login-storm
bench_login_storm_SOURCES = bench/login-storm.c bench/broker-env.c bench/broker-env.h
bench_login_storm_CPPFLAGS = $(TEST_CPPFLAGS) $(BROKER_CPPFLAGS) \
	-DPORTAL_SRC_DIR='"$(abs_top_srcdir)/broker/portal"'
bench_login_storm_LDADD = $(LIBVDIBROKER) $(HARNESS_LIB) $(LDAP_LIBS) $(PQ_LIBS) $(CURL_LIBS)

# bench/console (issue 24): the admin console's overview at 1,000 desktops
# and 100 hosts of synthetic inventory, and sign-in throughput with ten
# consoles polling it.
noinst_PROGRAMS += bench/console
BENCHES += bench/console
bench_console_SOURCES = bench/console.c bench/broker-env.c bench/broker-env.h
bench_console_CPPFLAGS = $(bench_login_storm_CPPFLAGS)
bench_console_LDADD = $(bench_login_storm_LDADD)
