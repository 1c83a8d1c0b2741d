#include "config.h"

#include <string.h>

#include "check-main.h"
#include "uart.h"

struct sink {
        char out[64];
        size_t n;
        int irq_changes;
        bool level;
};

static void tx(void *o, uint8_t c)
{
        struct sink *s = o;
        if (s->n < sizeof(s->out))
                s->out[s->n++] = (char)c;
}

static void irq(void *o, bool level)
{
        struct sink *s = o;
        s->level = level;
        s->irq_changes++;
}

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* What Linux's 8250 autoconfig checks before calling a port a 16550A. */
START_TEST(test_probe_as_16550a)
{
        struct sink s = { 0 };
        struct uart u;

        uart_init(&u, tx, irq, &s);
        uart_write(&u, IER, 0);
        ck_assert_uint_eq(uart_read(&u, IER) & 0x0f, 0);
        uart_write(&u, IER, 0x0f);
        ck_assert_uint_eq(uart_read(&u, IER) & 0x0f, 0x0f);
        uart_write(&u, IER, 0);
        /* Loopback: MSR reflects MCR (OUT2 → DCD, RTS → CTS). */
        uart_write(&u, MCR, 0x10 | 0x0a);
        ck_assert_uint_eq(uart_read(&u, MSR) & 0xf0, 0x90);
        uart_write(&u, MCR, 0);
        /* Scratch register. */
        uart_write(&u, SCR, 0xa5);
        ck_assert_uint_eq(uart_read(&u, SCR), 0xa5);
        /* FIFO enabled: IIR bits 7:6 = 3. */
        uart_write(&u, FCR, 0x01);
        ck_assert_uint_eq(uart_read(&u, IIR) >> 6, 3);
        ck_assert_uint_eq(uart_read(&u, IIR) & 0x0f, 0x01); /* no interrupt */
        /* LSR: transmitter empty. */
        ck_assert_uint_eq(uart_read(&u, LSR) & 0x60, 0x60);
        ck_assert(!s.level); /* IER 0x0f raised THRI for a moment; IER 0 dropped it */
}
END_TEST

START_TEST(test_dlab)
{
        struct sink s = { 0 };
        struct uart u;

        uart_init(&u, tx, irq, &s);
        uart_write(&u, IER, 0x05);
        uart_write(&u, LCR, 0x83);
        uart_write(&u, THR, 0x01); /* DLL */
        uart_write(&u, IER, 0x00); /* DLM */
        ck_assert_uint_eq(uart_read(&u, THR), 0x01);
        ck_assert_uint_eq(uart_read(&u, IER), 0x00);
        uart_write(&u, LCR, 0x03);
        ck_assert_uint_eq(uart_read(&u, IER), 0x05); /* IER untouched by DLM */
        ck_assert_uint_eq(uart_read(&u, LCR), 0x03);
        ck_assert_uint_eq(s.n, 0);                   /* divisor writes send nothing */
}
END_TEST

/* Interrupt-driven transmit as the 8250 driver does it: enable THRI, take
 * the interrupt, write bytes, disable THRI when done. */
START_TEST(test_tx_interrupts)
{
        struct sink s = { 0 };
        struct uart u;

        uart_init(&u, tx, irq, &s);
        uart_write(&u, FCR, 0x07);
        uart_write(&u, IER, 0x02);
        ck_assert(s.level);                                     /* THR empty raises at once */
        ck_assert_uint_eq(uart_read(&u, IIR), 0xc2);
        ck_assert(!s.level);                                    /* reading IIR clears it */
        ck_assert_uint_eq(uart_read(&u, IIR), 0xc1);
        uart_write(&u, THR, 'h');
        ck_assert(s.level);                                     /* empty again: next interrupt */
        uart_write(&u, THR, 'i');
        ck_assert(s.level);
        ck_assert_uint_eq(uart_read(&u, IIR) & 0x0f, 0x02);
        ck_assert(!s.level);
        uart_write(&u, IER, 0x00);                              /* stop_tx */
        ck_assert(!s.level);
        ck_assert_uint_eq(uart_read(&u, IIR) & 0x0f, 0x01);
        /* Re-enabling with THR empty raises again (no UART_BUG_THRE). */
        uart_write(&u, IER, 0x02);
        ck_assert(s.level);
        uart_write(&u, IER, 0x00);
        ck_assert(!s.level);
        ck_assert_uint_eq(s.n, 2);
        ck_assert_mem_eq(s.out, "hi", 2);
}
END_TEST

START_TEST(test_polled_tx_no_irq)
{
        struct sink s = { 0 };
        struct uart u;

        uart_init(&u, tx, irq, &s);
        for (const char *p = "console\n"; *p; p++) {
                ck_assert(uart_read(&u, LSR) & 0x20);
                uart_write(&u, THR, (uint8_t)*p);
        }
        ck_assert_uint_eq(s.n, 8);
        ck_assert_int_eq(s.irq_changes, 0); /* IER 0: line stays low */
}
END_TEST

START_TEST(test_rx)
{
        struct sink s = { 0 };
        struct uart u;
        uint8_t many[40];

        uart_init(&u, tx, irq, &s);
        ck_assert_uint_eq(uart_read(&u, LSR) & 0x01, 0);
        ck_assert_uint_eq(uart_receive(&u, (const uint8_t *)"ab", 2), 2);
        ck_assert_uint_eq(uart_read(&u, LSR) & 0x01, 1);
        ck_assert(!s.level);                     /* RDI not enabled */
        uart_write(&u, IER, 0x01);
        ck_assert(s.level);
        ck_assert_uint_eq(uart_read(&u, IIR) & 0x0f, 0x04);
        ck_assert_uint_eq(uart_read(&u, THR), 'a');
        ck_assert(s.level);
        ck_assert_uint_eq(uart_read(&u, THR), 'b');
        ck_assert(!s.level);
        ck_assert_uint_eq(uart_read(&u, LSR) & 0x01, 0);
        memset(many, 'x', sizeof(many));
        ck_assert_uint_eq(uart_receive(&u, many, sizeof(many)), UART_RX_FIFO);
        uart_write(&u, FCR, 0x03);               /* clear RX FIFO */
        ck_assert_uint_eq(uart_read(&u, LSR) & 0x01, 0);
        ck_assert(!s.level);
        /* Loopback: transmitted bytes come back, nothing leaves. */
        uart_write(&u, MCR, 0x10);
        uart_write(&u, THR, 'z');
        ck_assert_uint_eq(uart_read(&u, THR), 'z');
        ck_assert_uint_eq(s.n, 0);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("vmm-uart");
        TCase *tc = tcase_create("uart");

        tcase_add_test(tc, test_probe_as_16550a);
        tcase_add_test(tc, test_dlab);
        tcase_add_test(tc, test_tx_interrupts);
        tcase_add_test(tc, test_polled_tx_no_irq);
        tcase_add_test(tc, test_rx);
        suite_add_tcase(s, tc);
        return s;
}
