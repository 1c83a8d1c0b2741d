# Unit suites of the KVM engine (no KVM needed) and the boot test (needs
# /dev/kvm: runs through tests/lab/needs-kvm).
VMM_TESTS = tests/vmm/bzimage tests/vmm/layout tests/vmm/acpi tests/vmm/cpuid \
	tests/vmm/uart tests/vmm/pci tests/vmm/power tests/vmm/jail
check_PROGRAMS += $(VMM_TESTS)
TESTS += $(VMM_TESTS) tests/vmm/boot.sh
EXTRA_DIST += tests/vmm/boot.sh tests/vmm/boot-lab.sh tests/vmm/lib.sh
VMM_TEST_CPPFLAGS = $(TEST_CPPFLAGS) $(VMM_INCLUDES)
VMM_TEST_LDADD = $(LIBVMM) $(TEST_LIBS)

tests_vmm_bzimage_SOURCES = tests/vmm/bzimage.c
tests_vmm_bzimage_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_bzimage_LDADD = $(VMM_TEST_LDADD)

tests_vmm_layout_SOURCES = tests/vmm/layout.c
tests_vmm_layout_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_layout_LDADD = $(VMM_TEST_LDADD)

tests_vmm_acpi_SOURCES = tests/vmm/acpi.c
tests_vmm_acpi_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_acpi_LDADD = $(VMM_TEST_LDADD)

tests_vmm_cpuid_SOURCES = tests/vmm/cpuid.c
tests_vmm_cpuid_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_cpuid_LDADD = $(VMM_TEST_LDADD)

tests_vmm_uart_SOURCES = tests/vmm/uart.c
tests_vmm_uart_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_uart_LDADD = $(VMM_TEST_LDADD)

tests_vmm_pci_SOURCES = tests/vmm/pci.c
tests_vmm_pci_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_pci_LDADD = $(VMM_TEST_LDADD)

tests_vmm_power_SOURCES = tests/vmm/power.c
tests_vmm_power_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_power_LDADD = $(VMM_TEST_LDADD)

CLEANFILES += tests/vmm/guest-initrd.gz

# Tests of engine part 2 (issue 5).
VIRTIO_TESTS = tests/vmm/virtqueue tests/vmm/virtio tests/vmm/fb tests/vmm/control
check_PROGRAMS += $(VIRTIO_TESTS)
TESTS += $(VIRTIO_TESTS) tests/fuzz/virtqueue.sh tests/vmm/devices.sh
EXTRA_DIST += tests/fuzz/virtqueue.sh tests/vmm/devices.sh tests/vmm/devices-lab.py
CLEANFILES += tests/vmm/devices-initrd.gz
tests/vmm/devices.log: hostd/vdi-vm hostd/vdi-img tests/guest/agent

tests_vmm_virtqueue_SOURCES = tests/vmm/virtqueue.c
tests_vmm_virtqueue_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_virtqueue_LDADD = $(VMM_TEST_LDADD)

tests_vmm_virtio_SOURCES = tests/vmm/virtio.c
tests_vmm_virtio_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_virtio_LDADD = $(VMM_TEST_LDADD)

tests_vmm_fb_SOURCES = tests/vmm/fb.c
tests_vmm_fb_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_fb_LDADD = $(VMM_TEST_LDADD)

tests_vmm_control_SOURCES = tests/vmm/control.c
tests_vmm_control_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_control_LDADD = $(VMM_TEST_LDADD)

# virtio-net (issue 13): argument checks here, guests on bridges in the lab.
check_PROGRAMS += tests/vmm/virtio-net
TESTS += tests/vmm/virtio-net tests/vmm/net.sh tests/fuzz/virtio-net.sh
EXTRA_DIST += tests/vmm/net.sh tests/vmm/net-lab.py tests/fuzz/virtio-net.sh
CLEANFILES += tests/vmm/net-initrd.gz
tests/vmm/net.log: hostd/vdi-vm tests/guest/agent

tests_vmm_virtio_net_SOURCES = tests/vmm/virtio-net.c
tests_vmm_virtio_net_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_virtio_net_LDADD = $(VMM_TEST_LDADD)

# virtio-gpu (issue 18): commands and the device without KVM, and a fuzzer.
check_PROGRAMS += tests/vmm/virtio-gpu
TESTS += tests/vmm/virtio-gpu tests/fuzz/virtio-gpu.sh tests/fuzz/virtio-gpu-state.sh
EXTRA_DIST += tests/fuzz/virtio-gpu.sh tests/fuzz/virtio-gpu-state.sh

