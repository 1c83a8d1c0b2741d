# The KVM engine (libvmm) and vdi-vm, in kvmtool's shape: x86/ (boot,
# bzImage, CPUID, ACPI, e820), hw/ (UART, power, PCI host, framebuffer),
# virtio/ (transport, queues, one file per device); the core beside them.
VMM_INCLUDES = -I$(top_srcdir)/hostd/vmm -I$(top_srcdir)/hostd/vmm/x86 \
	-I$(top_srcdir)/hostd/vmm/hw -I$(top_srcdir)/hostd/vmm/virtio -I$(top_srcdir)/hostd/vmm/state
noinst_LIBRARIES += hostd/vmm/libvmm.a
hostd_vmm_libvmm_a_SOURCES = \
	hostd/vmm/layout.h \
	hostd/vmm/err.c hostd/vmm/err.h \
	hostd/vmm/x86/bzimage.c hostd/vmm/x86/bzimage.h \
	hostd/vmm/x86/e820.c hostd/vmm/x86/e820.h \
	hostd/vmm/x86/acpi.c hostd/vmm/x86/acpi.h \
	hostd/vmm/x86/cpuid.c hostd/vmm/x86/cpuid.h \
	hostd/vmm/hw/uart.c hostd/vmm/hw/uart.h \
	hostd/vmm/hw/serial.c hostd/vmm/hw/serial.h \
	hostd/vmm/hw/pci.c hostd/vmm/hw/pci.h \
	hostd/vmm/hw/power.c hostd/vmm/hw/power.h \
	hostd/vmm/hw/vmgenid.c hostd/vmm/hw/vmgenid.h \
	hostd/vmm/hw/iobus.c hostd/vmm/hw/iobus.h \
	hostd/vmm/mem.c hostd/vmm/mem.h \
	hostd/vmm/jail.c hostd/vmm/jail.h \
	hostd/vmm/kvm.c hostd/vmm/kvm.h \
	hostd/vmm/x86/boot.c hostd/vmm/x86/boot.h \
	hostd/vmm/vcpu.c hostd/vmm/machine.h \
	hostd/vmm/vm.c hostd/vmm/vm.h
hostd_vmm_libvmm_a_CPPFLAGS = $(AM_CPPFLAGS) $(VMM_INCLUDES)

# Link line for programs using the engine.
LIBVMM = hostd/vmm/libvmm.a $(LIBVDI) -lpthread

bin_PROGRAMS += hostd/vdi-vm
hostd_vdi_vm_SOURCES = hostd/vmm/vdi-vm.c hostd/vmm/remote.c hostd/vmm/remote.h \
	hostd/vmm/migrate-addr.c hostd/vmm/migrate-addr.h \
	hostd/vmm/agent-link.c hostd/vmm/agent-link.h \
	hostd/vmm/identity.c hostd/vmm/identity.h \
	protocols/lsan.c protocols/lsan-unwind.c
hostd_vdi_vm_CPPFLAGS = $(AM_CPPFLAGS) $(VMM_INCLUDES)
hostd_vdi_vm_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(GST_CFLAGS) $(SPICE_CFLAGS) $(JANSSON_CFLAGS)
# The remote display servers (protocols/) come after libvmm's own needs.
hostd_vdi_vm_LDADD = $(SPICE_DISPLAY_LIB) $(RDP_SERVER_LIBS) $(WEB_SERVER_LIBS) $(LIBVMM)

# bench/boot: boot-to-init time against qemu-system-x86_64 -enable-kvm
# (kept here with the engine; bench/local.mk could take it over).
noinst_PROGRAMS += bench/boot-timer
bench_boot_timer_SOURCES = bench/boot-timer.c
dist_noinst_SCRIPTS += bench/boot
BENCHES += bench/boot
CLEANFILES += bench/boot-initrd.gz

# Engine part 2 (issue 5): virtio-pci with split
# virtqueues, virtio-blk over hostd/storage, virtio-input, the framebuffer
# with dirty-log damage, the control socket.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/virtio/virtqueue.c hostd/vmm/virtio/virtqueue.h \
	hostd/vmm/virtio/virtio-pci.c hostd/vmm/virtio/virtio-pci.h \
	hostd/vmm/virtio/virtio-blk.c hostd/vmm/virtio/virtio-input.c hostd/vmm/virtio/virtio-devices.h \
	hostd/vmm/hw/fb.c hostd/vmm/hw/fb.h \
	hostd/vmm/vm-devices.c hostd/vmm/vm-devices.h \
	hostd/vmm/control.c hostd/vmm/control.h

