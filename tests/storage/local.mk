# Storage suites (Check → TAP) and shell tests.
STORAGE_TESTS = tests/storage/disk tests/storage/interop tests/storage/crash tests/storage/corrupt
check_PROGRAMS += $(STORAGE_TESTS)
TESTS += $(STORAGE_TESTS) tests/storage/vdi-img.sh tests/storage/convert.sh tests/storage/qemu-formats.sh \
	tests/storage/fuzz-qcow2.sh tests/storage/inspect.sh tests/fuzz/partition.sh \
	tests/fuzz/initrd.sh
EXTRA_DIST += tests/storage/storage-test.h tests/storage/vdi-img.sh tests/storage/convert.sh \
	tests/storage/qemu-formats.sh tests/storage/fuzz-qcow2.sh \
	tests/storage/inspect.sh tests/fuzz/partition.sh tests/fuzz/initrd.sh

STORAGE_TEST_CPPFLAGS = $(TEST_CPPFLAGS) $(STORAGE_CPPFLAGS) -DQEMU_IMG='"$(QEMU_IMG)"'
STORAGE_TEST_LDADD = $(STORAGE_LIBS) $(LIBVDI) $(TEST_LIBS)

tests_storage_disk_SOURCES = tests/storage/disk.c tests/storage/storage-test.h
tests_storage_disk_CPPFLAGS = $(STORAGE_TEST_CPPFLAGS)
tests_storage_disk_LDADD = $(STORAGE_TEST_LDADD)

tests_storage_interop_SOURCES = tests/storage/interop.c tests/storage/storage-test.h
tests_storage_interop_CPPFLAGS = $(STORAGE_TEST_CPPFLAGS)
tests_storage_interop_LDADD = $(STORAGE_TEST_LDADD)

tests_storage_crash_SOURCES = tests/storage/crash.c tests/storage/storage-test.h
tests_storage_crash_CPPFLAGS = $(STORAGE_TEST_CPPFLAGS)
tests_storage_crash_LDADD = $(STORAGE_TEST_LDADD)

tests_storage_corrupt_SOURCES = tests/storage/corrupt.c tests/storage/storage-test.h
tests_storage_corrupt_CPPFLAGS = $(STORAGE_TEST_CPPFLAGS)
tests_storage_corrupt_LDADD = $(STORAGE_TEST_LDADD)