tests_vmm_virtio_gpu_SOURCES = tests/vmm/virtio-gpu.c
tests_vmm_virtio_gpu_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_virtio_gpu_LDADD = $(VMM_TEST_LDADD)

# The guest's virtio_gpu driver taking a layout an RDP client asks for, in
# the lab (the test guest's gputest action, FreeRDP's client library).
check_PROGRAMS += tests/vmm/gpu-client
tests_vmm_gpu_client_SOURCES = tests/vmm/gpu-client.c protocols/lsan.c protocols/lsan-unwind.c
tests_vmm_gpu_client_CPPFLAGS = $(TEST_CPPFLAGS)
tests_vmm_gpu_client_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS)
tests_vmm_gpu_client_LDADD = $(TCLIENT_LIBS)
# Its SPICE half: spice-client-glib's monitors config (remote-viewer's resize).
check_PROGRAMS += tests/vmm/gpu-spice
tests_vmm_gpu_spice_SOURCES = tests/vmm/gpu-spice.c protocols/lsan.c protocols/lsan-unwind.c
tests_vmm_gpu_spice_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS)
tests_vmm_gpu_spice_LDADD = $(SPICE_CLIENT_LIB)
TESTS += tests/vmm/gpu.sh
EXTRA_DIST += tests/vmm/gpu.sh tests/vmm/gpu-lab.py
CLEANFILES += tests/vmm/gpu-initrd.gz
tests/vmm/gpu.log: hostd/vdi-vm tests/guest/agent tests/vmm/gpu-client tests/vmm/gpu-spice

# Snapshots (issue 20): the state format without KVM, a fuzzer for its
# parser, and snapshot/restore of a counting guest in the lab.
TESTS += tests/vmm/snapshot.sh
EXTRA_DIST += tests/vmm/snapshot.sh tests/vmm/snapshot-lab.py tests/vmm/labtap.py
CLEANFILES += tests/vmm/snapshot-initrd.gz
tests/vmm/snapshot.log: hostd/vdi-vm hostd/vdi-img tests/guest/agent
check_PROGRAMS += tests/vmm/state
TESTS += tests/vmm/state
tests_vmm_state_SOURCES = tests/vmm/state.c tests/vmm/state-test.h
tests_vmm_state_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_state_LDADD = $(VMM_TEST_LDADD)
TESTS += tests/fuzz/snapshot.sh
EXTRA_DIST += tests/fuzz/snapshot.sh

# Live migration (issue 26): the stream and the receiving side without
# KVM, a fuzzer for the stream, and a migration between two vdi-vm in the lab.
check_PROGRAMS += tests/vmm/migstream
TESTS += tests/vmm/migstream tests/fuzz/migrate.sh tests/vmm/migrate.sh
EXTRA_DIST += tests/fuzz/migrate.sh tests/vmm/migrate.sh tests/vmm/migrate-lab.py
CLEANFILES += tests/vmm/migrate-initrd.gz
tests/vmm/migrate.log: hostd/vdi-vm tests/guest/agent
tests_vmm_migstream_SOURCES = tests/vmm/migstream.c
tests_vmm_migstream_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_migstream_LDADD = $(VMM_TEST_LDADD)
# Intel HD Audio (issue 19): controller, codec and BDL walker without KVM.
check_PROGRAMS += tests/vmm/hda
TESTS += tests/vmm/hda tests/fuzz/hda.sh
EXTRA_DIST += tests/fuzz/hda.sh
tests_vmm_hda_SOURCES = tests/vmm/hda.c
tests_vmm_hda_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_hda_LDADD = $(VMM_TEST_LDADD)
TESTS += tests/vmm/sound.sh
EXTRA_DIST += tests/vmm/sound.sh tests/vmm/sound-lab.py
CLEANFILES += tests/vmm/sound-initrd.gz
tests/vmm/sound.log: hostd/vdi-vm tests/guest/agent
# seccomp filters per thread class (issue 22), without KVM.
tests_vmm_jail_SOURCES = tests/vmm/jail.c tests/vmm/jail-trip.h
tests_vmm_jail_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_jail_LDADD = $(VMM_TEST_LDADD)

# The display seccomp filter under real clients, without KVM (issue 22).
TESTS += tests/vmm/jail-display.sh
EXTRA_DIST += tests/vmm/jail-display.sh

