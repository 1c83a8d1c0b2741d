# tests/image/local.mk — the golden desktop image (issue 12), included from
# the top-level Makefile.am; paths relative to the top.
#
# tools/image-build makes the image bundle (Debian 12 + Xorg on the
# framebuffer; needs root and the Debian mirror), cached by its input hash
# in /var/cache/vdi/images. tests/image/golden.sh builds or reuses it and
# boots it in the KVM lab through a real vdi-hostd, with RDP and SPICE
# clients typing into its terminal (tests/image/golden-lab). It is part of
# `make check` (the README's test command); `make check-golden` runs it
# alone.
EXTRA_DIST += \
	tools/image-build \
	tools/image \
	tests/image/golden.sh

check_PROGRAMS += tests/image/golden-lab
tests_image_golden_lab_SOURCES = tests/image/golden-lab.c protocols/lsan.c protocols/lsan-unwind.c
tests_image_golden_lab_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS) \
	-DTOP_BUILDDIR='"$(abs_top_builddir)"'
tests_image_golden_lab_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS) $(CURL_CFLAGS) \
	$(JANSSON_CFLAGS) $(ZLIB_CFLAGS)
tests_image_golden_lab_LDADD = $(HOSTD_PROC_LIB) $(TCLIENT_LIBS) $(SPICE_CLIENT_LIB) $(CURL_LIBS) \
	$(JANSSON_LIBS) $(ZLIB_LIBS) $(GLIB_LIBS)

TESTS += tests/image/golden.sh
tests/image/golden.log: tests/image/golden-lab hostd/vdi-hostd hostd/vdi-vm hostd/vdi-img
clean-local: clean-golden-out
clean-golden-out:
	rm -rf tests/image/golden-out

# The golden desktop test alone (the same run as in `make check`), with
# its checks and timings from the log.
check-golden:
	@rc=0; $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/image/golden.sh || rc=$$?; \
	grep -E '^(ok|not ok|# measured|# FAIL)' tests/image/golden.log; exit $$rc

.PHONY: check-golden clean-golden-out
