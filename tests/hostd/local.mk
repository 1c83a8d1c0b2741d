# vdi-hostd API tests against a real daemon (tests/hostd/hostd-proc.h).
check_LIBRARIES += tests/hostd/libhostdproc.a
tests_hostd_libhostdproc_a_SOURCES = tests/hostd/hostd-proc.c tests/hostd/hostd-proc.h
tests_hostd_libhostdproc_a_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) -DTOP_BUILDDIR='"$(abs_top_builddir)"'
HOSTD_PROC_LIB = tests/hostd/libhostdproc.a $(CURL_LIBS) $(JANSSON_LIBS) $(GLIB_LIBS)

HOSTD_TESTS = tests/hostd/api
check_PROGRAMS += $(HOSTD_TESTS)
TESTS += $(HOSTD_TESTS)
tests_hostd_api_SOURCES = tests/hostd/api.c
tests_hostd_api_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	-I$(top_srcdir)/tests/hostd -DQEMU_IMG='"$(QEMU_IMG)"' \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"' -DTOP_BUILDDIR='"$(abs_top_builddir)"'
tests_hostd_api_LDADD = $(HOSTD_PROC_LIB) $(TEST_LIBS)
# The test drives the daemon and vdi-vm binaries of this tree.
EXTRA_tests_hostd_api_DEPENDENCIES = hostd/vdi-hostd hostd/vdi-vm

EXTRA_DIST += tests/hostd/sleeper-vm

# A "hollow" vdi-vm: speaks the control socket, runs no guest (tests
# without /dev/kvm that need tickets: tests/broker/reconnect.sh).
check_PROGRAMS += tests/hostd/hollow-vm
tests_hostd_hollow_vm_SOURCES = tests/hostd/hollow-vm.c lib/fdpass.c protocols/lsan.c protocols/lsan-unwind.c
tests_hostd_hollow_vm_CPPFLAGS = $(TEST_CPPFLAGS) $(JANSSON_CFLAGS) $(GLIB_CFLAGS)
tests_hostd_hollow_vm_LDADD = $(WEB_SERVER_LIBS) $(TESTSRC_LIB) $(JANSSON_LIBS) $(GLIB_LIBS)

# A stand-in vdi-vm with the real seccomp filters that trips one (issue 22).
check_PROGRAMS += tests/hostd/jail-vm
tests_hostd_jail_vm_SOURCES = tests/hostd/jail-vm.c tests/vmm/jail-trip.h
tests_hostd_jail_vm_CPPFLAGS = $(TEST_CPPFLAGS) $(VMM_INCLUDES) -I$(top_srcdir)/tests/vmm
tests_hostd_jail_vm_LDADD = $(LIBVMM)
EXTRA_tests_hostd_api_DEPENDENCIES += tests/hostd/jail-vm

# The real vdi-vm under vdi-hostd, in the KVM lab (one boot for all cases).
check_PROGRAMS += tests/hostd/lab
TESTS += tests/hostd/lab.sh
tests_hostd_lab_SOURCES = tests/hostd/lab.c protocols/lsan.c protocols/lsan-unwind.c
tests_hostd_lab_CPPFLAGS = $(tests_hostd_api_CPPFLAGS) -DTOP_BUILDDIR='"$(abs_top_builddir)"'
tests_hostd_lab_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS)
tests_hostd_lab_LDADD = $(HOSTD_PROC_LIB) $(TCLIENT_LIBS) $(TEST_LIBS)
EXTRA_tests_hostd_lab_DEPENDENCIES = hostd/vdi-hostd hostd/vdi-vm
tests/hostd/lab.log: tests/guest/initrd.gz tests/hostd/lab tests/pools/loop
EXTRA_DIST += tests/hostd/lab.sh

# The control-socket client (hostd/vmctl.c) against a peer on a unix socket.
check_PROGRAMS += tests/hostd/vmctl
TESTS += tests/hostd/vmctl
tests_hostd_vmctl_SOURCES = tests/hostd/vmctl.c hostd/vmctl.c hostd/vmctl.h lib/fdpass.c
tests_hostd_vmctl_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS)
tests_hostd_vmctl_LDADD = $(JANSSON_LIBS) $(GLIB_LIBS) $(TEST_LIBS) -lpthread

