#include "config.h"

#include "pci.h"

#include <errno.h>
#include <string.h>

#include "state.h"

#define CFG_ENABLE 0x80000000u

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
        for (unsigned i = 0; i < size; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned size)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

void pci_bus_init(struct pci_bus *bus)
{
        memset(bus, 0, sizeof(*bus));
        pthread_mutex_init(&bus->lock, NULL);
}

void pci_bus_destroy(struct pci_bus *bus)
{
        pthread_mutex_destroy(&bus->lock);
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     const struct pci_device_ops *ops, void *opaque)
{
        memset(d, 0, sizeof(*d));
        put_le(d->cfg + PCI_VENDOR_ID, vendor, 2);
        put_le(d->cfg + PCI_DEVICE_ID, device, 2);
        put_le(d->cfg + PCI_CLASS_PROG, class_code, 3);
        d->cfg[PCI_HEADER_TYPE] = 0;
        put_le(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                               PCI_COMMAND_INTX_DISABLE, 2);
        d->wmask[0x0c] = 0xff; /* cache line size */
        d->wmask[0x0d] = 0xff; /* latency timer */
        d->wmask[PCI_INTERRUPT_LINE] = 0xff;
        d->ops = ops;
        d->opaque = opaque;
}

int pci_device_add_bar(struct pci_device *d, int bar, uint64_t size, unsigned flags)
{
        bool io = flags & PCI_BAR_IO, is64 = flags & PCI_BAR_MEM64;
        unsigned off = PCI_BAR0 + 4 * (unsigned)bar;
        uint64_t mask;

        if (bar < 0 || bar >= PCI_NUM_BARS || (is64 && bar == PCI_NUM_BARS - 1) || (io && is64))
                return -EINVAL;
        if (size == 0 || (size & (size - 1)) || size < (io ? 4u : 16u) || (io && size > 256) ||
            (!is64 && size > 0x80000000ull))
                return -EINVAL;
        if (d->bar_size[bar] || (is64 && d->bar_size[bar + 1]))
                return -EINVAL;
        /* The upper half of a 64-bit BAR is not a BAR of its own. */
        if (bar > 0 && d->bar_size[bar - 1] && !(d->cfg[off - 4] & PCI_BAR_IO) && (d->cfg[off - 4] & PCI_BAR_MEM64))
                return -EINVAL;
        mask = ~(size - 1);
        if (io) {
                put_le(d->cfg + off, PCI_BAR_IO, 4);
                put_le(d->wmask + off, mask & 0xfffffffcu, 4);
        } else {
                put_le(d->cfg + off, flags & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 4);
                put_le(d->wmask + off, mask & 0xfffffff0u, 4);
                if (is64)
                        put_le(d->wmask + off + 4, mask >> 32, 4);
        }
        d->bar_size[bar] = size;
        return 0;
}

uint64_t pci_device_bar_addr(const struct pci_device *d, int bar)
{
        unsigned off = PCI_BAR0 + 4 * (unsigned)bar;
        uint32_t lo;

        if (bar < 0 || bar >= PCI_NUM_BARS || !d->bar_size[bar])
                return 0;
        lo = (uint32_t)get_le(d->cfg + off, 4);
        if (lo & PCI_BAR_IO)
                return lo & ~3u;
        if (lo & PCI_BAR_MEM64)
                return (lo & ~0xfull) | get_le(d->cfg + off + 4, 4) << 32;
        return lo & ~0xfull;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *d, unsigned slot)
{
        if (slot >= PCI_MAX_SLOTS)
                return -EINVAL;
        if (bus->dev[slot])
                return -EBUSY;
        d->slot = slot;
        bus->dev[slot] = d;
        return 0;
}

static struct pci_device *lookup(struct pci_bus *bus, unsigned busnr, unsigned slot, unsigned fn)
{
        if (busnr != 0 || fn != 0 || slot >= PCI_MAX_SLOTS)
                return NULL;
        return bus->dev[slot];
}

static uint32_t cfg_read(struct pci_device *d, unsigned off, unsigned size)
{
        if (!d)
                return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
        if (off + size > PCI_CFG_SIZE)
                return 0;
        return (uint32_t)get_le(d->cfg + off, size);
}

