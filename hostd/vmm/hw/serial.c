#include "config.h"

#include "serial.h"
#include "jail.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "state.h"

static void flush_locked(struct serial *s)
{
        size_t done = 0;

        while (done < s->len && s->out_fd >= 0) {
                ssize_t n = write(s->out_fd, s->buf + done, s->len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* console gone: drop output, keep the guest running */
                done += (size_t)n;
        }
        s->len = 0;
}

static void tx(void *opaque, uint8_t c)
{
        struct serial *s = opaque;

        s->buf[s->len++] = (char)c;
        if (c == '\n' || s->len == sizeof(s->buf))
                flush_locked(s);
}

static void irq(void *opaque, bool level)
{
        struct serial *s = opaque;
        struct kvm_irq_level l = { .irq = s->irq, .level = level };

        if (s->vm_fd >= 0)
                ioctl(s->vm_fd, KVM_IRQ_LINE, &l);
}

void serial_init(struct serial *s, int out_fd, unsigned irq_nr)
{
        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
        s->out_fd = out_fd;
        s->in_fd = -1;
        s->vm_fd = -1;
        s->irq = irq_nr;
        uart_init(&s->uart, tx, irq, s);
}

void serial_attach(struct serial *s, int vm_fd)
{
        pthread_mutex_lock(&s->lock);
        flush_locked(s);
        s->vm_fd = vm_fd;
        uart_init(&s->uart, tx, irq, s);
        pthread_mutex_unlock(&s->lock);
}

void serial_flush(struct serial *s)
{
        pthread_mutex_lock(&s->lock);
        flush_locked(s);
        pthread_mutex_unlock(&s->lock);
}

static void *input_thread(void *arg)
{
        struct serial *s = arg;
        uint8_t buf[64];

        jail_thread(JAIL_DEVICE);
        while (!atomic_load(&s->in_stop)) {
                struct pollfd p = { .fd = s->in_fd, .events = POLLIN };
                ssize_t n;
                size_t done = 0;

                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(s->in_fd, buf, sizeof(buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        break; /* EOF: no more input */
                /* The FIFO holds 16 bytes: wait for the guest to drain it
                 * rather than drop keystrokes. */
                while (done < (size_t)n && !atomic_load(&s->in_stop)) {
                        pthread_mutex_lock(&s->lock);
                        done += uart_receive(&s->uart, buf + done, (size_t)n - done);
                        pthread_mutex_unlock(&s->lock);
                        if (done < (size_t)n)
                                usleep(1000);
                }
        }
        return NULL;
}

int serial_start_input(struct serial *s, int in_fd)
{
        int r;

        if (s->in_running || in_fd < 0)
                return -EINVAL;
        s->in_fd = in_fd;
        atomic_store(&s->in_stop, false);
        r = pthread_create(&s->in_thread, NULL, input_thread, s);
        if (r)
                return -r;
        s->in_running = true;
        return 0;
}

void serial_stop_input(struct serial *s)
{
        if (!s->in_running)
                return;
        atomic_store(&s->in_stop, true);
        pthread_join(s->in_thread, NULL);
        s->in_running = false;
}

void serial_destroy(struct serial *s)
{
        serial_stop_input(s);
        serial_flush(s);
        pthread_mutex_destroy(&s->lock);
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
        struct serial *s = opaque;

        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < size; i++)
                data[i] = uart_read(&s->uart, (unsigned)off + i);
        pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
        struct serial *s = opaque;

        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < size; i++) {
                uart_write(&s->uart, (unsigned)off + i, data[i]);
                /* The driver toggles IER around each burst (console writes,
                 * end of transmit): write out what it sent so far, so
                 * prompts without a newline show up too. */
                if (off + i == 1)
                        flush_locked(s);
        }
        pthread_mutex_unlock(&s->lock);
}

const struct io_ops serial_io_ops = {
        .read = serial_read,
        .write = serial_write,
};

static int serial_save(void *dev, struct state_writer *w)
{
        struct serial *s = dev;

        pthread_mutex_lock(&s->lock);
        flush_locked(s); /* output already sent belongs to the source VM */
        uart_state_save(&s->uart, w);
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int serial_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct serial *s = dev;
        struct uart u;
        int ret;

        pthread_mutex_lock(&s->lock);
        u = s->uart;
        uart_state_load(&u, r);
        ret = state_reader_done(r, err);
        if (ret == 0)
                s->uart = u;
        pthread_mutex_unlock(&s->lock);
        return ret;
}

const struct state_ops serial_state_ops = { .save = serial_save, .load = serial_load };