# The shipped example matches the schema in hostd/config.c.
TESTS += tests/hostd/example.sh
EXTRA_DIST += tests/hostd/example.sh
tests/hostd/example.log: hostd/vdi-hostd

# libFuzzer target over the control-socket reader (clang; see tests/fuzz/run).
FUZZ_TARGETS += tests/hostd/vmctl-fuzz
TESTS += tests/hostd/fuzz-vmctl.sh
EXTRA_DIST += tests/hostd/fuzz-vmctl.c tests/hostd/fuzz-vmctl.sh
tests/hostd/vmctl-fuzz: $(top_srcdir)/tests/hostd/fuzz-vmctl.c $(top_srcdir)/hostd/vmctl.c \
		$(top_srcdir)/hostd/vmctl.h $(top_srcdir)/lib/fdpass.c
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) -o $@ \
		$(top_srcdir)/tests/hostd/fuzz-vmctl.c $(top_srcdir)/hostd/vmctl.c \
		$(top_srcdir)/lib/fdpass.c \
		$(JANSSON_LIBS) $(GLIB_LIBS) -lpthread

# Desktop networking on the host (issue 13): MACs and names here; real taps
# on bridges through net-tap inside tests/vmm/net.sh's lab run.
check_PROGRAMS += tests/hostd/net tests/hostd/net-tap
TESTS += tests/hostd/net
tests_hostd_net_SOURCES = tests/hostd/net.c hostd/net.c hostd/net.h
tests_hostd_net_CPPFLAGS = $(TEST_CPPFLAGS)
tests_hostd_net_LDADD = $(TEST_LIBS)
tests_hostd_net_tap_SOURCES = tests/hostd/net-tap.c hostd/net.c hostd/net.h
tests_hostd_net_tap_CPPFLAGS = $(TEST_CPPFLAGS)
tests/vmm/net.log: tests/hostd/net-tap

# Reading vdi-vm's seccomp report back (issue 22): unit tests and a fuzz target.
check_PROGRAMS += tests/hostd/jail-report
TESTS += tests/hostd/jail-report tests/fuzz/jail-report.sh
EXTRA_DIST += tests/fuzz/jail-report.sh tests/fuzz/jail-report.c
tests_hostd_jail_report_SOURCES = tests/hostd/jail-report.c hostd/jail-report.c hostd/jail-report.h
tests_hostd_jail_report_CPPFLAGS = $(TEST_CPPFLAGS)
tests_hostd_jail_report_LDADD = $(TEST_LIBS)
FUZZ_TARGETS += tests/fuzz/jail-report-fuzz
tests/fuzz/jail-report-fuzz: $(top_srcdir)/tests/fuzz/jail-report.c $(top_srcdir)/hostd/jail-report.c \
		$(top_srcdir)/hostd/jail-report.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/jail-report.c $(top_srcdir)/hostd/jail-report.c

# Screen thumbnails for the admin console (issue 24): unit tests and a fuzz
# target over vdi-vm's PPM screenshots.
check_PROGRAMS += tests/hostd/thumb
TESTS += tests/hostd/thumb tests/fuzz/thumb.sh
EXTRA_DIST += tests/fuzz/thumb.sh tests/fuzz/thumb.c
tests_hostd_thumb_SOURCES = tests/hostd/thumb.c hostd/thumb.c hostd/thumb.h
tests_hostd_thumb_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(PNG_CFLAGS)
tests_hostd_thumb_LDADD = $(TEST_LIBS) $(GLIB_LIBS) $(PNG_LIBS)
FUZZ_TARGETS += tests/fuzz/thumb-fuzz
tests/fuzz/thumb-fuzz: $(top_srcdir)/tests/fuzz/thumb.c $(top_srcdir)/hostd/thumb.c \
		$(top_srcdir)/hostd/thumb.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(GLIB_CFLAGS) $(PNG_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/thumb.c $(top_srcdir)/hostd/thumb.c $(GLIB_LIBS) $(PNG_LIBS)
EXTRA_tests_hostd_api_DEPENDENCIES += tests/hostd/hollow-vm
# Concurrent creates and starts on one vdi-hostd with hollow VMs (issue 23).
TESTS += tests/hostd/concurrent-create.sh
EXTRA_DIST += tests/hostd/concurrent-create.sh tests/harness/hostd-batch
tests/hostd/concurrent-create.log: hostd/vdi-hostd tests/hostd/hollow-vm
