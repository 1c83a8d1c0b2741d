#include "config.h"

#include "iobus.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops, void *opaque)
{
        if (len == 0 || !range_ok(base, len, UINT64_MAX))
                return -EINVAL;
        for (unsigned i = 0; i < bus->n; i++) {
                const struct io_range *r = &bus->r[i];
                if (base < r->base + r->len && r->base < base + len)
                        return -EEXIST;
        }
        if (bus->n == IO_BUS_MAX)
                return -ENOSPC;
        bus->r[bus->n++] = (struct io_range){ base, len, ops, opaque };
        return 0;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
        for (unsigned i = 0; i < bus->n; i++) {
                const struct io_range *r = &bus->r[i];
                if (addr >= r->base && addr - r->base < r->len) {
                        if (is_write) {
                                if (r->ops->write)
                                        r->ops->write(r->opaque, addr - r->base, data, size);
                        } else if (r->ops->read) {
                                r->ops->read(r->opaque, addr - r->base, data, size);
                        } else {
                                memset(data, 0xff, size);
                        }
                        return true;
                }
        }
        if (bus->fallback && bus->fallback(bus->fallback_opaque, addr, data, size, is_write))
                return true;
        if (!is_write)
                memset(data, 0xff, size);
        return false;
}
