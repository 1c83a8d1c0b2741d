/* 16550A UART register model (enough for Linux's 8250 driver: probe as a
 * 16550A, interrupt-driven transmit, polled/IRQ receive). Pure: output and
 * interrupt line go through callbacks, so it is unit-tested without KVM.
 * Not thread-safe: the caller serialises accesses (see serial.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_RX_FIFO 16

struct uart {
        uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
        bool thr_ipending;      /* THR-empty interrupt latched */
        bool irq_level;         /* last level given to irq() */
        uint8_t rx[UART_RX_FIFO];
        unsigned rx_head, rx_count;

        void (*tx)(void *opaque, uint8_t c);
        void (*irq)(void *opaque, bool level);
        void *opaque;
};

void uart_init(struct uart *u, void (*tx)(void *, uint8_t), void (*irq)(void *, bool), void *opaque);

/* Register access at offset 0..7 from the base port. */
uint8_t uart_read(struct uart *u, unsigned off);
void uart_write(struct uart *u, unsigned off, uint8_t v);

/* Queue received bytes for the guest; returns how many fitted. */
size_t uart_receive(struct uart *u, const uint8_t *p, size_t n);

struct state_writer;
struct state_reader;
/* Snapshot state of the registers and the receive FIFO (SNAPSHOT.md
 * "serial"); load validates every field and leaves u untouched on error,
 * keeping u's callbacks. Load returns false when the section is bad. */
void uart_state_save(const struct uart *u, struct state_writer *w);
bool uart_state_load(struct uart *u, struct state_reader *r);

/* Current IIR value (no side effects). */
uint8_t uart_iir(const struct uart *u);
