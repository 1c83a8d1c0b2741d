# hostd/storage: disk images (qcow2, raw) behind struct disk_ops, and vdi-img.
STORAGE_SOURCES = \
	hostd/storage/disk.c hostd/storage/disk.h \
	hostd/storage/raw.c \
	hostd/storage/qcow2.c hostd/storage/qcow2.h \
	hostd/storage/qcow2-meta.c \
	hostd/storage/qcow2-create.c \
	hostd/storage/qcow2-check.c

noinst_LIBRARIES += hostd/storage/libstorage.a
hostd_storage_libstorage_a_SOURCES = $(STORAGE_SOURCES)
hostd_storage_libstorage_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hostd/storage

# zlib, zstd: compressed-cluster reads.
STORAGE_LIBS = hostd/storage/libstorage.a $(ZLIB_LIBS) $(ZSTD_LIBS) -lpthread
STORAGE_CPPFLAGS = -I$(top_srcdir)/hostd/storage

bin_PROGRAMS += hostd/vdi-img
# inspect/import: partition tables and ext2/3/4 through libext2fs.
INSPECT_SOURCES = hostd/storage/partition.c hostd/storage/partition.h \
	hostd/storage/inspect.c hostd/storage/inspect.h \
	hostd/storage/initrd.c hostd/storage/initrd.h
hostd_vdi_img_SOURCES = hostd/storage/vdi-img.c $(INSPECT_SOURCES)
hostd_vdi_img_CPPFLAGS = $(AM_CPPFLAGS) $(STORAGE_CPPFLAGS) $(EXT2FS_CFLAGS)
hostd_vdi_img_LDADD = $(STORAGE_LIBS) $(EXT2FS_LIBS)

# libFuzzer target over the qcow2 open/read/check path (clang; see tests/fuzz/run).
STORAGE_C = hostd/storage/disk.c hostd/storage/raw.c hostd/storage/qcow2.c \
	hostd/storage/qcow2-meta.c hostd/storage/qcow2-create.c hostd/storage/qcow2-check.c
FUZZ_TARGETS += tests/fuzz/qcow2-fuzz
EXTRA_DIST += tests/fuzz/qcow2.c
tests/fuzz/qcow2-fuzz: $(top_srcdir)/tests/fuzz/qcow2.c $(STORAGE_SOURCES)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(top_srcdir)/hostd/storage -o $@ \
		$(top_srcdir)/tests/fuzz/qcow2.c $(STORAGE_C:%=$(top_srcdir)/%) $(ZLIB_LIBS) $(ZSTD_LIBS)

# libFuzzer target over the MBR/GPT parser.
FUZZ_TARGETS += tests/fuzz/partition-fuzz
EXTRA_DIST += tests/fuzz/partition.c
tests/fuzz/partition-fuzz: $(top_srcdir)/tests/fuzz/partition.c $(STORAGE_SOURCES) hostd/storage/partition.c
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(top_srcdir)/hostd/storage -o $@ \
		$(top_srcdir)/tests/fuzz/partition.c $(top_srcdir)/hostd/storage/partition.c \
		$(STORAGE_C:%=$(top_srcdir)/%) $(ZLIB_LIBS) $(ZSTD_LIBS)

# libFuzzer target over the initramfs scanner.
FUZZ_TARGETS += tests/fuzz/initrd-fuzz
EXTRA_DIST += tests/fuzz/initrd.c
tests/fuzz/initrd-fuzz: $(top_srcdir)/tests/fuzz/initrd.c hostd/storage/initrd.c
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(top_srcdir)/hostd/storage -o $@ \
		$(top_srcdir)/tests/fuzz/initrd.c $(top_srcdir)/hostd/storage/initrd.c $(ZLIB_LIBS) $(ZSTD_LIBS)

# Benchmarks (see DESIGN.md §10). Built without sanitizers so the figures
# mean something: the storage sources are compiled again for these targets.
BENCH_STORAGE_CFLAGS = -std=gnu11 -O2 $(WARN_CFLAGS) -fstack-protector-strong
BENCH_STORAGE_CPPFLAGS = $(AM_CPPFLAGS) $(STORAGE_CPPFLAGS) -DQEMU_IMG='"$(QEMU_IMG)"'
noinst_PROGRAMS += bench/clone bench/qcow2-io bench/clone-vdi-img
BENCHES += bench/clone bench/qcow2-io bench/image-convert
EXTRA_DIST += bench/image-convert

bench_clone_SOURCES = bench/clone.c bench/clone-common.h $(STORAGE_SOURCES)
bench_clone_CPPFLAGS = $(BENCH_STORAGE_CPPFLAGS)
bench_clone_CFLAGS = $(BENCH_STORAGE_CFLAGS)
bench_clone_LDFLAGS =
bench_clone_LDADD = $(ZLIB_LIBS) $(ZSTD_LIBS) -lpthread

bench_qcow2_io_SOURCES = bench/qcow2-io.c bench/clone-common.h $(STORAGE_SOURCES)
bench_qcow2_io_CPPFLAGS = $(BENCH_STORAGE_CPPFLAGS)
bench_qcow2_io_CFLAGS = $(BENCH_STORAGE_CFLAGS)
bench_qcow2_io_LDFLAGS =
bench_qcow2_io_LDADD = $(ZLIB_LIBS) $(ZSTD_LIBS) -lpthread -lm

# vdi-img without sanitizers, for the process-vs-process clone benchmark.
bench_clone_vdi_img_SOURCES = hostd/storage/vdi-img.c $(INSPECT_SOURCES) $(STORAGE_SOURCES)
bench_clone_vdi_img_CPPFLAGS = $(BENCH_STORAGE_CPPFLAGS) $(EXT2FS_CFLAGS)
bench_clone_vdi_img_CFLAGS = $(BENCH_STORAGE_CFLAGS)
bench_clone_vdi_img_LDFLAGS =
bench_clone_vdi_img_LDADD = $(ZLIB_LIBS) $(ZSTD_LIBS) $(EXT2FS_LIBS) -lpthread
