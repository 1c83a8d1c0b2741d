/* virtio-input (virtio 1.x 5.8): a keyboard and an absolute tablet.
 *
 * Host-side events (from the control socket or a protocol server, any
 * thread) go into a bounded FIFO and from there into the guest's eventq
 * buffers, right away when the guest has posted some, else when it posts
 * more (the device thread sees the kick). A report is always delivered
 * whole: when the FIFO has no room for one, that report is dropped.
 * The statusq carries LED changes from the guest (keyboard). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "virtio-devices.h"

#define INPUT_QUEUE_SIZE 64
#define EVENTQ 0
#define STATUSQ 1

/* 5.8.5 config selectors */
#define CFG_UNSET 0x00
#define CFG_ID_NAME 0x01
#define CFG_ID_SERIAL 0x02
#define CFG_ID_DEVIDS 0x03
#define CFG_PROP_BITS 0x10
#define CFG_EV_BITS 0x11
#define CFG_ABS_INFO 0x12
#define CFG_SIZE 136 /* select, subsel, size, reserved[5], u[128] */

/* linux/input-event-codes.h */
#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define SYN_REPORT 0
#define REL_WHEEL 0x08
#define ABS_X 0x00
#define ABS_Y 0x01
#define BTN_LEFT 0x110
#define BTN_RIGHT 0x111
#define BTN_MIDDLE 0x112
#define KEY_CNT 0x300
#define BUS_VIRTUAL 0x06

struct input_event_le {
        uint16_t type, code;
        uint32_t value;
};

struct virtio_input {
        struct virtio_dev vd;
        enum virtio_input_kind kind;
        uint8_t select, subsel; /* under vd.lock */