# Engine part 3 (issue 13): virtio-net on tap devices.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/virtio/virtio-net.c hostd/vmm/virtio/virtio-net-proto.c hostd/vmm/virtio/virtio-net-proto.h \
	hostd/vmm/virtio/tap.c hostd/vmm/virtio/tap.h

# The engine now needs the disk backends and, for the control socket, jansson.
LIBVMM += $(STORAGE_LIBS) $(JANSSON_LIBS) $(SECCOMP_LIBS)

# libFuzzer target: hostile descriptor chains against the virtqueue code.
FUZZ_TARGETS += tests/fuzz/virtqueue-fuzz
EXTRA_DIST += tests/fuzz/virtqueue.c
tests/fuzz/virtqueue-fuzz: $(top_srcdir)/tests/fuzz/virtqueue.c $(top_srcdir)/tests/fuzz/fuzz-ram.h $(top_srcdir)/hostd/vmm/virtio/virtqueue.c \
		$(top_srcdir)/hostd/vmm/virtio/virtqueue.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/virtqueue.c \
		$(top_srcdir)/hostd/vmm/virtio/virtqueue.c

# bench/disk: guest I/O on our virtio-blk vs QEMU's (in the KVM lab).
dist_noinst_SCRIPTS += bench/disk
BENCHES += bench/disk
CLEANFILES += bench/disk-initrd.gz

# libFuzzer target: virtio-net framing on hostile descriptor chains.
FUZZ_TARGETS += tests/fuzz/virtio-net-fuzz
EXTRA_DIST += tests/fuzz/virtio-net.c
tests/fuzz/virtio-net-fuzz: $(top_srcdir)/tests/fuzz/virtio-net.c $(top_srcdir)/tests/fuzz/fuzz-ram.h $(top_srcdir)/hostd/vmm/virtio/virtio-net-proto.c \
		$(top_srcdir)/hostd/vmm/virtio/virtio-net-proto.h $(top_srcdir)/hostd/vmm/virtio/virtqueue.c \
		$(top_srcdir)/hostd/vmm/virtio/virtqueue.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/virtio-net.c \
		$(top_srcdir)/hostd/vmm/virtio/virtio-net-proto.c $(top_srcdir)/hostd/vmm/virtio/virtqueue.c

# virtio-gpu (issue 18): 2D, commands separate from the transport.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/virtio/virtio-gpu.c hostd/vmm/virtio/virtio-gpu-proto.c hostd/vmm/virtio/virtio-gpu-proto.h \
	hostd/vmm/virtio/virtio-gpu-model.h hostd/vmm/virtio/virtio-gpu-state.c hostd/vmm/virtio/virtio-gpu-edid.c

# virtio-console (issue 19): multiport, the agents' ports.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/virtio/virtio-console.c hostd/vmm/virtio/virtio-console-proto.c \
	hostd/vmm/virtio/virtio-console-proto.h

# libFuzzer target: hostile virtio-gpu command streams and queues.
FUZZ_TARGETS += tests/fuzz/virtio-gpu-fuzz
EXTRA_DIST += tests/fuzz/virtio-gpu.c
VGPU_FUZZ_SRC = $(top_srcdir)/hostd/vmm/virtio/virtio-gpu-proto.c $(top_srcdir)/hostd/vmm/virtio/virtio-gpu-edid.c \
	$(top_srcdir)/hostd/vmm/virtio/virtqueue.c
tests/fuzz/virtio-gpu-fuzz: $(top_srcdir)/tests/fuzz/virtio-gpu.c $(top_srcdir)/tests/fuzz/fuzz-ram.h $(VGPU_FUZZ_SRC) \
		$(top_srcdir)/hostd/vmm/virtio/virtio-gpu-proto.h $(top_srcdir)/hostd/vmm/virtio/virtio-gpu-model.h \
		$(top_srcdir)/hostd/vmm/virtio/virtqueue.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/virtio-gpu.c $(VGPU_FUZZ_SRC)

