/* PCI bus 0 with configuration mechanism #1 (ports 0xCF8/0xCFC) and a
 * small device registration interface with BARs, for the host bridge now
 * and virtio-pci devices next. BARs are placed by the guest kernel inside
 * the MMIO window of layout.h (described in the ACPI _CRS, left out of
 * e820); accesses to an enabled BAR reach the device's bar ops. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_MAX_SLOTS 32
#define PCI_CFG_SIZE 256
#define PCI_NUM_BARS 6

/* Standard header offsets (PCI Local Bus spec 3.0, 6.1) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM64 0x4
#define PCI_BAR_PREFETCH 0x8

struct pci_device;

struct pci_device_ops {
        /* Access to BAR bar at offset off (size 1/2/4/8). */
        void (*bar_read)(struct pci_device *d, int bar, uint64_t off, uint8_t *data, unsigned size);
        void (*bar_write)(struct pci_device *d, int bar, uint64_t off, const uint8_t *data, unsigned size);
        /* Optional: called after the guest wrote config bytes [off, off+size)
         * (capabilities such as MSI-X react here). */
        void (*config_written)(struct pci_device *d, unsigned off, unsigned size);
};

struct pci_device {
        uint8_t cfg[PCI_CFG_SIZE];
        uint8_t wmask[PCI_CFG_SIZE];    /* guest-writable bits */
        uint64_t bar_size[PCI_NUM_BARS]; /* 0: unused (or upper half of a 64-bit BAR) */
        const struct pci_device_ops *ops;
        void *opaque;
        unsigned slot;
};

struct pci_bus {
        pthread_mutex_t lock;   /* config address latch and config space */
        uint32_t config_addr;
        struct pci_device *dev[PCI_MAX_SLOTS];
        void (*reset_request)(void *opaque); /* byte write to 0xCF9 with bit 2 */
        void *reset_opaque;
};

void pci_bus_init(struct pci_bus *bus);
void pci_bus_destroy(struct pci_bus *bus);

/* Fill a device header: ids, class (base << 16 | sub << 8 | prog-if), header
 * type 0, writable command/latency/interrupt-line bits. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     const struct pci_device_ops *ops, void *opaque);

/* Declare BAR bar of size bytes (a power of two, >= 16 for memory, >= 4 for
 * I/O); flags PCI_BAR_IO / PCI_BAR_MEM64 / PCI_BAR_PREFETCH. A 64-bit BAR
 * uses bar and bar+1. 0 or -EINVAL. */
int pci_device_add_bar(struct pci_device *d, int bar, uint64_t size, unsigned flags);

/* Current guest-assigned address of a BAR (0 when unassigned). */
uint64_t pci_device_bar_addr(const struct pci_device *d, int bar);

/* Put d in slot (bus 0, function 0). -EBUSY or -EINVAL. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *d, unsigned slot);

/* Port access to 0xCF8..0xCFF (off = port - 0xCF8). */
void pci_bus_port_read(struct pci_bus *bus, unsigned off, uint8_t *data, unsigned size);
void pci_bus_port_write(struct pci_bus *bus, unsigned off, const uint8_t *data, unsigned size);

/* Direct config access to slot (tests, internal use). */
uint32_t pci_config_read(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size, uint32_t v);

/* Route an MMIO (is_io false) or port access to the BAR that decodes addr.
 * Returns false when no enabled BAR does. */
bool pci_bus_bar_access(struct pci_bus *bus, bool is_io, uint64_t addr, uint8_t *data, unsigned size,
                        bool is_write);

/* Snapshot state of the bus (section "pci"): the config address latch and
 * the guest-writable config bytes of every device (BARs, command, MSI-X
 * control...). Load refuses a device set that differs in any slot or in
 * any read-only byte, and applies nothing then. */
extern const struct state_ops pci_state_ops;

/* The host bridge at 00:00.0. */
void pci_host_bridge_init(struct pci_device *d);