        pthread_mutex_t lock;   /* the FIFO and host-side state; taken before vd.lock */
        struct input_event_le fifo[VIRTIO_INPUT_QUEUE_MAX];
        unsigned head, count;
        uint32_t buttons;
        uint32_t leds;
        struct vq_elem elem;    /* under lock */
};

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
        for (unsigned i = 0; i < size; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void set_bit(uint8_t *bm, unsigned bit)
{
        bm[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* Fill u[] for the current select/subsel; returns its size. */
static unsigned cfg_payload(struct virtio_input *in, uint8_t *u)
{
        bool kbd = in->kind == VIRTIO_INPUT_KEYBOARD;
        const char *s;

        memset(u, 0, 128);
        switch (in->select) {
        case CFG_ID_NAME:
                s = kbd ? "VDI virtio keyboard" : "VDI virtio tablet";
                memcpy(u, s, strlen(s));
                return (unsigned)strlen(s);
        case CFG_ID_SERIAL:
                s = kbd ? "vdi-kbd" : "vdi-tablet";
                memcpy(u, s, strlen(s));
                return (unsigned)strlen(s);
        case CFG_ID_DEVIDS:
                put_le(u, BUS_VIRTUAL, 2);
                put_le(u + 2, 0x0627, 2); /* same vendor as QEMU's devices */
                put_le(u + 4, kbd ? 0x0001 : 0x0003, 2);
                put_le(u + 6, 1, 2);
                return 8;
        case CFG_EV_BITS:
                if (kbd && in->subsel == EV_KEY) {
                        /* Every key code; not the BTN_ ranges, so that
                         * nothing takes the keyboard for a mouse or a pad. */
                        for (unsigned k = 1; k < KEY_CNT; k++)
                                if (k < 0x100 || (k >= 0x160 && k < 0x2c0))
                                        set_bit(u, k);
                        return KEY_CNT / 8;
                }
                if (kbd && in->subsel == EV_LED) {
                        u[0] = 0x07; /* NUML, CAPSL, SCROLLL */
                        return 1;
                }
                if (!kbd && in->subsel == EV_KEY) {
                        set_bit(u, BTN_LEFT);
                        set_bit(u, BTN_RIGHT);
                        set_bit(u, BTN_MIDDLE);
                        return BTN_MIDDLE / 8 + 1;
                }
                if (!kbd && in->subsel == EV_ABS) {
                        u[0] = 1u << ABS_X | 1u << ABS_Y;
                        return 1;
                }
                if (!kbd && in->subsel == EV_REL) {
                        set_bit(u, REL_WHEEL);
                        return REL_WHEEL / 8 + 1;
                }
                return 0;
        case CFG_ABS_INFO:
                if (!kbd && (in->subsel == ABS_X || in->subsel == ABS_Y)) {
                        put_le(u, 0, 4);                /* min */
                        put_le(u + 4, 32767, 4);        /* max */
                        return 20;                      /* min max fuzz flat res */
                }
                return 0;
        default:
                return 0;
        }
}

static void input_cfg_read(struct virtio_dev *vd, unsigned off, uint8_t *data, unsigned size)
{
        struct virtio_input *in = vd->opaque;
        uint8_t cfg[CFG_SIZE] = { 0 };

        cfg[0] = in->select;
        cfg[1] = in->subsel;
        cfg[2] = (uint8_t)cfg_payload(in, cfg + 8);
        if (off < CFG_SIZE && size <= CFG_SIZE - off)
                memcpy(data, cfg + off, size);
}

static void input_cfg_write(struct virtio_dev *vd, unsigned off, const uint8_t *data, unsigned size)
{
        struct virtio_input *in = vd->opaque;

        for (unsigned i = 0; i < size; i++) {
                if (off + i == 0)
                        in->select = data[i];
                else if (off + i == 1)
                        in->subsel = data[i];
        }
}

/* Move queued events into guest buffers. in->lock held. */
static void flush_locked(struct virtio_input *in)
{
        while (in->count) {
                struct input_event_le *ev = &in->fifo[in->head];
                unsigned gen;
                int r = virtio_pop(&in->vd, EVENTQ, &in->elem, &gen);

                if (r <= 0)
                        return;
                if (in->elem.in_len < sizeof(*ev)) {
                        virtio_set_broken(&in->vd, "virtio-input: event buffer smaller than an event");
                        return;
                }
                iov_from_buf(in->elem.iov + in->elem.n_out, in->elem.n_in, 0, ev, sizeof(*ev));
                virtio_push(&in->vd, EVENTQ, in->elem.head, sizeof(*ev), gen);
                in->head = (in->head + 1) % VIRTIO_INPUT_QUEUE_MAX;
                in->count--;
        }
}

static void drain_status(struct virtio_input *in)
{
        struct input_event_le ev;
        unsigned gen;

        while (virtio_pop(&in->vd, STATUSQ, &in->elem, &gen) == 1) {
                if (iov_to_buf(in->elem.iov, in->elem.n_out, 0, &ev, sizeof(ev)) == sizeof(ev) &&
                    ev.type == EV_LED && ev.code < 32) {
                        if (ev.value)
                                in->leds |= 1u << ev.code;
                        else
                                in->leds &= ~(1u << ev.code);
                }
                virtio_push(&in->vd, STATUSQ, in->elem.head, 0, gen);
        }
}

static void input_queue_notify(struct virtio_dev *vd, unsigned q)
{
        struct virtio_input *in = vd->opaque;

        pthread_mutex_lock(&in->lock);
        do {
                if (q == EVENTQ)
                        flush_locked(in);
                else
                        drain_status(in);
        } while (virtio_enable_notify(vd, q) && (q != EVENTQ || in->count));
        pthread_mutex_unlock(&in->lock);
}

/* Snapshot (vd->lock held): the config selector, LEDs and buttons. Host
 * events still queued for the guest are not part of the state: a restored
 * guest starts with none. The FIFO's own lock is not taken (it comes
 * before vd->lock); the VM is paused and the values are single words. */
static void input_state_save(struct virtio_dev *vd, struct state_writer *w)
{
        struct virtio_input *in = vd->opaque;

        state_put_u8(w, in->select);
        state_put_u8(w, in->subsel);
        state_put_u32(w, in->leds);
        state_put_u32(w, in->buttons);
}

static bool input_state_load(struct virtio_dev *vd, struct state_reader *r)
{
        struct virtio_input *in = vd->opaque;
        uint8_t sel = state_get_u8(r), sub = state_get_u8(r);
        uint32_t leds = state_get_u32(r), buttons = state_get_u32(r);

        if (!state_reader_ok(r))
                return false;
        in->select = sel;
        in->subsel = sub;
        in->leds = leds;
        in->buttons = buttons;
        return true;
}

static const struct virtio_dev_ops input_ops = {
        .state_save = input_state_save,
        .state_load = input_state_load,
        .cfg_read = input_cfg_read,
        .cfg_write = input_cfg_write,
        .queue_notify = input_queue_notify,
};

/* Queue a report of n events plus SYN_REPORT, all or nothing. */
static void report(struct virtio_input *in, const struct input_event_le *evs, unsigned n)
{
        pthread_mutex_lock(&in->lock);
        if (VIRTIO_INPUT_QUEUE_MAX - in->count >= n + 1) {
                for (unsigned i = 0; i <= n; i++) {
                        struct input_event_le syn = { EV_SYN, SYN_REPORT, 0 };
                        in->fifo[(in->head + in->count) % VIRTIO_INPUT_QUEUE_MAX] = i < n ? evs[i] : syn;
                        in->count++;
                }
        }
        flush_locked(in);
        pthread_mutex_unlock(&in->lock);
}

void virtio_input_key(struct virtio_input *in, uint16_t code, bool pressed)
{
        struct input_event_le ev = { EV_KEY, code, pressed };

        if (code == 0 || code >= KEY_CNT)
                return;
        report(in, &ev, 1);
}

void virtio_input_pointer(struct virtio_input *in, uint32_t x, uint32_t y, uint32_t buttons)
{
        static const uint16_t btn[3] = { BTN_LEFT, BTN_MIDDLE, BTN_RIGHT }; /* display.h bit order */
        struct input_event_le evs[5];
        unsigned n = 0;
        uint32_t old;

        evs[n++] = (struct input_event_le){ EV_ABS, ABS_X, x > 32767 ? 32767 : x };
        evs[n++] = (struct input_event_le){ EV_ABS, ABS_Y, y > 32767 ? 32767 : y };
        pthread_mutex_lock(&in->lock);
        old = in->buttons;
        in->buttons = buttons & 7;
        pthread_mutex_unlock(&in->lock);
        for (unsigned i = 0; i < 3; i++)
                if (((old ^ buttons) >> i) & 1)
                        evs[n++] = (struct input_event_le){ EV_KEY, btn[i], (buttons >> i) & 1 };
        report(in, evs, n);
}

void virtio_input_wheel(struct virtio_input *in, int32_t delta)
{
        struct input_event_le ev = { EV_REL, REL_WHEEL, (uint32_t)delta };

        if (delta)
                report(in, &ev, 1);
}

uint32_t virtio_input_leds(struct virtio_input *in)
{
        uint32_t v;

        pthread_mutex_lock(&in->lock);
        v = in->leds;
        pthread_mutex_unlock(&in->lock);
        return v;
}

int virtio_input_create(enum virtio_input_kind kind, unsigned intx_gsi, const struct vq_mem *mem,
                        struct virtio_input **out)
{
        struct virtio_input *in = calloc(1, sizeof(*in));
        int r;

        if (!in)
                return -ENOMEM;
        in->kind = kind;
        pthread_mutex_init(&in->lock, NULL);
        r = virtio_pci_init(&in->vd, kind == VIRTIO_INPUT_KEYBOARD ? "virtio-keyboard" : "virtio-tablet",
                            VIRTIO_ID_INPUT, 0x098000, 0, 2, INPUT_QUEUE_SIZE, intx_gsi, &input_ops, in, mem);
        if (r < 0) {
                pthread_mutex_destroy(&in->lock);
                free(in);
                return r;
        }
        *out = in;
        return 0;
}

struct virtio_dev *virtio_input_dev(struct virtio_input *in)
{
        return &in->vd;
}

void virtio_input_free(struct virtio_input *in)
{
        if (!in)
                return;
        virtio_pci_destroy(&in->vd);
        pthread_mutex_destroy(&in->lock);
        free(in);
}