# libFuzzer target: virtio-gpu's snapshot section as a restore loads it.
FUZZ_TARGETS += tests/fuzz/virtio-gpu-state-fuzz
EXTRA_DIST += tests/fuzz/virtio-gpu-state.c
VGPU_STATE_FUZZ_SRC = $(VGPU_FUZZ_SRC) $(top_srcdir)/hostd/vmm/virtio/virtio-gpu-state.c \
	$(top_srcdir)/hostd/vmm/state/format.c $(top_srcdir)/hostd/vmm/err.c
tests/fuzz/virtio-gpu-state-fuzz: $(top_srcdir)/tests/fuzz/virtio-gpu-state.c $(top_srcdir)/tests/fuzz/fuzz-ram.h \
		$(VGPU_STATE_FUZZ_SRC) $(top_srcdir)/hostd/vmm/virtio/virtio-gpu-proto.h \
		$(top_srcdir)/hostd/vmm/virtio/virtio-gpu-model.h $(top_srcdir)/hostd/vmm/state/state.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/virtio-gpu-state.c \
		$(VGPU_STATE_FUZZ_SRC) $(ZLIB_LIBS)

# bench/net: TCP throughput through our virtio-net vs QEMU's (in the KVM lab).
dist_noinst_SCRIPTS += bench/net
BENCHES += bench/net
CLEANFILES += bench/net-initrd.gz

# Snapshots (issue 20): the state format, KVM and RAM state, save/restore.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/state/state.h hostd/vmm/state/format.c \
	hostd/vmm/state/ram.c hostd/vmm/state/ram.h \
	hostd/vmm/state/cpu.c hostd/vmm/state/cpu.h \
	hostd/vmm/state/snapshot.c hostd/vmm/state/snapshot.h \
	hostd/vmm/state/disks.c hostd/vmm/state/disks.h \
	hostd/vmm/state/disks-section.c
EXTRA_DIST += hostd/vmm/SNAPSHOT.md

# Live migration (issue 26): the stream's framing and the two sides.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/state/migstream.c hostd/vmm/state/migstream.h \
	hostd/vmm/state/migio.c hostd/vmm/state/migio.h \
	hostd/vmm/state/migrate.c hostd/vmm/state/migrate-in.c hostd/vmm/state/migrate.h
EXTRA_DIST += hostd/vmm/MIGRATION.md

# bench/instant-clone: clones of a snapshot against cold boots and QEMU's
# -loadvm (lab); bench/first-frame is its RDP client.
dist_noinst_SCRIPTS += bench/instant-clone
noinst_PROGRAMS += bench/first-frame
bench_first_frame_SOURCES = bench/first-frame.c protocols/lsan.c protocols/lsan-unwind.c
bench_first_frame_CPPFLAGS = $(TEST_CPPFLAGS)
bench_first_frame_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(FREERDP_CFLAGS)
bench_first_frame_LDADD = $(TCLIENT_LIBS)
EXTRA_DIST += bench/instant-clone.py
BENCHES += bench/instant-clone
CLEANFILES += bench/instant-clone-initrd.gz

# libFuzzer target: snapshot state files and the device state loaders.
FUZZ_TARGETS += tests/fuzz/snapshot-fuzz
EXTRA_DIST += tests/fuzz/snapshot.c
SNAPSHOT_FUZZ_SRC = $(top_srcdir)/hostd/vmm/state/format.c $(top_srcdir)/hostd/vmm/state/cpu.c \
	$(top_srcdir)/hostd/vmm/x86/cpuid.c $(top_srcdir)/hostd/vmm/err.c $(top_srcdir)/hostd/vmm/hw/uart.c \
	$(top_srcdir)/hostd/vmm/hw/serial.c $(top_srcdir)/hostd/vmm/hw/power.c $(top_srcdir)/hostd/vmm/hw/pci.c \
	$(top_srcdir)/hostd/vmm/state/disks-section.c
tests/fuzz/snapshot-fuzz: $(top_srcdir)/tests/fuzz/snapshot.c $(SNAPSHOT_FUZZ_SRC) $(top_srcdir)/hostd/vmm/state/state.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/snapshot.c \
		$(SNAPSHOT_FUZZ_SRC) $(ZLIB_LIBS) -lpthread

