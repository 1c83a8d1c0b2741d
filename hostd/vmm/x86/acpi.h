/* ACPI tables for the guest: RSDP, XSDT, FADT (PM1a event/control blocks
 * for S5 soft-off, reset register, SCI on IRQ 9; see layout.h), FACS, DSDT
 * (PCI root bridge with its windows, \_S5, the VM generation ID device
 * VGEN at LAYOUT_VMGENID and the generic event device GED0 on IRQ_GED
 * that notifies it) and MADT (one LAPIC per vCPU,
 * the IOAPIC, the SCI override).
 * Pure: tables are written into a caller buffer that will sit at guest
 * physical address gpa, so they are unit-tested (checksums, contents). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 255

/* Sum of len bytes modulo 256 (0 for a table with a correct checksum). */
uint8_t acpi_checksum(const void *p, size_t len);

/* Build all tables into buf[0..cap) for a guest with ncpus vCPUs (APIC ids
 * 0..ncpus-1). The RSDP is at offset 0. On success returns 0 and sets *used
 * to the bytes written. -EINVAL when ncpus is 0 or too large, -ENOSPC when
 * cap is too small. */
int acpi_build(uint8_t *buf, size_t cap, uint64_t gpa, unsigned ncpus, size_t *used);
