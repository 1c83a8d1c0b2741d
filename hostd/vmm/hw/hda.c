#include "config.h"

#include "hda.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"

/* 3.3.2 GCAP: 4 output, 4 input, 0 bidirectional streams, 64-bit DMA. */
#define GCAP_VALUE ((HDA_OUT_STREAMS << 12) | (HDA_IN_STREAMS << 8) | 1)
#define GCTL_CRST 0x1
#define GCTL_UNSOL 0x100
#define INT_GIE 0x80000000u
#define INT_CIE 0x40000000u
#define INT_SIE_MASK ((1u << HDA_STREAMS) - 1)
#define CORBRP_RST 0x8000
#define CORBCTL_CMEIE 0x1
#define CORBCTL_RUN 0x2
#define CORBSTS_CMEI 0x1
#define RIRBWP_RST 0x8000
#define RIRBCTL_RINTCTL 0x1
#define RIRBCTL_DMAEN 0x2
#define RIRBCTL_OIC 0x4
#define RIRBSTS_RINTFL 0x1
#define RIRBSTS_OIS 0x4
#define RING_SIZE_REG 0x42 /* 256 entries, only 256 supported (3.3.24) */
#define ICIS_ICB 0x1
#define ICIS_IRV 0x2
#define DPLBASE_ENABLE 0x1
#define SD_CTL_MASK 0xf0001f
#define SD_STS_MASK (HDA_SD_STS_BCIS | HDA_SD_STS_FIFOE | HDA_SD_STS_DESE)
#define WALCLK_HZ 24000000ull
#define LPIB_ALIAS 0x2000

#define ICH6_VENDOR 0x8086
#define ICH6_DEVICE 0x2668
#define CLASS_HDA 0x040300

uint64_t hda_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t addr64(uint32_t lo, uint32_t hi)
{
        return (uint64_t)hi << 32 | lo;
}

static bool is_output(unsigned n)
{
        return n >= HDA_IN_STREAMS;
}

/* ---- interrupts ---- */

static uint32_t stream_irq_bits(const struct hda *h)
{
        uint32_t bits = 0;

        for (unsigned n = 0; n < HDA_STREAMS; n++) {
                const struct hda_stream *s = &h->sd[n];
                if (((s->sts & HDA_SD_STS_BCIS) && (s->ctl & HDA_SD_CTL_IOCE)) ||
                    ((s->sts & HDA_SD_STS_FIFOE) && (s->ctl & HDA_SD_CTL_FEIE)) ||
                    ((s->sts & HDA_SD_STS_DESE) && (s->ctl & HDA_SD_CTL_DEIE)))
                        bits |= 1u << n;
        }
        return bits;
}

static bool controller_irq(const struct hda *h)
{
        return ((h->rirb_sts & RIRBSTS_RINTFL) && (h->rirb_ctl & RIRBCTL_RINTCTL)) ||
               ((h->rirb_sts & RIRBSTS_OIS) && (h->rirb_ctl & RIRBCTL_OIC)) ||
               ((h->corb_sts & CORBSTS_CMEI) && (h->corb_ctl & CORBCTL_CMEIE)) || (h->statests & h->wakeen);
}

/* 3.3.14 INTSTS: per-stream bits, CIS (30), GIS (31). */
static uint32_t intsts(const struct hda *h)
{
        uint32_t v = stream_irq_bits(h) | (controller_irq(h) ? INT_CIE : 0);

        return v ? v | INT_GIE : 0;
}

/* Recompute the INTx level after any status or enable change. Lock held. */
static void update_irq(struct hda *h)
{
        uint32_t st = intsts(h);
        bool level = (h->intctl & INT_GIE) && (st & h->intctl & (INT_CIE | INT_SIE_MASK));
        struct kvm_irq_level irq = { .irq = h->gsi, .level = level };

        if (level == h->irq_level)
                return;
        h->irq_level = level;
        if (h->vm_fd >= 0)
                ioctl(h->vm_fd, KVM_IRQ_LINE, &irq);
}

/* ---- commands: CORB, RIRB, immediate (3.4) ---- */

static uint32_t command(struct hda *h, uint32_t cmd, bool *answered)
{
        /* Only codec address 0 exists: others get no response, as on
         * hardware (the driver probed STATESTS and knows). */
        *answered = (cmd >> 28) == 0;
        if (!*answered) {
                h->errors++;
                return 0;
        }
        return hda_codec_verb(&h->codec, cmd);
}

