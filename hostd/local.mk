# vdi-hostd: the host daemon (hostd/hostd.h). The engine (hostd/vmm) and
# storage (hostd/storage) have their own fragments.
sbin_PROGRAMS += hostd/vdi-hostd
hostd_vdi_hostd_SOURCES = \
	hostd/hostd.h hostd/hostd.c hostd/main.c hostd/config.c \
	hostd/store.c hostd/vm.c hostd/supervise.c hostd/vmctl.c hostd/vmctl.h \
	hostd/report.c hostd/api.c hostd/reconnect.c hostd/fsutil.c \
	hostd/net.c hostd/net.h hostd/vmnet.c hostd/jail-report.c hostd/jail-report.h \
	hostd/thumb.c hostd/thumb.h hostd/suspend.c hostd/parent.c
hostd_vdi_hostd_CPPFLAGS = $(AM_CPPFLAGS) $(STORAGE_CPPFLAGS) $(GLIB_CFLAGS) \
	$(JANSSON_CFLAGS) $(PQ_CFLAGS) $(OPENSSL_CFLAGS) $(PNG_CFLAGS) -DBINDIR='"$(bindir)"'
hostd_vdi_hostd_LDADD = $(LIBVDIHTTP) $(LIBVDISQL) $(STORAGE_LIBS) $(LIBVDI) $(PNG_LIBS) -lpthread

# The shipped example is generated from the schema (hostd/config.c);
# tests/hostd/example.sh checks that it matches.
EXTRA_DIST += hostd/hostd.conf.example hostd/vdi-hostd.service

# bench/provision (DESIGN.md §10): pool created → N desktops provisioned,
# and the per-clone cost of vdi-hostd's API against qemu-img create -b.
noinst_PROGRAMS += bench/provision
BENCHES += bench/provision
bench_provision_SOURCES = bench/provision.c
bench_provision_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) -I$(top_srcdir)/tests/hostd -DQEMU_IMG='"$(QEMU_IMG)"' \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
bench_provision_LDADD = $(LIBPOOLS) $(LIBVDISQL) $(HARNESS_LIB) $(HOSTD_PROC_LIB) $(LIBVDI)
EXTRA_bench_provision_DEPENDENCIES = hostd/vdi-hostd

# bench/fleet (issue 23): the pool loop against many vdi-hostd with hollow VMs.
BENCHES += bench/fleet
EXTRA_DIST += bench/fleet
bench/fleet: tests/hostd/hollow-vm hostd/vdi-hostd broker/vdi-brokerd