static void cfg_write(struct pci_device *d, unsigned off, unsigned size, uint32_t v)
{
        if (!d || off + size > PCI_CFG_SIZE)
                return;
        for (unsigned i = 0; i < size; i++) {
                uint8_t b = (uint8_t)(v >> (8 * i)), m = d->wmask[off + i];
                d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (b & m));
        }
        if (d->ops && d->ops->config_written)
                d->ops->config_written(d, off, size);
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size)
{
        uint32_t v;

        pthread_mutex_lock(&bus->lock);
        v = cfg_read(lookup(bus, 0, slot, fn), off, size);
        pthread_mutex_unlock(&bus->lock);
        return v;
}

void pci_config_write(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size, uint32_t v)
{
        pthread_mutex_lock(&bus->lock);
        cfg_write(lookup(bus, 0, slot, fn), off, size, v);
        pthread_mutex_unlock(&bus->lock);
}

/* Decode the latched address for a data-port access at byte off (0..3). */
static struct pci_device *latched(struct pci_bus *bus, unsigned off, unsigned *reg)
{
        uint32_t a = bus->config_addr;

        *reg = (a & 0xfc) + off;
        return lookup(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 0x7);
}

void pci_bus_port_read(struct pci_bus *bus, unsigned off, uint8_t *data, unsigned size)
{
        unsigned reg;
        uint32_t v = 0xffffffffu;

        pthread_mutex_lock(&bus->lock);
        if (off == 0 && size == 4) {
                v = bus->config_addr;
        } else if (off >= 4 && off + size <= 8 && (bus->config_addr & CFG_ENABLE)) {
                struct pci_device *d = latched(bus, off - 4, &reg);
                v = cfg_read(d, reg, size);
        }
        pthread_mutex_unlock(&bus->lock);
        put_le(data, v, size);
}

void pci_bus_port_write(struct pci_bus *bus, unsigned off, const uint8_t *data, unsigned size)
{
        uint32_t v = (uint32_t)get_le(data, size);
        void (*reset)(void *) = NULL;
        unsigned reg;

        pthread_mutex_lock(&bus->lock);
        if (off == 0 && size == 4) {
                bus->config_addr = v & 0x80fffffcu;
        } else if (off == 1 && size == 1) {
                /* Reset control register (0xCF9): bit 2 starts a reset. */
                if (v & 0x04)
                        reset = bus->reset_request;
        } else if (off >= 4 && off + size <= 8 && (bus->config_addr & CFG_ENABLE)) {
                struct pci_device *d = latched(bus, off - 4, &reg);
                cfg_write(d, reg, size, v);
        }
        pthread_mutex_unlock(&bus->lock);
        if (reset)
                reset(bus->reset_opaque);
}

bool pci_bus_bar_access(struct pci_bus *bus, bool is_io, uint64_t addr, uint8_t *data, unsigned size,
                        bool is_write)
{
        struct pci_device *hit = NULL;
        uint64_t off = 0;
        int hit_bar = -1;

        pthread_mutex_lock(&bus->lock);
        for (unsigned s = 0; s < PCI_MAX_SLOTS && !hit; s++) {
                struct pci_device *d = bus->dev[s];
                uint16_t cmd;

                if (!d || !d->ops)
                        continue;
                cmd = (uint16_t)get_le(d->cfg + PCI_COMMAND, 2);
                if (!(cmd & (is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)))
                        continue;
                for (int b = 0; b < PCI_NUM_BARS; b++) {
                        uint64_t base;
                        bool bar_io;

                        if (!d->bar_size[b])
                                continue;
                        bar_io = d->cfg[PCI_BAR0 + 4 * b] & PCI_BAR_IO;
                        base = pci_device_bar_addr(d, b);
                        if (bar_io != is_io || base == 0)
                                continue;
                        if (addr >= base && addr - base < d->bar_size[b] && size <= d->bar_size[b] - (addr - base)) {
                                hit = d;
                                hit_bar = b;
                                off = addr - base;
                                break;
                        }
                }
        }
        pthread_mutex_unlock(&bus->lock);
        if (!hit)
                return false;
        /* Device callbacks run unlocked: they serialise their own state. */
        if (is_write) {
                if (hit->ops->bar_write)
                        hit->ops->bar_write(hit, hit_bar, off, data, size);
        } else if (hit->ops->bar_read) {
                hit->ops->bar_read(hit, hit_bar, off, data, size);
        } else {
                memset(data, 0xff, size);
        }
        return true;
}

