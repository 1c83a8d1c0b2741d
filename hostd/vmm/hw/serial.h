/* COM1: the 16550A model (uart.c) at 0x3f8 / IRQ 4, with its output sent
 * to a file descriptor (stdout, a log file or a socket) and its interrupt
 * line driven through KVM_IRQ_LINE. Thread-safe. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "iobus.h"
#include "uart.h"

struct serial {
        pthread_mutex_t lock;
        int in_fd;              /* console input (-1: none), read by in_thread */
        pthread_t in_thread;
        bool in_running;
        atomic_bool in_stop;
        struct uart uart;
        int out_fd;             /* -1: output discarded */
        int vm_fd;              /* KVM VM for KVM_IRQ_LINE; -1 when none */
        unsigned irq;
        char buf[4096];         /* output not yet written */
        size_t len;
};

extern const struct io_ops serial_io_ops;
/* Snapshot state: the UART (section "serial"). */
extern const struct state_ops serial_state_ops;

void serial_init(struct serial *s, int out_fd, unsigned irq);
/* Attach to a (new) VM and reset the UART registers. */
void serial_attach(struct serial *s, int vm_fd);
/* Feed bytes read from in_fd to the guest (receive FIFO) from a thread of
 * its own, until EOF or serial_stop_input(). 0 or negative errno. */
int serial_start_input(struct serial *s, int in_fd);
void serial_stop_input(struct serial *s);
/* Write out buffered output. */
void serial_flush(struct serial *s);
void serial_destroy(struct serial *s);
