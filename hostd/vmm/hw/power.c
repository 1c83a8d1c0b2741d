#include "config.h"

#include "power.h"

#include <stdbool.h>

#include "layout.h"
#include "state.h"

/* ACPI 6.x 4.8.3: PM1 control SCI_EN bit 0, SLP_TYP bits 10-12, SLP_EN
 * bit 13; PM1 status is write-1-to-clear. */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define I8042_CMD_RESET 0xfe

void power_init(struct power *p, void (*event)(void *, enum power_event, const char *), void *opaque)
{
        pthread_mutex_init(&p->lock, NULL);
        p->event = event;
        p->opaque = opaque;
        power_reset(p);
}

void power_destroy(struct power *p)
{
        pthread_mutex_destroy(&p->lock);
}

void power_reset(struct power *p)
{
        pthread_mutex_lock(&p->lock);
        p->pm1_sts = 0;
        p->pm1_en = 0;
        p->pm1_cnt = PM1_CNT_SCI_EN; /* always in ACPI mode: no SMI_CMD */
        pthread_mutex_unlock(&p->lock);
}

/* One byte of the ACPI register file. */
static uint8_t reg_byte(const struct power *p, unsigned port)
{
        switch (port) {
        case PORT_ACPI_PM1_EVT: return (uint8_t)p->pm1_sts;
        case PORT_ACPI_PM1_EVT + 1: return (uint8_t)(p->pm1_sts >> 8);
        case PORT_ACPI_PM1_EVT + 2: return (uint8_t)p->pm1_en;
        case PORT_ACPI_PM1_EVT + 3: return (uint8_t)(p->pm1_en >> 8);
        case PORT_ACPI_PM1_CNT: return (uint8_t)p->pm1_cnt;
        case PORT_ACPI_PM1_CNT + 1: return (uint8_t)(p->pm1_cnt >> 8);
        default: return 0;
        }
}

uint32_t power_acpi_read(struct power *p, unsigned off, unsigned size)
{
        uint32_t v = 0;

        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < size && i < 4; i++)
                v |= (uint32_t)reg_byte(p, PORT_ACPI_BASE + off + i) << (8 * i);
        pthread_mutex_unlock(&p->lock);
        return v;
}

void power_acpi_write(struct power *p, unsigned off, unsigned size, uint32_t v)
{
        enum power_event ev = POWER_OFF;
        const char *how = NULL;

        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < size && i < 4; i++) {
                unsigned port = PORT_ACPI_BASE + off + i;
                uint8_t b = (uint8_t)(v >> (8 * i));

                switch (port) {
                case PORT_ACPI_PM1_EVT: p->pm1_sts &= (uint16_t)~b; break;
                case PORT_ACPI_PM1_EVT + 1: p->pm1_sts &= (uint16_t)~(b << 8); break;
                case PORT_ACPI_PM1_EVT + 2: p->pm1_en = (uint16_t)((p->pm1_en & 0xff00) | b); break;
                case PORT_ACPI_PM1_EVT + 3: p->pm1_en = (uint16_t)((p->pm1_en & 0x00ff) | b << 8); break;
                case PORT_ACPI_PM1_CNT:
                        p->pm1_cnt = (uint16_t)((p->pm1_cnt & 0xff00) | b | PM1_CNT_SCI_EN);
                        break;
                case PORT_ACPI_PM1_CNT + 1:
                        p->pm1_cnt = (uint16_t)((p->pm1_cnt & 0x00ff) | b << 8);
                        break;
                case PORT_ACPI_RESET:
                        if (b == ACPI_RESET_VALUE) {
                                ev = POWER_RESET;
                                how = "acpi-reset";
                        }
                        break;
                default:
                        break;
                }
        }
        /* SLP_EN is write-only: act on it and do not latch it. */
        if (p->pm1_cnt & PM1_CNT_SLP_EN) {
                if (PM1_CNT_SLP_TYP(p->pm1_cnt) == ACPI_S5_SLP_TYP && !how) {
                        ev = POWER_OFF;
                        how = "acpi-s5";
                }
                p->pm1_cnt &= (uint16_t)~PM1_CNT_SLP_EN;
        }
        pthread_mutex_unlock(&p->lock);
        if (how)
                p->event(p->opaque, ev, how);
}

uint8_t power_i8042_read(struct power *p, unsigned off)
{
        (void)p;
        (void)off;
        /* Status 0: input buffer empty (a reset command is taken at once),
         * no output data; the data port reads 0. */
        return 0;
}

void power_i8042_write(struct power *p, unsigned off, uint8_t v)
{
        if (off == PORT_I8042_CMD - PORT_I8042_DATA && v == I8042_CMD_RESET)
                p->event(p->opaque, POWER_RESET, "i8042");
}

static int power_save(void *dev, struct state_writer *w)
{
        struct power *p = dev;

        pthread_mutex_lock(&p->lock);
        state_put_u16(w, p->pm1_sts);
        state_put_u16(w, p->pm1_en);
        state_put_u16(w, p->pm1_cnt);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

static int power_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        struct power *p = dev;
        uint16_t sts = state_get_u16(r), en = state_get_u16(r), cnt = state_get_u16(r);
        int ret = state_reader_done(r, err);

        if (ret < 0)
                return ret;
        pthread_mutex_lock(&p->lock);
        p->pm1_sts = sts;
        p->pm1_en = en;
        p->pm1_cnt = cnt;
        pthread_mutex_unlock(&p->lock);
        return 0;
}

const struct state_ops power_state_ops = { .save = power_save, .load = power_load };