void pci_host_bridge_init(struct pci_device *d)
{
        /* Same ids as other KVM VMMs' host bridges (Intel 0x0d57). Class
         * 06/00 makes Linux's type-1 sanity check accept the bus. */
        pci_device_init(d, 0x8086, 0x0d57, 0x060000, NULL, NULL);
}

static int pci_save(void *dev, struct state_writer *w)
{
        struct pci_bus *bus = dev;

        pthread_mutex_lock(&bus->lock);
        state_put_u32(w, bus->config_addr);
        for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
                if (!bus->dev[slot])
                        continue;
                state_put_u8(w, (uint8_t)slot);
                state_put_bytes(w, bus->dev[slot]->cfg, PCI_CFG_SIZE);
        }
        pthread_mutex_unlock(&bus->lock);
        return 0;
}

/* Read and check the section against the bus (its lock held) into cfg. */
static void pci_parse(struct pci_bus *bus, struct state_reader *r, uint32_t *addr,
                      uint8_t cfg[PCI_MAX_SLOTS][PCI_CFG_SIZE])
{
        *addr = state_get_u32(r);
        for (unsigned slot = 0; slot < PCI_MAX_SLOTS && state_reader_ok(r); slot++) {
                struct pci_device *d = bus->dev[slot];
                if (!d)
                        continue;
                if (r->off >= r->len || state_get_u8(r) != slot) {
                        state_reader_fail(r, "the snapshot's PCI devices differ from this VM's at slot %u", slot);
                        break;
                }
                state_get_bytes(r, cfg[slot], PCI_CFG_SIZE);
                for (unsigned i = 0; i < PCI_CFG_SIZE && state_reader_ok(r); i++)
                        if ((cfg[slot][i] ^ d->cfg[i]) & ~d->wmask[i])
                                state_reader_fail(r, "slot %u: read-only config byte 0x%02x is 0x%02x in the "
                                                  "snapshot, 0x%02x in this VM (another device or version)",
                                                  slot, i, cfg[slot][i], d->cfg[i]);
        }
        if (state_reader_ok(r) && r->off < r->len)
                state_reader_fail(r, "the snapshot has PCI devices this VM lacks (slot %u)", r->p[r->off]);
}

static int pci_check(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct pci_bus *bus = dev;
        uint8_t cfg[PCI_MAX_SLOTS][PCI_CFG_SIZE];
        uint32_t addr;

        pthread_mutex_lock(&bus->lock);
        pci_parse(bus, r, &addr, cfg);
        pthread_mutex_unlock(&bus->lock);
        return state_reader_done(r, err);
}

static int pci_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct pci_bus *bus = dev;
        uint8_t cfg[PCI_MAX_SLOTS][PCI_CFG_SIZE];
        uint32_t addr;
        int ret;

        pthread_mutex_lock(&bus->lock);
        pci_parse(bus, r, &addr, cfg);
        ret = state_reader_done(r, err);
        if (ret == 0) {
                bus->config_addr = addr & 0x80fffffcu;
                for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++)
                        if (bus->dev[slot])
                                memcpy(bus->dev[slot]->cfg, cfg[slot], PCI_CFG_SIZE);
        }
        pthread_mutex_unlock(&bus->lock);
        /* Let each device react as to a guest write (e.g. MSI-X enable). */
        for (unsigned slot = 0; ret == 0 && slot < PCI_MAX_SLOTS; slot++) {
                struct pci_device *d = bus->dev[slot];
                if (d && d->ops && d->ops->config_written)
                        d->ops->config_written(d, 0, PCI_CFG_SIZE);
        }
        return ret;
}

const struct state_ops pci_state_ops = { .save = pci_save, .load = pci_load, .check = pci_check };
