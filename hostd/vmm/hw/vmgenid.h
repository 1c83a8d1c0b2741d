/* The VM generation ID (Microsoft's "Virtual Machine Generation ID"; the
 * ACPI device VGEN of x86/acpi.c, which Linux's vmgenid driver binds): 16
 * bytes at LAYOUT_VMGENID in guest RAM that change whenever the guest may
 * run twice from the same state (a VM forked from a snapshot), after which
 * a pulse on IRQ_GED makes the generic event device's _EVT notify VGEN and
 * the guest kernel reseeds its RNG. Pure but for vmgenid_notify. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

#define VMGENID_LEN 16

/* Parse 32 hex digits (an optional "0x" and dashes, as in a GUID, are
 * allowed) into id. 0, or -EINVAL for anything else or an all-zero ID
 * (which the guest would read as "no ID"). */
int vmgenid_parse(const char *s, uint8_t id[VMGENID_LEN]);

/* Is id set (not all zero)? */
bool vmgenid_present(const uint8_t id[VMGENID_LEN]);

/* id as 32 lowercase hex digits and a NUL. */
void vmgenid_format(const uint8_t id[VMGENID_LEN], char out[2 * VMGENID_LEN + 1]);

/* A random, non-zero ID (getrandom). 0 or negative errno. */
int vmgenid_random(uint8_t id[VMGENID_LEN]);

/* Put id into guest RAM at LAYOUT_VMGENID / read it back. 0 or -EFAULT
 * when the page is not RAM. */
int vmgenid_store(const struct guest_mem *m, const uint8_t id[VMGENID_LEN]);
int vmgenid_load(const struct guest_mem *m, uint8_t id[VMGENID_LEN]);

/* Tell the guest that the ID changed: an edge on IRQ_GED (in-kernel
 * IOAPIC of vm_fd). 0 or negative errno. */
int vmgenid_notify(int vm_fd);
