/* Dispatch of port I/O and MMIO exits to device models by address range.
 * Devices are registered before vCPUs start; lookups are then lock-free and
 * each device serialises its own state. Unclaimed addresses read as all
 * ones and ignore writes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define IO_BUS_MAX 32

struct io_ops {
        /* off is relative to the registered base; size is 1, 2, 4 or 8. */
        void (*read)(void *opaque, uint64_t off, uint8_t *data, unsigned size);
        void (*write)(void *opaque, uint64_t off, const uint8_t *data, unsigned size);
};

struct io_range {
        uint64_t base, len;
        const struct io_ops *ops;
        void *opaque;
};

struct io_bus {
        struct io_range r[IO_BUS_MAX];
        unsigned n;
        /* Fallback for addresses no range claims (e.g. PCI BARs, which move);
         * returns false when it does not claim the access either. */
        bool (*fallback)(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write);
        void *fallback_opaque;
};

/* Claim [base, base+len). -EEXIST when it overlaps a range, -ENOSPC when
 * the bus is full, -EINVAL for an empty or wrapping range. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops, void *opaque);

/* Perform one access. Returns true when a device claimed it; otherwise a
 * read fills data with 0xff and a write is dropped. */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write);
