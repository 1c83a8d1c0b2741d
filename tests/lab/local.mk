# tests/lab/local.mk — the KVM lab (tests/lab/README.md), included from the
# top-level Makefile.am; paths are relative to the top directory.
#
# tests/lab/run boots a QEMU TCG guest with emulated AMD SVM whose kernel
# offers /dev/kvm; tests/lab/needs-kvm runs a command there when this machine
# has no usable /dev/kvm, directly otherwise.

# The smallest KVM user: one VM, one vCPU, an OUT and a HLT.  Built for the
# host (AM_CFLAGS and sanitizers apply); smoke.sh runs it via needs-kvm.
check_PROGRAMS += tests/lab/kvm-smoke
tests_lab_kvm_smoke_SOURCES = tests/lab/kvm-smoke.c

# One lab boot for kvm-smoke plus status/stdout/stderr/env/--fwd checks, one
# in parallel for --timeout.  Skips (77) where no lab can run.
TESTS += tests/lab/smoke.sh
tests/lab/smoke.log: tests/lab/kvm-smoke

EXTRA_DIST += \
	tests/lab/README.md \
	tests/lab/initramfs.sh \
	tests/lab/needs-kvm tests/lab/kvm-direct \
	tests/lab/run \
	tests/lab/smoke.sh
