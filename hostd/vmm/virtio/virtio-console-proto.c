/* virtio-console's control protocol and port FIFOs (virtio-console-proto.h). */
#include "config.h"

#include "virtio-console-proto.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"

static bool name_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > VCON_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

int vcon_proto_init(struct vcon_proto *p, const char *const *names, unsigned n)
{
        if (n == 0 || n > VCON_MAX_PORTS)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++)
                if (!name_ok(names[i]))
                        return -EINVAL;
        memset(p, 0, sizeof(*p));
        p->nports = n;
        for (unsigned i = 0; i < n; i++)
                strcpy(p->port[i].name, names[i]);
        return 0;
}

void vcon_proto_reset(struct vcon_proto *p)
{
        p->device_ready = false;
        for (unsigned i = 0; i < p->nports; i++) {
                struct vcon_port *pt = &p->port[i];
                pt->add_sent = pt->ready = pt->name_sent = pt->open_sent = false;
                pt->failed = pt->guest_open = false;
        }
}

static int port_ready(struct vcon_proto *p, struct vcon_port *pt, uint16_t value)
{
        if (!pt->add_sent || pt->ready || pt->failed)
                return -EPROTO;
        if (value == 1)
                pt->ready = true;
        else
                pt->failed = true;
        return 0;
}

static int port_open(struct vcon_port *pt, uint16_t value, unsigned id, struct vcon_change *ch)
{
        bool open = value != 0;

        if (!pt->ready || value > 1)
                return -EPROTO;
        if (open != pt->guest_open)
                *ch = (struct vcon_change){ true, id, open };
        pt->guest_open = open;
        return 0;
}

int vcon_ctrl_in(struct vcon_proto *p, const uint8_t *msg, size_t len, struct vcon_change *ch)
{
        uint32_t id;
        uint16_t event, value;

        *ch = (struct vcon_change){ 0 };
        if (len != VCON_CTRL_LEN)
                return -EINVAL;
        id = le_get32(msg);
        event = le_get16(msg + 4);
        value = le_get16(msg + 6);
        if (event == VIRTIO_CONSOLE_DEVICE_READY) {
                /* 5.3.6.2: the id is unused; value 1 is success. */
                if (p->device_ready || value != 1)
                        return -EPROTO;
                p->device_ready = true;
                return 0;
        }
        if (event != VIRTIO_CONSOLE_PORT_READY && event != VIRTIO_CONSOLE_PORT_OPEN)
                return -EINVAL;
        if (id >= p->nports)
                return -EINVAL;
        if (!p->device_ready)
                return -EPROTO;
        if (event == VIRTIO_CONSOLE_PORT_READY)
                return port_ready(p, &p->port[id], value);
        return port_open(&p->port[id], value, id, ch);
}

static size_t put_msg(uint8_t *buf, unsigned id, uint16_t event, uint16_t value, const char *name)
{
        size_t n = VCON_CTRL_LEN;

        le_put32(buf, id);
        le_put16(buf + 4, event);
        le_put16(buf + 6, value);
        if (name) {
                size_t l = strlen(name) + 1; /* with its NUL, as QEMU sends it */
                memcpy(buf + n, name, l);
                n += l;
        }
        return n;
}

/* The message owed for port i, taken when take is true; 0 for none. */
static size_t port_next(struct vcon_proto *p, unsigned i, uint8_t *buf, bool take)
{
        struct vcon_port *pt = &p->port[i];
        uint8_t scratch[VCON_MSG_MAX];

        if (!take)
                buf = scratch;
        if (!pt->add_sent) {
                pt->add_sent = take;
                return put_msg(buf, i, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
        }
        if (!pt->ready)
                return 0;
        if (!pt->name_sent) {
                pt->name_sent = take;
                return put_msg(buf, i, VIRTIO_CONSOLE_PORT_NAME, 1, pt->name);
        }
        if (!pt->open_sent) {
                pt->open_sent = take;
                return put_msg(buf, i, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
        }
        return 0;
}

size_t vcon_ctrl_next(struct vcon_proto *p, uint8_t *buf)
{
        if (!p->device_ready)
                return 0;
        for (unsigned i = 0; i < p->nports; i++) {
                size_t n = port_next(p, i, buf, true);
                if (n)
                        return n;
        }
        return 0;
}

bool vcon_ctrl_pending(const struct vcon_proto *p)
{
        struct vcon_proto *q = (struct vcon_proto *)p; /* take=false changes nothing */

        if (!p->device_ready)
                return false;
        for (unsigned i = 0; i < p->nports; i++)
                if (port_next(q, i, NULL, false))
                        return true;
        return false;
}

int vcon_fifo_init(struct vcon_fifo *f, size_t cap)
{
        f->buf = malloc(cap);
        if (!f->buf)
                return -ENOMEM;
        f->cap = cap;
        f->head = f->len = 0;
        return 0;
}

void vcon_fifo_free(struct vcon_fifo *f)
{
        free(f->buf);
        f->buf = NULL;
        f->cap = f->head = f->len = 0;
}

void vcon_fifo_clear(struct vcon_fifo *f)
{
        f->head = f->len = 0;
}

size_t vcon_fifo_put(struct vcon_fifo *f, const void *data, size_t len)
{
        const uint8_t *d = data;
        size_t n = len < vcon_fifo_room(f) ? len : vcon_fifo_room(f);

        for (size_t done = 0; done < n;) {
                size_t tail = (f->head + f->len) % f->cap;
                size_t chunk = f->cap - tail < n - done ? f->cap - tail : n - done;
                memcpy(f->buf + tail, d + done, chunk);
                f->len += chunk;
                done += chunk;
        }
        return n;
}

size_t vcon_fifo_get(struct vcon_fifo *f, void *data, size_t len)
{
        uint8_t *d = data;
        size_t n = len < f->len ? len : f->len;

        for (size_t done = 0; done < n;) {
                size_t chunk = f->cap - f->head < n - done ? f->cap - f->head : n - done;
                memcpy(d + done, f->buf + f->head, chunk);
                f->head = (f->head + chunk) % f->cap;
                f->len -= chunk;
                done += chunk;
        }
        return n;
}
