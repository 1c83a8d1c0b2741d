#include "config.h"

#include "uart.h"

#include "state.h"

#include <string.h>

enum {
        UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
        UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

static void update_irq(struct uart *u)
{
        bool level = (uart_iir(u) & IIR_NO_INT) == 0;

        if (level != u->irq_level) {
                u->irq_level = level;
                if (u->irq)
                        u->irq(u->opaque, level);
        }
}

void uart_init(struct uart *u, void (*tx)(void *, uint8_t), void (*irq)(void *, bool), void *opaque)
{
        memset(u, 0, sizeof(*u));
        u->lsr = LSR_THRE | LSR_TEMT;
        /* Modem lines up: carrier, DSR, CTS (a console is always there). */
        u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
        u->dll = 0x0c; /* 9600 baud, as after a BIOS */
        u->tx = tx;
        u->irq = irq;
        u->opaque = opaque;
}

uint8_t uart_iir(const struct uart *u)
{
        uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

        /* Priority: line status (never raised), received data, THR empty. */
        if ((u->ier & IER_RDI) && (u->lsr & LSR_DR))
                return fifo | IIR_RDI;
        if ((u->ier & IER_THRI) && u->thr_ipending)
                return fifo | IIR_THRI;
        return fifo | IIR_NO_INT;
}

/* MSR as seen in loopback mode: outputs wired back to inputs (8250 probe). */
static uint8_t loop_msr(const struct uart *u)
{
        uint8_t m = 0;

        if (u->mcr & MCR_DTR)
                m |= MSR_DSR;
        if (u->mcr & MCR_RTS)
                m |= MSR_CTS;
        if (u->mcr & MCR_OUT1)
                m |= MSR_RI;
        if (u->mcr & MCR_OUT2)
                m |= MSR_DCD;
        return m;
}

uint8_t uart_read(struct uart *u, unsigned off)
{
        uint8_t v = 0xff;

        switch (off & 7) {
        case UART_RBR_THR:
                if (u->lcr & LCR_DLAB)
                        return u->dll;
                v = 0;
                if (u->rx_count) {
                        v = u->rx[u->rx_head];
                        u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
                        u->rx_count--;
                }
                if (!u->rx_count)
                        u->lsr &= (uint8_t)~LSR_DR;
                update_irq(u);
                return v;
        case UART_IER:
                if (u->lcr & LCR_DLAB)
                        return u->dlm;
                return u->ier;
        case UART_IIR_FCR:
                v = uart_iir(u);
                /* Reading IIR while it reports THR empty clears that cause. */
                if ((v & 0x0f) == IIR_THRI) {
                        u->thr_ipending = false;
                        update_irq(u);
                }
                return v;
        case UART_LCR:
                return u->lcr;
        case UART_MCR:
                return u->mcr;
        case UART_LSR:
                return u->lsr;
        case UART_MSR:
                return (u->mcr & MCR_LOOP) ? loop_msr(u) : u->msr;
        case UART_SCR:
                return u->scr;
        }
        return v;
}

void uart_write(struct uart *u, unsigned off, uint8_t v)
{
        switch (off & 7) {
        case UART_RBR_THR:
                if (u->lcr & LCR_DLAB) {
                        u->dll = v;
                        return;
                }
                u->thr_ipending = false;
                if (u->mcr & MCR_LOOP) {
                        uart_receive(u, &v, 1);
                } else if (u->tx) {
                        u->tx(u->opaque, v);
                }
                /* Sent at once: THR is empty again, which latches the
                 * THR-empty interrupt (Linux writes the next byte from the
                 * handler, so transmit never stalls). */
                u->lsr |= LSR_THRE | LSR_TEMT;
                u->thr_ipending = true;
                update_irq(u);
                return;
        case UART_IER: {
                uint8_t old;

                if (u->lcr & LCR_DLAB) {
                        u->dlm = v;
                        return;
                }
                old = u->ier;
                u->ier = v & (IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
                /* Enabling THRI while THR is empty raises it immediately. */
                if (!(old & IER_THRI) && (u->ier & IER_THRI) && (u->lsr & LSR_THRE))
                        u->thr_ipending = true;
                update_irq(u);
                return;
        }
        case UART_IIR_FCR:
                u->fcr = v & 0xc9; /* enable, DMA mode, trigger level */
                if (v & FCR_CLEAR_RX) {
                        u->rx_count = 0;
                        u->rx_head = 0;
                        u->lsr &= (uint8_t)~LSR_DR;
                }
                update_irq(u);
                return;
        case UART_LCR:
                u->lcr = v;
                return;
        case UART_MCR:
                u->mcr = v & 0x1f;
                return;
        case UART_LSR:
        case UART_MSR:
                return; /* read-only */
        case UART_SCR:
                u->scr = v;
                return;
        }
}

size_t uart_receive(struct uart *u, const uint8_t *p, size_t n)
{
        size_t done = 0;

        while (done < n && u->rx_count < UART_RX_FIFO) {
                u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = p[done++];
                u->rx_count++;
        }
        if (u->rx_count)
                u->lsr |= LSR_DR;
        update_irq(u);
        return done;
}

void uart_state_save(const struct uart *u, struct state_writer *w)
{
        const uint8_t regs[] = { u->ier, u->lcr, u->mcr, u->lsr, u->msr, u->scr, u->dll, u->dlm, u->fcr };

        state_put_bytes(w, regs, sizeof(regs));
        state_put_u8(w, u->thr_ipending);
        state_put_u8(w, u->irq_level);
        state_put_u8(w, (uint8_t)u->rx_head);
        state_put_u8(w, (uint8_t)u->rx_count);
        state_put_bytes(w, u->rx, sizeof(u->rx));
}

bool uart_state_load(struct uart *u, struct state_reader *r)
{
        struct uart n = *u;
        uint8_t regs[9], thr, lvl;

        state_get_bytes(r, regs, sizeof(regs));
        thr = state_get_u8(r);
        lvl = state_get_u8(r);
        n.rx_head = state_get_u8(r);
        n.rx_count = state_get_u8(r);
        state_get_bytes(r, n.rx, sizeof(n.rx));
        if (!state_reader_ok(r))
                return false;
        if (thr > 1 || lvl > 1)
                return state_reader_fail(r, "interrupt flags must be 0 or 1");
        if (n.rx_head >= UART_RX_FIFO || n.rx_count > UART_RX_FIFO)
                return state_reader_fail(r, "receive FIFO position %u/%u out of range (FIFO holds %d)", n.rx_head,
                                         n.rx_count, UART_RX_FIFO);
        n.ier = regs[0] & 0x0f; /* only the 4 interrupt enables exist */
        if (n.ier != regs[0])
                return state_reader_fail(r, "IER 0x%02x has reserved bits set", regs[0]);
        n.lcr = regs[1];
        n.mcr = regs[2];
        n.lsr = regs[3];
        n.msr = regs[4];
        n.scr = regs[5];
        n.dll = regs[6];
        n.dlm = regs[7];
        n.fcr = regs[8];
        n.thr_ipending = thr;
        n.irq_level = lvl;
        *u = n;
        return true;
}