# libFuzzer target: the migration stream as the target receives it.
FUZZ_TARGETS += tests/fuzz/migrate-fuzz
EXTRA_DIST += tests/fuzz/migrate.c
MIGRATE_FUZZ_SRC = $(top_srcdir)/hostd/vmm/state/migrate-in.c $(top_srcdir)/hostd/vmm/state/migio.c \
	$(top_srcdir)/hostd/vmm/state/migstream.c $(top_srcdir)/hostd/vmm/state/ram.c \
	$(top_srcdir)/hostd/vmm/state/format.c $(top_srcdir)/hostd/vmm/err.c
tests/fuzz/migrate-fuzz: $(top_srcdir)/tests/fuzz/migrate.c $(MIGRATE_FUZZ_SRC) $(top_srcdir)/hostd/vmm/state/migstream.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/migrate.c \
		$(MIGRATE_FUZZ_SRC) $(ZLIB_LIBS) -lpthread

# bench/migrate: live migration against QEMU's, in the KVM lab.
dist_noinst_SCRIPTS += bench/migrate
EXTRA_DIST += bench/migrate-lab.py
BENCHES += bench/migrate
CLEANFILES += bench/migrate-initrd.gz
# Intel HD Audio (issue 19): ICH6 controller, duplex codec, BDL walker.
hostd_vmm_libvmm_a_SOURCES += \
	hostd/vmm/hw/hda.c hostd/vmm/hw/hda.h hostd/vmm/hw/hda-state.c \
	hostd/vmm/hw/audio-file.c hostd/vmm/hw/audio-file.h hostd/vmm/hw/audio-ring.c hostd/vmm/hw/audio-ring.h \
	hostd/vmm/hw/hda-codec.c hostd/vmm/hw/hda-codec.h \
	hostd/vmm/hw/hda-bdl.c hostd/vmm/hw/hda-bdl.h

# libFuzzer target: a hostile HDA driver (registers, BDLs, CORB, verbs).
FUZZ_TARGETS += tests/fuzz/hda-fuzz
EXTRA_DIST += tests/fuzz/hda.c
HDA_FUZZ_SRC = $(top_srcdir)/hostd/vmm/hw/hda.c $(top_srcdir)/hostd/vmm/hw/hda-codec.c \
	$(top_srcdir)/hostd/vmm/hw/hda-bdl.c $(top_srcdir)/hostd/vmm/hw/pci.c $(top_srcdir)/hostd/vmm/state/format.c \
	$(top_srcdir)/hostd/vmm/err.c
tests/fuzz/hda-fuzz: $(top_srcdir)/tests/fuzz/hda.c $(top_srcdir)/tests/fuzz/fuzz-ram.h $(HDA_FUZZ_SRC) $(top_srcdir)/hostd/vmm/hw/hda.h \
		$(top_srcdir)/hostd/vmm/hw/hda-codec.h $(top_srcdir)/hostd/vmm/hw/hda-bdl.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/hda.c $(HDA_FUZZ_SRC) $(ZLIB_LIBS) \
		-lpthread
EXTRA_DIST += tests/fuzz/fuzz-ram.h
# libFuzzer target: vdi-vm's control socket with passed descriptors.
FUZZ_TARGETS += tests/fuzz/control-fuzz
EXTRA_DIST += tests/fuzz/control.c
CONTROL_FUZZ_SRC = $(top_srcdir)/hostd/vmm/control.c $(top_srcdir)/lib/fdpass.c
tests/fuzz/control-fuzz: $(top_srcdir)/tests/fuzz/control.c $(CONTROL_FUZZ_SRC) \
		$(top_srcdir)/hostd/vmm/control.h $(top_srcdir)/lib/fdpass.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) $(JANSSON_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/control.c $(CONTROL_FUZZ_SRC) $(JANSSON_LIBS) -lpthread

# libFuzzer target: virtio-console's control protocol and port FIFOs.
FUZZ_TARGETS += tests/fuzz/virtio-console-fuzz
EXTRA_DIST += tests/fuzz/virtio-console.c
tests/fuzz/virtio-console-fuzz: $(top_srcdir)/tests/fuzz/virtio-console.c \
		$(top_srcdir)/hostd/vmm/virtio/virtio-console-proto.c $(top_srcdir)/hostd/vmm/virtio/virtio-console-proto.h
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(VMM_INCLUDES) -o $@ $(top_srcdir)/tests/fuzz/virtio-console.c \
		$(top_srcdir)/hostd/vmm/virtio/virtio-console-proto.c
