# The web display server on the synthetic framebuffer: headless Chromium
# (WebCodecs and the tile fallback) and libsoup's WebSocket client.
check_PROGRAMS += tests/web/web
TESTS += tests/web/web tests/fuzz/web-proto.sh tests/web/vdi-vm.sh
EXTRA_DIST += tests/fuzz/web-proto.sh tests/web/vdi-vm.sh
tests_web_web_SOURCES = tests/web/web.c tests/web/webtest.c tests/web/webtest.h \
	tests/broker/cdp.c tests/broker/cdp.h \
	protocols/lsan.c protocols/lsan-unwind.c
tests_web_web_CPPFLAGS = $(TEST_CPPFLAGS) $(SOUP_CFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) \
	-DPORTAL_SRC_DIR='"$(abs_top_srcdir)/broker/portal"'
tests_web_web_LDADD = $(WEB_SERVER_LIBS) $(TESTSRC_LIB) $(JANSSON_LIBS) $(TEST_LIBS) -lm
CLEANFILES += tests/web/web-h264.png tests/web/web-tiles.png tests/web/web-refused.png

# A stand-alone server for trying the browser client by hand.
check_PROGRAMS += tests/web/serve
tests_web_serve_SOURCES = tests/web/serve.c protocols/lsan.c protocols/lsan-unwind.c
tests_web_serve_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) -DPORTAL_SRC_DIR='"$(abs_top_srcdir)/broker/portal"'
tests_web_serve_LDADD = $(WEB_SERVER_LIBS) $(TESTSRC_LIB)

# vdi-gateway behind HAProxy, with the broker (PostgreSQL, slapd) and the
# web display server: headless Chromium through the portal, and refusals.
check_PROGRAMS += tests/web/gateway
TESTS += tests/web/gateway tests/web/gateway-example.sh
EXTRA_DIST += tests/web/gateway-example.sh
tests_web_gateway_SOURCES = tests/web/gateway.c tests/web/webtest.c tests/web/webtest.h \
	tests/broker/cdp.c tests/broker/cdp.h protocols/lsan.c protocols/lsan-unwind.c
tests_web_gateway_CPPFLAGS = $(BROKER_TEST_CPPFLAGS) $(SOUP_CFLAGS) -I$(top_srcdir)/tests/broker \
	-I$(top_srcdir)/tests/hostd -DABS_TOP_BUILDDIR='"$(abs_top_builddir)"'
tests_web_gateway_LDADD = tests/broker/libbrokerfixture.a tests/hostd/libhostdproc.a $(LIBVDIBROKER) \
	$(HARNESS_LIB) $(WEB_SERVER_LIBS) $(TESTSRC_LIB) $(CURL_LIBS) $(TEST_LIBS) -lm
EXTRA_tests_web_gateway_DEPENDENCIES = gateway/vdi-gateway tests/hostd/hollow-vm hostd/vdi-hostd
CLEANFILES += tests/web/gateway-h264.png tests/web/gateway-reconnected.png

# The same through a real vdi-vm (the test guest on virtio-gpu) in the KVM
# lab: tests/web/gateway with WEB_LAB=1, started by tests/web/lab.sh.
TESTS += tests/web/lab.sh
EXTRA_DIST += tests/web/lab.sh
tests/web/lab.log: tests/web/gateway hostd/vdi-vm hostd/vdi-hostd hostd/vdi-img tests/guest/initrd.gz \
	gateway/vdi-gateway
CLEANFILES += tests/e2e/browser-h264.png tests/e2e/browser-tiles.png

# bench/browser (issue 21): keys-to-pixels latency and bytes/s of the same
# desktop and workload in headless Chromium (H.264, then PNG tiles) and in
# FreeRDP's client library (AVC420).
noinst_PROGRAMS += bench/browser
BENCHES += bench/browser
bench_browser_SOURCES = bench/browser.c tests/broker/cdp.c tests/broker/cdp.h \
	protocols/lsan.c protocols/lsan-unwind.c
bench_browser_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) \
	-DPORTAL_SRC_DIR='"$(abs_top_srcdir)/broker/portal"' -DABS_TOP_SRCDIR='"$(abs_top_srcdir)"'
bench_browser_LDADD = $(TCLIENT_LIBS) $(RDP_SERVER_LIBS) $(WEB_SERVER_LIBS) $(TESTSRC_LIB) \
	$(JANSSON_LIBS) $(TEST_LIBS)
