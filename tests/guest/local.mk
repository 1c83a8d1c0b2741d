# tests/guest/local.mk — boot material for the guests our VMM runs in tests,
# included from the top-level Makefile.am; paths relative to the top.
#
# tests/guest/build-initrd OUT makes the initramfs: the static agent below
# as /init, busybox-static and the Debian kernel's virtio modules.  Boot it
# with the kernel `tests/guest/build-initrd --print-kernel` names.

# The agent is PID 1 of a guest without libc: static, and compiled with
# explicit flags because AM_CFLAGS/CFLAGS may carry sanitizer options that
# cannot work there.  Not a check_PROGRAM for the same reason.  libdrm
# (libdrm-dev's static library) drives virtio-gpu in the gputest action.
GUEST_AGENT_SRC = tests/guest/agent.c tests/guest/agent-gpu.c tests/guest/agent-clone.c tests/guest/agent-msg.c
tests/guest/agent: $(GUEST_AGENT_SRC) tests/guest/agent.h tests/guest/agent-msg.h tests/guest/gpu-pattern.h \
	tests/guest/clone-pattern.h
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(CC) -static -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE $$(pkg-config --cflags libdrm) \
		-o $@ $(GUEST_AGENT_SRC:%=$(srcdir)/%) $$(pkg-config --libs libdrm)

# The guest initramfs for VMM tests: make a test's .log depend on it, e.g.
#   tests/vmm/boot.log: tests/guest/initrd.gz
tests/guest/initrd.gz: tests/guest/agent tests/guest/build-initrd tests/lab/initramfs.sh
	$(AM_V_GEN)$(srcdir)/tests/guest/build-initrd --agent tests/guest/agent $@

# Boots a fresh initramfs under plain QEMU TCG and waits for "AGENT ready".
TESTS += tests/guest/agent-boot.sh
tests/guest/agent-boot.log: tests/guest/agent

CLEANFILES += tests/guest/agent tests/guest/initrd.gz

EXTRA_DIST += \
	tests/guest/agent-boot.sh \
	$(GUEST_AGENT_SRC) \
	tests/guest/agent.h \
	tests/guest/agent-msg.h \
	tests/guest/gpu-pattern.h \
	tests/guest/clone-pattern.h \
	tests/guest/build-initrd
