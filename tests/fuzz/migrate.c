/* libFuzzer target: the live migration stream as vdi-vm --incoming reads
 * it (hostd/vmm/state/migrate-in.c): the input is what a source sends on
 * the socket, received for real into a temporary directory. Streams that
 * announce more than 16 MiB of RAM are skipped (the target would map and
 * sum that much); checksums are not skipped, so the seeds carry right ones. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate.h"
#include "migstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed {
        int fd;
        const uint8_t *p;
        size_t n;
};

static void *writer(void *arg)
{
        struct feed *f = arg;

        while (f->n) {
                ssize_t w = write(f->fd, f->p, f->n);
                if (w <= 0)
                        break;
                f->p += w;
                f->n -= (size_t)w;
        }
        close(f->fd);
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char dir[] = "/tmp/vdi-mig-fuzz-XXXXXX";
        struct vm_err err;
        struct feed f;
        pthread_t t;
        uint64_t ram;
        int sv[2];

        if (size >= MIG_HEADER_SIZE && mig_header_parse(data, &ram, &err) == 0 && ram > (16u << 20))
                return 0;
        if (!mkdtemp(dir))
                return 0;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                rmdir(dir);
                return 0;
        }
        f = (struct feed){ .fd = sv[1], .p = data, .n = size };
        if (pthread_create(&t, NULL, writer, &f) != 0) {
                close(sv[1]);
        } else {
                if (vm_migrate_receive(sv[0], dir, 5, &err) == 0)
                        vm_migrate_cleanup(dir);
                shutdown(sv[0], SHUT_RDWR); /* a writer still blocked gives up */
                pthread_join(t, NULL);
        }
        close(sv[0]);
        rmdir(dir);
        return 0;
}