static int rirb_put(struct hda *h, uint32_t resp)
{
        uint8_t ent[8] = { (uint8_t)resp, (uint8_t)(resp >> 8), (uint8_t)(resp >> 16), (uint8_t)(resp >> 24) };
        uint64_t base = addr64(h->rirb_lbase & ~0x7fu, h->rirb_ubase);
        unsigned wp = (h->rirb_wp + 1u) % HDA_RING_ENTRIES;
        uint8_t *p;

        if (base > UINT64_MAX - HDA_RING_ENTRIES * 8)
                return -EFAULT;
        p = h->mem.translate(h->mem.opaque, base + wp * 8u, 8);
        if (!p)
                return -EFAULT;
        memcpy(p, ent, 8); /* extended response: codec 0, solicited */
        h->rirb_wp = (uint16_t)wp;
        if (++h->rirb_pending >= (h->rintcnt ? h->rintcnt : 256u)) {
                h->rirb_pending = 0;
                h->rirb_sts |= RIRBSTS_RINTFL;
        }
        return 0;
}

/* Run the CORB up to its write pointer while both DMA engines run. */
static void corb_process(struct hda *h)
{
        uint64_t base = addr64(h->corb_lbase & ~0x7fu, h->corb_ubase);
        bool any = false;

        if (!(h->corb_ctl & CORBCTL_RUN) || !(h->rirb_ctl & RIRBCTL_DMAEN) || h->corb_rp_reset)
                return;
        while (h->corb_rp != (h->corb_wp & 0xff)) {
                unsigned rp = (h->corb_rp + 1u) % HDA_RING_ENTRIES;
                const uint8_t *p = base <= UINT64_MAX - HDA_RING_ENTRIES * 4
                                           ? h->mem.translate(h->mem.opaque, base + rp * 4u, 4)
                                           : NULL;
                uint32_t cmd, resp;
                bool answered;

                if (!p) {
                        h->corb_sts |= CORBSTS_CMEI; /* memory error: the engine stops */
                        h->corb_ctl &= (uint8_t)~CORBCTL_RUN;
                        h->errors++;
                        break;
                }
                cmd = (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
                h->corb_rp = (uint16_t)rp;
                resp = command(h, cmd, &answered);
                if (answered && rirb_put(h, resp) < 0) {
                        h->rirb_ctl &= (uint8_t)~RIRBCTL_DMAEN;
                        h->errors++;
                        break;
                }
                any = true;
        }
        /* Responses short of RINTCNT still interrupt once the CORB is empty,
         * or a driver waiting for its single response would wait forever. */
        if (any && h->rirb_pending) {
                h->rirb_pending = 0;
                h->rirb_sts |= RIRBSTS_RINTFL;
        }
        update_irq(h);
}

static void immediate_command(struct hda *h)
{
        bool answered;
        uint32_t resp = command(h, h->icoi, &answered);

        if (answered) {
                h->icii = resp;
                h->icis |= ICIS_IRV;
        }
        h->icis &= (uint16_t)~ICIS_ICB;
}

/* ---- resets ---- */

static void stream_reset(struct hda_stream *s)
{
        memset(s, 0, sizeof(*s));
}

static void controller_reset(struct hda *h)
{
        h->gctl = h->intctl = 0;
        h->wakeen = h->statests = 0;
        h->corb_lbase = h->corb_ubase = h->rirb_lbase = h->rirb_ubase = 0;
        h->corb_wp = h->corb_rp = h->rirb_wp = h->rintcnt = 0;
        h->corb_ctl = h->corb_sts = h->rirb_ctl = h->rirb_sts = 0;
        h->corb_rp_reset = false;
        h->rirb_pending = 0;
        h->icoi = h->icii = 0;
        h->icis = 0;
        h->dplbase = h->dpubase = 0;
        for (unsigned n = 0; n < HDA_STREAMS; n++)
                stream_reset(&h->sd[n]);
        hda_codec_reset(&h->codec);
        update_irq(h);
}

/* ---- register file ---- */

struct reg {
        uint16_t off;
        uint8_t size;
};

static const struct reg global_regs[] = {
        { 0x00, 2 }, { 0x02, 1 }, { 0x03, 1 }, { 0x04, 2 }, { 0x06, 2 }, { 0x08, 4 }, { 0x0c, 2 },
        { 0x0e, 2 }, { 0x10, 2 }, { 0x18, 2 }, { 0x1a, 2 }, { 0x20, 4 }, { 0x24, 4 }, { 0x30, 4 },
        { 0x34, 4 }, { 0x38, 4 }, { 0x40, 4 }, { 0x44, 4 }, { 0x48, 2 }, { 0x4a, 2 }, { 0x4c, 1 },
        { 0x4d, 1 }, { 0x4e, 1 }, { 0x50, 4 }, { 0x54, 4 }, { 0x58, 2 }, { 0x5a, 2 }, { 0x5c, 1 },
        { 0x5d, 1 }, { 0x5e, 1 }, { 0x60, 4 }, { 0x64, 4 }, { 0x68, 2 }, { 0x70, 4 }, { 0x74, 4 },
};

static const struct reg stream_regs[] = {
        { 0x00, 3 }, { 0x03, 1 }, { 0x04, 4 }, { 0x08, 4 }, { 0x0c, 2 }, { 0x0e, 2 },
        { 0x10, 2 }, { 0x12, 2 }, { 0x18, 4 }, { 0x1c, 4 },
};

/* The register holding byte off (global offsets; stream registers as
 * HDA_SD_BASE + n * stride + reg). false for holes. */
static bool find_reg(uint64_t off, struct reg *out)
{
        const struct reg *t = global_regs;
        size_t n = sizeof(global_regs) / sizeof(global_regs[0]);
        uint64_t base = 0;

        if (off >= LPIB_ALIAS)
                off -= LPIB_ALIAS; /* 3.3.37: LPIB aliases (other registers read as 0 there) */
        if (off >= HDA_SD_BASE && off < HDA_SD_BASE + HDA_STREAMS * HDA_SD_STRIDE) {
                base = off - (off - HDA_SD_BASE) % HDA_SD_STRIDE;
                off -= base;
                t = stream_regs;
                n = sizeof(stream_regs) / sizeof(stream_regs[0]);
        }
        for (size_t i = 0; i < n; i++)
                if (off >= t[i].off && off < t[i].off + t[i].size) {
                        *out = (struct reg){ (uint16_t)(base + t[i].off), t[i].size };
                        return true;
                }
        return false;
}

static uint32_t stream_read(struct hda *h, unsigned n, unsigned reg)
{
        const struct hda_stream *s = &h->sd[n];

        switch (reg) {
        case HDA_SD_CTL: return s->ctl;
        case HDA_SD_STS: return s->sts | HDA_SD_STS_FIFORDY;
        case HDA_SD_LPIB: return s->pos.lpib;
        case HDA_SD_CBL: return s->cbl;
        case HDA_SD_LVI: return s->lvi;
        case 0x0e: return 4; /* FIFOW: 32-byte watermark */
        case HDA_SD_FIFOS: return is_output(n) ? 0xff : 0x7f;
        case HDA_SD_FMT: return s->fmt;
        case HDA_SD_BDPL: return s->bdpl;
        case HDA_SD_BDPU: return s->bdpu;
        }
        return 0;
}

static uint32_t global_read(struct hda *h, unsigned reg)
{
        switch (reg) {
        case 0x00: return GCAP_VALUE;
        case 0x02: return 0;    /* VMIN */
        case 0x03: return 1;    /* VMAJ */
        case 0x04: return 0x3c; /* OUTPAY */
        case 0x06: return 0x1d; /* INPAY */
        case HDA_GCTL: return h->gctl;
        case 0x0c: return h->wakeen;
        case HDA_STATESTS: return h->statests;
        case HDA_INTCTL: return h->intctl;
        case HDA_INTSTS: return intsts(h);
        case HDA_WALCLK: return (uint32_t)((hda_now_ns() - h->epoch_ns) * (WALCLK_HZ / 1000000) / 1000);
        case HDA_CORBLBASE: return h->corb_lbase;
        case HDA_CORBUBASE: return h->corb_ubase;
        case HDA_CORBWP: return h->corb_wp;
        case HDA_CORBRP: return h->corb_rp | (h->corb_rp_reset ? CORBRP_RST : 0);
        case HDA_CORBCTL: return h->corb_ctl;
        case HDA_CORBSTS: return h->corb_sts;
        case 0x4e: case 0x5e: return RING_SIZE_REG;
        case HDA_RIRBLBASE: return h->rirb_lbase;
        case HDA_RIRBUBASE: return h->rirb_ubase;
        case HDA_RIRBWP: return h->rirb_wp;
        case HDA_RINTCNT: return h->rintcnt;
        case HDA_RIRBCTL: return h->rirb_ctl;
        case HDA_RIRBSTS: return h->rirb_sts;
        case HDA_ICOI: return h->icoi;
        case HDA_ICII: return h->icii;
        case HDA_ICIS: return h->icis;
        case HDA_DPLBASE: return h->dplbase;
        case HDA_DPUBASE: return h->dpubase;
        }
        return 0;
}

static uint32_t reg_read(struct hda *h, const struct reg *r, bool alias)
{
        if (r->off >= HDA_SD_BASE) {
                unsigned n = (r->off - HDA_SD_BASE) / HDA_SD_STRIDE, reg = (r->off - HDA_SD_BASE) % HDA_SD_STRIDE;
                if (alias && reg != HDA_SD_LPIB)
                        return 0;
                return stream_read(h, n, reg);
        }
        return alias ? 0 : global_read(h, r->off);
}

static void arm_timer(struct hda *h)
{
        struct itimerspec it = { .it_interval = { 0, HDA_TICK_NS }, .it_value = { 0, HDA_TICK_NS } };

        if (h->timer_fd >= 0)
                timerfd_settime(h->timer_fd, 0, &it, NULL);
}

void hda_resync(struct hda *h)
{
        update_irq(h);
        for (unsigned n = 0; n < HDA_STREAMS; n++)
                if (h->sd[n].ctl & HDA_SD_CTL_RUN)
                        arm_timer(h);
}

static void stream_ctl_write(struct hda *h, unsigned n, uint32_t v)
{
        struct hda_stream *s = &h->sd[n];
        uint32_t old = s->ctl;

        v &= SD_CTL_MASK;
        if (v & HDA_SD_CTL_SRST) {
                /* 3.3.35: in reset, the stream's registers return to defaults. */
                stream_reset(s);
                s->ctl = HDA_SD_CTL_SRST;
                return;
        }
        s->ctl = v;
        if ((v & HDA_SD_CTL_RUN) && !(old & HDA_SD_CTL_RUN)) {
                s->start_ns = hda_now_ns();
                s->bytes = 0;
                arm_timer(h);
        }
}

static void stream_write(struct hda *h, unsigned n, unsigned reg, uint32_t v)
{
        struct hda_stream *s = &h->sd[n];
        bool running = s->ctl & HDA_SD_CTL_RUN;

        if (reg == HDA_SD_CTL) {
                stream_ctl_write(h, n, v);
        } else if (reg == HDA_SD_STS) {
                s->sts &= (uint8_t)~(v & SD_STS_MASK); /* write 1 to clear */
        } else if (running || (s->ctl & HDA_SD_CTL_SRST)) {
                /* 3.3.38ff: the buffer registers are read-only while the
                 * stream runs; the driver writing them then is flagged. */
                h->errors++;
        } else if (reg == HDA_SD_CBL) {
                s->cbl = v;
        } else if (reg == HDA_SD_LVI) {
                s->lvi = v & 0xff;
        } else if (reg == HDA_SD_FMT) {
                s->fmt = (uint16_t)v;
        } else if (reg == HDA_SD_BDPL) {
                s->bdpl = v & ~0x7fu;
        } else if (reg == HDA_SD_BDPU) {
                s->bdpu = v;
        }
}

static void gctl_write(struct hda *h, uint32_t v)
{
        if (!(v & GCTL_CRST)) {
                controller_reset(h);
                return;
        }
        if (!(h->gctl & GCTL_CRST))
                h->statests |= 1; /* leaving reset: codec 0 says it is there (4.3) */
        h->gctl = v & (GCTL_CRST | GCTL_UNSOL);
}

static void global_write(struct hda *h, unsigned reg, uint32_t v)
{
        if (!(h->gctl & GCTL_CRST) && reg != HDA_GCTL)
                return; /* in reset, only GCTL can be written (3.3.7) */
        switch (reg) {
        case HDA_GCTL: gctl_write(h, v); break;
        case 0x0c: h->wakeen = v & 1; break;
        case HDA_STATESTS: h->statests &= (uint16_t)~v; break;
        case HDA_INTCTL: h->intctl = v & (INT_GIE | INT_CIE | INT_SIE_MASK); break;
        case HDA_CORBLBASE: h->corb_lbase = v & ~0x7fu; break;
        case HDA_CORBUBASE: h->corb_ubase = v; break;
        case HDA_CORBWP: h->corb_wp = v & 0xff; corb_process(h); break;
        case HDA_CORBRP:
                h->corb_rp_reset = v & CORBRP_RST;
                if (h->corb_rp_reset)
                        h->corb_rp = 0;
                break;
        case HDA_CORBCTL: h->corb_ctl = v & (CORBCTL_CMEIE | CORBCTL_RUN); corb_process(h); break;
        case HDA_CORBSTS: h->corb_sts &= (uint8_t)~v; break;
        case HDA_RIRBLBASE: h->rirb_lbase = v & ~0x7fu; break;
        case HDA_RIRBUBASE: h->rirb_ubase = v; break;
        case HDA_RIRBWP:
                if (v & RIRBWP_RST)
                        h->rirb_wp = 0;
                break;
        case HDA_RINTCNT: h->rintcnt = v & 0xff; break;
        case HDA_RIRBCTL:
                h->rirb_ctl = v & (RIRBCTL_RINTCTL | RIRBCTL_DMAEN | RIRBCTL_OIC);
                corb_process(h);
                break;
        case HDA_RIRBSTS: h->rirb_sts &= (uint8_t)~v; break;
        case HDA_ICOI: h->icoi = v; break;
        case HDA_ICIS:
                h->icis &= (uint16_t)~(v & ICIS_IRV);
                if (v & ICIS_ICB)
                        immediate_command(h);
                break;
        case HDA_DPLBASE: h->dplbase = v & ~0x7eu; break;
        case HDA_DPUBASE: h->dpubase = v; break;
        }
}

/* Write-1-to-clear registers: bytes the access did not cover are 0 then,
 * not the current value (that would clear them). */
static bool is_w1c(unsigned off)
{
        unsigned sd = (off - HDA_SD_BASE) % HDA_SD_STRIDE;

        return off == HDA_STATESTS || off == HDA_CORBSTS || off == HDA_RIRBSTS ||
               (off >= HDA_SD_BASE && sd == HDA_SD_STS);
}

static void reg_write(struct hda *h, const struct reg *r, uint32_t val, uint32_t mask)
{
        uint32_t old = is_w1c(r->off) || r->off == HDA_ICIS ? 0 : reg_read(h, r, false);
        uint32_t v = (old & ~mask) | (val & mask);

        if (r->off >= HDA_SD_BASE) {
                unsigned n = (r->off - HDA_SD_BASE) / HDA_SD_STRIDE;
                stream_write(h, n, (r->off - HDA_SD_BASE) % HDA_SD_STRIDE, v);
        } else {
                global_write(h, r->off, v);
        }
        update_irq(h);
}

void hda_mmio_read(struct hda *h, uint64_t off, uint8_t *data, unsigned size)
{
        pthread_mutex_lock(&h->lock);
        for (unsigned i = 0; i < size; i++) {
                struct reg r;
                uint64_t o = off + i;

                data[i] = 0;
                if (o < HDA_BAR_SIZE && find_reg(o, &r))
                        data[i] = (uint8_t)(reg_read(h, &r, o >= LPIB_ALIAS) >> (8 * ((o % LPIB_ALIAS) - r.off)));
        }
        pthread_mutex_unlock(&h->lock);
}

void hda_mmio_write(struct hda *h, uint64_t off, const uint8_t *data, unsigned size)
{
        pthread_mutex_lock(&h->lock);
        for (unsigned i = 0; i < size;) {
                struct reg r;
                uint64_t o = off + i;
                uint32_t val = 0, mask = 0;

                if (o >= LPIB_ALIAS || !find_reg(o, &r)) {
                        i++;
                        continue;
                }
                /* Gather the bytes of this access that fall into r. */
                for (; i < size && off + i < (uint64_t)r.off + r.size; i++) {
                        unsigned sh = 8 * (unsigned)(off + i - r.off);
                        val |= (uint32_t)data[i] << sh;
                        mask |= 0xffu << sh;
                }
                reg_write(h, &r, val, mask);
        }
        pthread_mutex_unlock(&h->lock);
}

/* ---- stream DMA ---- */

static void write_position(struct hda *h, unsigned n)
{
        uint64_t base = addr64(h->dplbase & ~0x7fu, h->dpubase);
        uint32_t lpib = h->sd[n].pos.lpib;
        uint8_t *p;

        if (!(h->dplbase & DPLBASE_ENABLE) || base > UINT64_MAX - 8 * HDA_STREAMS)
                return;
        p = h->mem.translate(h->mem.opaque, base + 8u * n, 4);
        if (p)
                memcpy(p, &lpib, 4); /* x86: little-endian */
}

static bool converter_match(const struct hda *h, unsigned n)
{
        const struct hda_converter *c = is_output(n) ? &h->codec.dac : &h->codec.adc;
        unsigned tag = h->sd[n].ctl >> 20 & 0xf;

        return tag && c->stream == tag;
}

/* Move len bytes of stream n; false after a descriptor error. */
static bool stream_move(struct hda *h, unsigned n, const struct hda_pcm_format *f, size_t len)
{
        struct hda_stream *s = &h->sd[n];
        struct hda_bdl bdl = { addr64(s->bdpl, s->bdpu), s->lvi, s->cbl };
        bool out = is_output(n), connected = converter_match(h, n), ioc = false;
        uint8_t buf[4096];
        long r = 0;

        while (len) {
                size_t chunk = len < sizeof(buf) ? len : sizeof(buf);

                if (!out) {
                        if (connected && h->audio && h->audio->record)
                                h->audio->record(h->audio_opaque, f, buf, chunk);
                        else
                                memset(buf, 0, chunk);
                }
                r = hda_bdl_transfer(&h->mem, &bdl, &s->pos, buf, chunk, !out, &ioc);
                if (r <= 0)
                        break;
                if (out && connected && h->audio && h->audio->play)
                        h->audio->play(h->audio_opaque, f, buf, (size_t)r);
                len -= (size_t)r;
        }
        if (ioc)
                s->sts |= HDA_SD_STS_BCIS;
        if (r < 0) {
                /* 3.3.36 DESE: the stream stops until the driver resets it. */
                s->sts |= HDA_SD_STS_DESE;
                s->ctl &= ~(uint32_t)HDA_SD_CTL_RUN;
                h->errors++;
                return false;
        }
        return true;
}

static void stream_tick(struct hda *h, unsigned n, uint64_t now_ns)
{
        struct hda_stream *s = &h->sd[n];
        struct hda_pcm_format f;
        uint64_t due, frame, limit;

        if (hda_format_parse(s->fmt, &f) < 0) {
                s->sts |= HDA_SD_STS_FIFOE; /* a format the codec does not offer */
                s->ctl &= ~(uint32_t)HDA_SD_CTL_RUN;
                h->errors++;
                return;
        }
        frame = f.channels * 2u;
        if (now_ns < s->start_ns)
                return;
        /* Whole frames due since RUN; a late tick catches up, at most one
         * cyclic buffer at once (a stalled host does not replay minutes). */
        due = (now_ns - s->start_ns) / 1000 * hda_format_rate_bytes(&f) / 1000000 / frame * frame;
        limit = s->cbl < hda_format_rate_bytes(&f) ? s->cbl : hda_format_rate_bytes(&f);
        if (limit >= frame && due - s->bytes > limit)
                s->bytes = due - limit / frame * frame;
        if (due > s->bytes && stream_move(h, n, &f, due - s->bytes))
                s->bytes = due;
        write_position(h, n);
}

void hda_tick(struct hda *h, uint64_t now_ns)
{
        bool any = false;

        pthread_mutex_lock(&h->lock);
        for (unsigned n = 0; n < HDA_STREAMS; n++) {
                if (!(h->sd[n].ctl & HDA_SD_CTL_RUN))
                        continue;
                stream_tick(h, n, now_ns);
                any |= (h->sd[n].ctl & HDA_SD_CTL_RUN) != 0;
        }
        update_irq(h);
        if (!any && h->timer_fd >= 0) {
                struct itimerspec off = { 0 };
                timerfd_settime(h->timer_fd, 0, &off, NULL);
        }
        pthread_mutex_unlock(&h->lock);
}

/* ---- PCI, thread, life cycle ---- */

static void pci_bar_read(struct pci_device *d, int bar, uint64_t off, uint8_t *data, unsigned size)
{
        (void)bar;
        hda_mmio_read((struct hda *)d, off, data, size);
}

static void pci_bar_write(struct pci_device *d, int bar, uint64_t off, const uint8_t *data, unsigned size)
{
        (void)bar;
        hda_mmio_write((struct hda *)d, off, data, size);
}

static const struct pci_device_ops hda_pci_ops = {
        .bar_read = pci_bar_read,
        .bar_write = pci_bar_write,
};

static void *device_thread(void *arg)
{
        struct hda *h = arg;

        jail_thread(JAIL_DEVICE);
        for (;;) {
                struct pollfd pfd[2] = { { .fd = h->stop_fd, .events = POLLIN }, { .fd = h->timer_fd, .events = POLLIN } };
                uint64_t ticks;

                if (poll(pfd, 2, -1) < 0)
                        continue;
                if (pfd[0].revents)
                        return NULL;
                if (pfd[1].revents && read(h->timer_fd, &ticks, sizeof(ticks)) > 0)
                        hda_tick(h, hda_now_ns());
        }
}

static int start_thread(struct hda *h)
{
        sigset_t all, old;
        int r;

        h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->timer_fd < 0 || h->stop_fd < 0)
                return -errno;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&h->thread, NULL, device_thread, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r)
                return -r;
        h->thread_started = true;
        return 0;
}

