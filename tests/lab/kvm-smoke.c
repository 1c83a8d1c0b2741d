/*
 * kvm-smoke — the smallest proof that /dev/kvm works: one VM, one vCPU,
 * four instructions of real-mode code.
 *
 *   0x1000: mov dx, 0x3f0   ; BA F0 03
 *           mov al, 0x42    ; B0 42
 *           out dx, al      ; EE
 *           hlt             ; F4
 *
 * The vCPU must exit to us with KVM_EXIT_IO (port 0x3f0, one byte, 0x42),
 * then with KVM_EXIT_HLT.  Output is TAP; exit status 0 when every check
 * passed, 1 otherwise.  Run it through tests/lab/needs-kvm on machines
 * without /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#define SMOKE_MEM_SIZE  0x10000u
#define SMOKE_CODE_ADDR 0x1000u
#define SMOKE_PORT      0x3f0
#define SMOKE_VALUE     0x42
#define SMOKE_NTESTS    6

static const uint8_t smoke_code[] = {
	0xba, 0xf0, 0x03, /* mov dx, 0x3f0 */
	0xb0, 0x42,       /* mov al, 0x42 */
	0xee,             /* out dx, al */
	0xf4,             /* hlt */
};

struct smoke {
	int kvm;              /* /dev/kvm */
	int vm;               /* KVM_CREATE_VM */
	int vcpu;             /* KVM_CREATE_VCPU */
	void *mem;            /* guest RAM, SMOKE_MEM_SIZE bytes at 0 */
	struct kvm_run *run;  /* the vCPU's shared run area */
	size_t run_size;
	int test;             /* TAP test number of the last result */
	int failed;
};

/* Print one TAP result; returns ok so callers can stop after a failure. */
__attribute__((format(printf, 3, 4)))
static int smoke_result(struct smoke *s, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++s->test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		s->failed = 1;
	return ok;
}

/* Open /dev/kvm; on failure say why in words a developer can act on. */
static int smoke_open_kvm(struct smoke *s)
{
	s->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (s->kvm >= 0)
		return 0;
	if (errno == ENOENT)
		fprintf(stderr, "KVM not available: /dev/kvm missing — is the kvm module loaded? "
			"(on machines without it run: tests/lab/needs-kvm %s)\n", "tests/lab/kvm-smoke");
	else
		fprintf(stderr, "KVM not available: /dev/kvm: %s — is this user in group kvm?\n",
			strerror(errno));
	return -errno;
}

/* Create the VM, its memory with the code in place, and one vCPU in real
 * mode at SMOKE_CODE_ADDR.  Returns 0 or a negative errno. */
static int smoke_setup(struct smoke *s)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int size;

	s->vm = ioctl(s->kvm, KVM_CREATE_VM, 0UL);
	if (s->vm < 0)
		return -errno;

	s->mem = mmap(NULL, SMOKE_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	memcpy((uint8_t *)s->mem + SMOKE_CODE_ADDR, smoke_code, sizeof(smoke_code));

	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = SMOKE_MEM_SIZE,
		.userspace_addr = (uintptr_t)s->mem,
	};
	if (ioctl(s->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;

	s->vcpu = ioctl(s->vm, KVM_CREATE_VCPU, 0UL);
	if (s->vcpu < 0)
		return -errno;
	size = ioctl(s->kvm, KVM_GET_VCPU_MMAP_SIZE, 0UL);
	if (size < (int)sizeof(struct kvm_run))
		return size < 0 ? -errno : -EINVAL;
	s->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, s->vcpu, 0);
	if (s->run == MAP_FAILED) {
		s->run = NULL;
		return -errno;
	}
	s->run_size = (size_t)size;

	/* Real mode, flat: CS base 0 so that CS:IP = 0:0x1000. */
	if (ioctl(s->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(s->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rip = SMOKE_CODE_ADDR;
	regs.rflags = 0x2; /* bit 1 is reserved and must be set */
	if (ioctl(s->vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void smoke_teardown(struct smoke *s)
{
	if (s->run)
		munmap(s->run, s->run_size);
	if (s->mem)
		munmap(s->mem, SMOKE_MEM_SIZE);
	if (s->vcpu >= 0)
		close(s->vcpu);
	if (s->vm >= 0)
		close(s->vm);
	if (s->kvm >= 0)
		close(s->kvm);
}

/* KVM_RUN until the next exit; returns the exit reason or a negative errno.
 * Signals interrupting the run (EINTR) simply re-enter the guest. */
static int smoke_run(struct smoke *s)
{
	for (;;) {
		if (ioctl(s->vcpu, KVM_RUN, 0UL) == 0)
			return (int)s->run->exit_reason;
		if (errno != EINTR)
			return -errno;
	}
}

int main(void)
{
	struct smoke s = { .kvm = -1, .vm = -1, .vcpu = -1 };
	const uint8_t *data;
	int api, r;

	printf("1..%d\n", SMOKE_NTESTS);
	fflush(stdout);

	r = smoke_open_kvm(&s);
	if (r < 0) {
		printf("Bail out! KVM not available: /dev/kvm: %s\n", strerror(-r));
		return 1;
	}

	api = ioctl(s.kvm, KVM_GET_API_VERSION, 0UL);
	if (!smoke_result(&s, api == KVM_API_VERSION, "KVM_GET_API_VERSION is %d (got %d)",
			  KVM_API_VERSION, api))
		goto out;

	r = smoke_setup(&s);
	if (!smoke_result(&s, r == 0, "VM with one vCPU and %u KiB at 0%s%s", SMOKE_MEM_SIZE / 1024,
			  r ? ": " : "", r ? strerror(-r) : ""))
		goto out;

	r = smoke_run(&s);
	if (!smoke_result(&s, r == KVM_EXIT_IO, "first exit is KVM_EXIT_IO (got %d%s%s)", r,
			  r < 0 ? ": " : "", r < 0 ? strerror(-r) : ""))
		goto out;

	data = (const uint8_t *)s.run + s.run->io.data_offset;
	if (!smoke_result(&s, s.run->io.direction == KVM_EXIT_IO_OUT && s.run->io.port == SMOKE_PORT &&
				      s.run->io.size == 1 && s.run->io.count == 1,
			  "out to port 0x%x, 1 byte (got %s port 0x%x, size %u, count %u)", SMOKE_PORT,
			  s.run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", s.run->io.port,
			  s.run->io.size, s.run->io.count))
		goto out;
	if (!smoke_result(&s, *data == SMOKE_VALUE, "value written is 0x%02x (got 0x%02x)", SMOKE_VALUE,
			  *data))
		goto out;

	r = smoke_run(&s);
	smoke_result(&s, r == KVM_EXIT_HLT, "second exit is KVM_EXIT_HLT (got %d%s%s)", r,
		     r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");

out:
	/* Tests never reached count as failures: say which. */
	while (s.test < SMOKE_NTESTS)
		smoke_result(&s, 0, "skipped after an earlier failure");
	smoke_teardown(&s);
	return s.failed ? 1 : 0;
}
