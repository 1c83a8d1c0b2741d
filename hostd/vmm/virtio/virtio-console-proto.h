/* virtio-console's multiport control protocol (virtio 1.x 5.3.6.2), the
 * part without a transport: what the guest's control messages do to the
 * ports, and which messages the device owes the guest. Also the byte FIFOs
 * the ports' data waits in between the guest and the host side.
 *
 * Handshake: the driver sends DEVICE_READY; the device answers PORT_ADD
 * for each port; the driver sends PORT_READY per port; the device then
 * sends PORT_NAME (the name, NUL-terminated, after the header) and
 * PORT_OPEN (the host side is always open). The driver sends PORT_OPEN
 * when a guest program opens or closes /dev/vportNpM.
 *
 * Every guest message is checked strictly: exactly 8 bytes, a known
 * guest-to-device event, a port id below nports, the handshake's order.
 * A message that breaks a rule changes nothing and is refused with a
 * negative errno (the caller counts it); it never touches memory beyond
 * the message. Not thread-safe: the owner serialises calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VCON_MAX_PORTS 3 /* 8 queues: VIRTIO_MAX_QUEUES */
#define VCON_NAME_MAX 63
#define VCON_CTRL_LEN 8 /* struct virtio_console_control */
#define VCON_MSG_MAX (VCON_CTRL_LEN + VCON_NAME_MAX + 1)

struct vcon_port {
        char name[VCON_NAME_MAX + 1];
        bool add_sent, ready, name_sent, open_sent;
        bool failed;            /* the guest refused the port (PORT_READY 0) */
        bool guest_open;
};

struct vcon_proto {
        unsigned nports;
        bool device_ready;
        struct vcon_port port[VCON_MAX_PORTS];
};

/* Ports named names[0..n) (1..VCON_MAX_PORTS; each name 1..VCON_NAME_MAX
 * printable ASCII bytes). 0 or -EINVAL. */
int vcon_proto_init(struct vcon_proto *p, const char *const *names, unsigned n);

/* The driver reset the device: forget its side of the handshake. */
void vcon_proto_reset(struct vcon_proto *p);

/* A guest message changed whether a port is open in the guest. */
struct vcon_change {
        bool changed;
        unsigned port;
        bool open;
};

/* Handle one guest-to-device control message (the whole out buffer of a
 * chain). 0 with *ch filled, or -EINVAL (wrong length, unknown event, port
 * out of range) / -EPROTO (out of the handshake's order). */
int vcon_ctrl_in(struct vcon_proto *p, const uint8_t *msg, size_t len, struct vcon_change *ch);

/* The next message the device owes the guest, written into buf (at least
 * VCON_MSG_MAX bytes); its length, or 0 when none is owed. The message
 * counts as sent. */
size_t vcon_ctrl_next(struct vcon_proto *p, uint8_t *buf);

/* Is a message owed? (Without taking it.) */
bool vcon_ctrl_pending(const struct vcon_proto *p);

/* A byte FIFO of fixed capacity. */
struct vcon_fifo {
        uint8_t *buf;
        size_t cap, head, len;
};

int vcon_fifo_init(struct vcon_fifo *f, size_t cap);
void vcon_fifo_free(struct vcon_fifo *f);
void vcon_fifo_clear(struct vcon_fifo *f);
/* Append up to len bytes; returns how many fitted. */
size_t vcon_fifo_put(struct vcon_fifo *f, const void *data, size_t len);
/* Take up to len bytes; returns how many were taken. */
size_t vcon_fifo_get(struct vcon_fifo *f, void *data, size_t len);
static inline size_t vcon_fifo_room(const struct vcon_fifo *f)
{
        return f->cap - f->len;
}
