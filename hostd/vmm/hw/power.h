/* Guest power control: the ACPI PM1a event/control registers (S5 soft-off
 * through SLP_TYP|SLP_EN), the FADT reset register, and the i8042
 * keyboard controller's reset line (port 0x64, command 0xFE). Register
 * logic only, reporting through a callback; the caller serialises accesses
 * (the callback itself must be thread-safe). */
#pragma once

#include <pthread.h>
#include <stdint.h>

enum power_event {
        POWER_OFF,
        POWER_RESET,
};

struct power {
        pthread_mutex_t lock;
        uint16_t pm1_sts, pm1_en, pm1_cnt;
        void (*event)(void *opaque, enum power_event ev, const char *how);
        void *opaque;
};

void power_init(struct power *p, void (*event)(void *, enum power_event, const char *), void *opaque);
void power_destroy(struct power *p);
/* Snapshot state: PM1 registers (section "power"). */
extern const struct state_ops power_state_ops;
/* Back to power-on state (guest reset). */
void power_reset(struct power *p);

/* ACPI ports PORT_ACPI_BASE + off, little-endian, size 1/2/4. */
uint32_t power_acpi_read(struct power *p, unsigned off, unsigned size);
void power_acpi_write(struct power *p, unsigned off, unsigned size, uint32_t v);

/* i8042 ports 0x60 (off 0) and 0x64 (off 4). */
uint8_t power_i8042_read(struct power *p, unsigned off);
void power_i8042_write(struct power *p, unsigned off, uint8_t v);