# Real RDP and SPICE clients for tests/vmm/jail-display.sh and the lab
# scripts (tests/vmm/devices-lab.py).
check_PROGRAMS += tests/vmm/display-probe
tests_vmm_display_probe_SOURCES = tests/vmm/display-probe.c protocols/lsan.c protocols/lsan-unwind.c
tests_vmm_display_probe_CPPFLAGS = $(TEST_CPPFLAGS) $(SPICE_CLIENT_CFLAGS) $(FREERDP_CLIENT_CFLAGS) $(FREERDP_CFLAGS)
tests_vmm_display_probe_LDADD = $(TCLIENT_LIBS) $(SPICE_CLIENT_LIB) $(GLIB_LIBS) -lm
# virtio-console (issue 19): the device without KVM, and a fuzzer.
check_PROGRAMS += tests/vmm/virtio-console
TESTS += tests/vmm/virtio-console tests/fuzz/virtio-console.sh
EXTRA_DIST += tests/fuzz/virtio-console.sh
TESTS += tests/fuzz/control.sh
EXTRA_DIST += tests/fuzz/control.sh

tests_vmm_virtio_console_SOURCES = tests/vmm/virtio-console.c
tests_vmm_virtio_console_CPPFLAGS = $(VMM_TEST_CPPFLAGS)
tests_vmm_virtio_console_LDADD = $(VMM_TEST_LDADD)

# The agent console with a real guest and SPICE client (lab).
TESTS += tests/vmm/agent.sh
EXTRA_DIST += tests/vmm/agent.sh tests/vmm/agent-lab.py
CLEANFILES += tests/vmm/agent-initrd.gz
tests/vmm/agent.log: hostd/vdi-vm tests/guest/agent tests/spice/clip

# Instant clones' identity (issue 20): vdi-vm's message to the guest agent
# and the agent's parser, the VM generation ID syntax; a fuzzer of the
# parser; ten clones of one parent in the lab (tests/vmm/clones.sh).
check_PROGRAMS += tests/vmm/identity
TESTS += tests/vmm/identity tests/fuzz/agent-msg.sh tests/fuzz/agent-time.sh tests/vmm/clones.sh
EXTRA_DIST += tests/fuzz/agent-msg.sh tests/fuzz/agent-msg.c tests/fuzz/agent-time.sh tests/fuzz/agent-time.c \
	tests/vmm/clones.sh tests/vmm/clones-lab.py
CLEANFILES += tests/vmm/clones-initrd.gz
tests/vmm/clones.log: hostd/vdi-vm tests/guest/agent tests/vmm/clone-client
# Its RDP client: each clone's own picture and typing.
check_PROGRAMS += tests/vmm/clone-client
tests_vmm_clone_client_SOURCES = tests/vmm/clone-client.c protocols/lsan.c protocols/lsan-unwind.c
tests_vmm_clone_client_CPPFLAGS = $(TEST_CPPFLAGS)
tests_vmm_clone_client_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS)
tests_vmm_clone_client_LDADD = $(TCLIENT_LIBS)
tests_vmm_identity_SOURCES = tests/vmm/identity.c hostd/vmm/identity.c tests/guest/agent-msg.c
tests_vmm_identity_CPPFLAGS = $(VMM_TEST_CPPFLAGS) $(JANSSON_CFLAGS)
tests_vmm_identity_LDADD = $(VMM_TEST_LDADD)
FUZZ_TARGETS += tests/fuzz/agent-msg-fuzz
tests/fuzz/agent-msg-fuzz: $(top_srcdir)/tests/fuzz/agent-msg.c $(top_srcdir)/tests/guest/agent-msg.c \
		$(top_srcdir)/tests/guest/agent-msg.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/agent-msg.c $(top_srcdir)/tests/guest/agent-msg.c
FUZZ_TARGETS += tests/fuzz/agent-time-fuzz
tests/fuzz/agent-time-fuzz: $(top_srcdir)/tests/fuzz/agent-time.c $(top_srcdir)/hostd/vmm/identity.c \
		$(top_srcdir)/hostd/vmm/hw/vmgenid.c $(top_srcdir)/tests/guest/agent-msg.c
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) $(JANSSON_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/agent-time.c \
		$(top_srcdir)/hostd/vmm/identity.c $(top_srcdir)/hostd/vmm/hw/vmgenid.c \
		$(top_srcdir)/hostd/vmm/mem.c $(top_srcdir)/hostd/vmm/err.c $(top_srcdir)/tests/guest/agent-msg.c $(JANSSON_LIBS)