int hda_init(struct hda *h, unsigned gsi, const struct vq_mem *mem, const struct hda_audio_ops *audio,
             void *audio_opaque, bool with_thread)
{
        struct pci_device *d = &h->pci;
        int r;

        memset(h, 0, sizeof(*h));
        h->timer_fd = h->stop_fd = h->vm_fd = -1;
        pci_device_init(d, ICH6_VENDOR, ICH6_DEVICE, CLASS_HDA, &hda_pci_ops, h);
        d->cfg[PCI_REVISION] = 1;
        d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
        d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)gsi;
        r = pci_device_add_bar(d, 0, HDA_BAR_SIZE, 0);
        if (r < 0)
                return r;
        h->mem = *mem;
        h->audio = audio;
        h->audio_opaque = audio_opaque;
        h->gsi = gsi;
        h->epoch_ns = hda_now_ns();
        pthread_mutex_init(&h->lock, NULL);
        h->lock_init = true;
        controller_reset(h);
        r = with_thread ? start_thread(h) : 0;
        if (r < 0)
                hda_destroy(h);
        return r;
}

void hda_destroy(struct hda *h)
{
        uint64_t one = 1;

        if (h->thread_started) {
                if (write(h->stop_fd, &one, sizeof(one)) < 0) {
                        /* cannot fail on a fresh eventfd */
                }
                pthread_join(h->thread, NULL);
                h->thread_started = false;
        }
        if (h->timer_fd >= 0)
                close(h->timer_fd);
        if (h->stop_fd >= 0)
                close(h->stop_fd);
        h->timer_fd = h->stop_fd = -1;
        if (h->lock_init)
                pthread_mutex_destroy(&h->lock);
        h->lock_init = false;
}

void hda_attach(struct hda *h, int vm_fd)
{
        struct pci_device *d = &h->pci;

        pthread_mutex_lock(&h->lock);
        d->cfg[PCI_COMMAND] = d->cfg[PCI_COMMAND + 1] = 0;
        memset(d->cfg + PCI_BAR0, 0, 4);
        h->vm_fd = vm_fd;
        h->irq_level = false;
        controller_reset(h);
        pthread_mutex_unlock(&h->lock);
}

void hda_detach(struct hda *h)
{
        struct kvm_irq_level irq = { .irq = h->gsi, .level = 0 };

        pthread_mutex_lock(&h->lock);
        for (unsigned n = 0; n < HDA_STREAMS; n++)
                h->sd[n].ctl &= ~(uint32_t)HDA_SD_CTL_RUN;
        if (h->vm_fd >= 0 && h->irq_level)
                ioctl(h->vm_fd, KVM_IRQ_LINE, &irq);
        h->vm_fd = -1;
        h->irq_level = false;
        pthread_mutex_unlock(&h->lock);
}
