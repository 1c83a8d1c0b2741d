/* The Intel HD Audio controller and codec (hostd/vmm/hw/hda*.c) driven
 * through their registers over a fake guest RAM, as snd_hda_intel does:
 * reset, CORB/RIRB verbs, stream descriptors with BDLs, the position
 * buffer and interrupts; then hostile programming. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "audio-ring.h"
#include "check-main.h"
#include "hda.h"
#include "state-test.h"

#define RAM_SIZE (1u << 20)
#define CORB_GPA 0x1000
#define RIRB_GPA 0x2000
#define DPL_GPA 0x3000
#define BDL_GPA 0x4000
#define BUF_GPA 0x10000
#define OUT0 HDA_IN_STREAMS /* first output stream descriptor */

static uint8_t *ram;

struct sink {
        uint8_t data[1 << 17];
        size_t len;
        struct hda_pcm_format fmt;
        uint32_t next;          /* capture: next ramp value */
};

static struct sink sink;
static struct hda h;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
        (void)opaque;
        return range_ok(gpa, len, RAM_SIZE) ? ram + gpa : NULL;
}

static void play(void *opaque, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len)
{
        struct sink *s = opaque;
        size_t n = len < sizeof(s->data) - s->len ? len : sizeof(s->data) - s->len;

        memcpy(s->data + s->len, pcm, n);
        __atomic_add_fetch(&s->len, n, __ATOMIC_RELEASE);
        s->fmt = *f;
}

static void record(void *opaque, const struct hda_pcm_format *f, uint8_t *pcm, size_t len)
{
        struct sink *s = opaque;

        s->fmt = *f;
        for (size_t i = 0; i < len; i++)
                pcm[i] = (uint8_t)(s->next++ * 7);
}

static const struct hda_audio_ops audio = { .play = play, .record = record };

static void wr(uint64_t off, unsigned size, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        hda_mmio_write(&h, off, b, size);
}

static uint32_t rd(uint64_t off, unsigned size)
{
        uint8_t b[4] = { 0 };
        hda_mmio_read(&h, off, b, size);
        return (uint32_t)b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t sd(unsigned n, unsigned reg)
{
        return HDA_SD_BASE + HDA_SD_STRIDE * n + reg;
}

static void put32(uint64_t gpa, uint32_t v)
{
        memcpy(ram + gpa, &v, 4);
}

static uint32_t get32(uint64_t gpa)
{
        uint32_t v;
        memcpy(&v, ram + gpa, 4);
        return v;
}

static void setup(bool thread)
{
        const struct vq_mem mem = { translate, NULL };

        ram = calloc(1, RAM_SIZE);
        ck_assert_ptr_nonnull(ram);
        memset(&sink, 0, sizeof(sink));
        ck_assert_int_eq(hda_init(&h, 10, &mem, &audio, &sink, thread), 0);
        hda_attach(&h, -1);
}

static void setup_nothread(void)
{
        setup(false);
}

static void teardown(void)
{
        hda_detach(&h);
        hda_destroy(&h);
        free(ram);
}

/* What azx_reset and azx_init_cmd_io do. */
static void driver_init(void)
{
        wr(HDA_GCTL, 4, 0);
        ck_assert_int_eq(rd(HDA_GCTL, 4) & 1, 0);
        wr(HDA_GCTL, 4, 1);
        ck_assert_int_eq(rd(HDA_GCTL, 4) & 1, 1);
        ck_assert_int_eq(rd(HDA_STATESTS, 2), 1); /* codec 0 present */
        wr(HDA_STATESTS, 2, 0xffff);
        ck_assert_int_eq(rd(HDA_STATESTS, 2), 0);
        wr(HDA_CORBLBASE, 4, CORB_GPA);
        wr(HDA_CORBUBASE, 4, 0);
        wr(HDA_CORBRP, 2, 0x8000);
        ck_assert_int_eq(rd(HDA_CORBRP, 2), 0x8000);
        wr(HDA_CORBRP, 2, 0);
        ck_assert_int_eq(rd(HDA_CORBRP, 2), 0);
        wr(HDA_CORBWP, 2, 0);
        wr(HDA_CORBCTL, 1, 0x2);
        wr(HDA_RIRBLBASE, 4, RIRB_GPA);
        wr(HDA_RIRBWP, 2, 0x8000);
        wr(HDA_RINTCNT, 2, 1);
        wr(HDA_RIRBCTL, 1, 0x3);
        wr(HDA_INTCTL, 4, 0xc0000000u | 0xff);
}

/* Send verbs through the CORB; their responses from the RIRB. */
static void verbs(const uint32_t *cmd, unsigned n, uint32_t *resp)
{
        unsigned wp = rd(HDA_CORBWP, 2), rirb = rd(HDA_RIRBWP, 2);

        for (unsigned i = 0; i < n; i++)
                put32(CORB_GPA + 4 * ((wp + 1 + i) % 256), cmd[i]);
        wr(HDA_CORBWP, 2, (wp + n) % 256);
        ck_assert_int_eq(rd(HDA_CORBRP, 2), (wp + n) % 256);
        ck_assert_int_eq(rd(HDA_RIRBWP, 2), (rirb + n) % 256);
        for (unsigned i = 0; i < n; i++) {
                resp[i] = get32(RIRB_GPA + 8 * ((rirb + 1 + i) % 256));
                ck_assert_int_eq(get32(RIRB_GPA + 8 * ((rirb + 1 + i) % 256) + 4), 0); /* codec 0, solicited */
        }
        ck_assert(rd(HDA_RIRBSTS, 1) & 1);
        ck_assert(rd(HDA_INTSTS, 4) & 0x40000000u);
        ck_assert(h.irq_level);
        wr(HDA_RIRBSTS, 1, 0x5);
        ck_assert(!h.irq_level);
}

static uint32_t verb(unsigned nid, unsigned v, unsigned payload)
{
        uint32_t cmd = (uint32_t)nid << 20 | v << 8 | payload, resp;
        verbs(&cmd, 1, &resp);
        return resp;
}

START_TEST(test_identity)
{
        ck_assert_int_eq(h.pci.cfg[0] | h.pci.cfg[1] << 8, 0x8086);
        ck_assert_int_eq(h.pci.cfg[2] | h.pci.cfg[3] << 8, 0x2668);
        ck_assert_int_eq(h.pci.cfg[0x0b], 0x04);
        ck_assert_int_eq(h.pci.cfg[0x0a], 0x03);
        ck_assert_int_eq(h.pci.cfg[PCI_INTERRUPT_PIN], 1);
        ck_assert_int_eq(h.pci.bar_size[0], HDA_BAR_SIZE);
        ck_assert_int_eq(rd(HDA_GCAP, 2), 0x4401);
        ck_assert_int_eq(rd(0x03, 1), 1);
        /* In reset, registers other than GCTL ignore writes. */
        wr(HDA_INTCTL, 4, 0xffffffffu);
        ck_assert_int_eq(rd(HDA_INTCTL, 4), 0);
        driver_init();
        ck_assert_int_eq(rd(HDA_INTCTL, 4), 0xc00000ffu);
        ck_assert_int_eq(rd(0x4e, 1), 0x42);
}
END_TEST

/* The codec walk snd_hda_codec_generic does, answers as announced. */
START_TEST(test_codec_tree)
{
        driver_init();
        ck_assert_uint_eq(verb(0, 0xf00, 0x00), 0x1af40e01u);
        ck_assert_uint_eq(verb(0, 0xf00, 0x04), 0x00010001u);
        ck_assert_uint_eq(verb(1, 0xf00, 0x05), 1);
        ck_assert_uint_eq(verb(1, 0xf00, 0x04), 0x00020004u);
        ck_assert_uint_eq(verb(1, 0xf00, 0x0a), 0x00020060u);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0xf00, 0x09) >> 20, 0);
        ck_assert_uint_eq(verb(HDA_NID_ADC, 0xf00, 0x09) >> 20, 1);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf00, 0x09) >> 20, 4);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf00, 0x0c), 0x10);
        ck_assert_uint_eq(verb(HDA_NID_MIC_PIN, 0xf00, 0x0c), 0x20);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf00, 0x0e), 1);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf02, 0), HDA_NID_DAC);
        ck_assert_uint_eq(verb(HDA_NID_ADC, 0xf02, 0), HDA_NID_MIC_PIN);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf1c, 0), 0x01014010u);
        ck_assert_uint_eq(verb(HDA_NID_MIC_PIN, 0xf1c, 0), 0x01a19020u);
        /* Set then get: stream/channel, format, pin control, power. */
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0x706, 0x10), 0);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0xf06, 0), 0x10);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0x240, 0x11) , 0); /* 4-bit verb 2: 44.1 kHz stereo */
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0xa00, 0), 0x4011);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0x707, 0x40), 0);
        ck_assert_uint_eq(verb(HDA_NID_OUT_PIN, 0xf07, 0), 0x40);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0x705, 0x03), 0);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0xf05, 0), 0x33);
        ck_assert_uint_eq(h.codec.bad_verbs, 0);
        /* Function group reset. */
        ck_assert_uint_eq(verb(HDA_NID_AFG, 0x7ff, 0), 0);
        ck_assert_uint_eq(verb(HDA_NID_DAC, 0xf06, 0), 0);
}
END_TEST

START_TEST(test_bad_verbs)
{
        uint32_t cmds[] = { 0x07f00000u, 0x00ff0000u, 0x02f1c000u, 0x08f00000u, 0x001f0000u };
        uint32_t resp[5];

        driver_init();
        verbs(cmds, 5, resp);
        for (unsigned i = 0; i < 5; i++)
                ck_assert_uint_eq(resp[i], 0);
        ck_assert_uint_eq(h.codec.bad_verbs, 5);
        /* A codec address nobody answers: no response, flagged. */
        put32(CORB_GPA + 4 * ((rd(HDA_CORBWP, 2) + 1) % 256), 0x1f000000u);
        wr(HDA_CORBWP, 2, (rd(HDA_CORBWP, 2) + 1) % 256);
        ck_assert_int_eq(rd(HDA_RIRBWP, 2), 5);
        ck_assert_uint_eq(h.errors, 1);
        /* The immediate command interface answers the same way. */
        wr(HDA_ICOI, 4, 0x000f0000u);
        wr(HDA_ICIS, 2, 1);
        ck_assert_int_eq(rd(HDA_ICIS, 2), 2);
        ck_assert_uint_eq(rd(HDA_ICII, 4), 0x1af40e01u);
}
END_TEST

START_TEST(test_corb_outside_ram)
{
        driver_init();
        wr(HDA_CORBCTL, 1, 0);
        wr(HDA_CORBUBASE, 4, 0x7fffffffu);
        wr(HDA_CORBCTL, 1, 0x3);
        wr(HDA_CORBWP, 2, 3);
        ck_assert_int_eq(rd(HDA_CORBSTS, 1), 1);
        ck_assert_int_eq(rd(HDA_CORBCTL, 1) & 2, 0);
        ck_assert(h.irq_level);
        wr(HDA_CORBSTS, 1, 1);
        ck_assert(!h.irq_level);
        /* A RIRB outside RAM stops the RIRB engine instead. */
        wr(HDA_CORBUBASE, 4, 0);
        wr(HDA_CORBRP, 2, 0x8000);
        wr(HDA_CORBRP, 2, 0);
        wr(HDA_CORBWP, 2, 0);
        wr(HDA_RIRBLBASE, 4, 0xffffff80u);
        wr(HDA_CORBCTL, 1, 0x2);
        put32(CORB_GPA + 4, 0x000f0000u);
        wr(HDA_CORBWP, 2, 1);
        ck_assert_int_eq(rd(HDA_RIRBCTL, 1) & 2, 0);
        ck_assert_uint_eq(h.errors, 2);
}
END_TEST

/* A stereo ramp of n frames at BUF_GPA in entries of entry_len bytes
 * (the last with IOC), programmed into stream n. */
static void program_stream(unsigned n, unsigned entries, uint32_t entry_len, uint16_t fmt, unsigned tag)
{
        for (unsigned i = 0; i < entries; i++) {
                uint64_t e = BDL_GPA + 16 * i;
                uint64_t a = BUF_GPA + (uint64_t)i * entry_len;
                put32(e, (uint32_t)a);
                put32(e + 4, 0);
                put32(e + 8, entry_len);
                put32(e + 12, 1);
        }
        wr(sd(n, HDA_SD_CTL), 1, HDA_SD_CTL_SRST);
        ck_assert_int_eq(rd(sd(n, HDA_SD_CTL), 1) & 1, 1);
        wr(sd(n, HDA_SD_CTL), 1, 0);
        ck_assert_int_eq(rd(sd(n, HDA_SD_CTL), 1) & 1, 0);
        wr(sd(n, HDA_SD_CBL), 4, entries * entry_len);
        wr(sd(n, HDA_SD_LVI), 2, entries - 1);
        wr(sd(n, HDA_SD_FMT), 2, fmt);
        wr(sd(n, HDA_SD_BDPL), 4, BDL_GPA);
        wr(sd(n, HDA_SD_BDPU), 4, 0);
        /* As snd_hdac_stream_setup: a 32-bit write of CTL with STS. */
        wr(sd(n, HDA_SD_CTL), 4, (rd(sd(n, HDA_SD_CTL), 4) & ~0xf00000u) | tag << 20);
        ck_assert_int_eq(rd(sd(n, HDA_SD_CTL), 4) >> 20 & 0xf, tag);
        wr(HDA_DPLBASE, 4, DPL_GPA | 1);
}

START_TEST(test_playback)
{
        uint64_t t0;

        driver_init();
        for (unsigned i = 0; i < 4096; i++)
                ram[BUF_GPA + i] = (uint8_t)(i * 13 + 1);
        verb(HDA_NID_DAC, 0x706, 0x30);
        program_stream(OUT0, 2, 2048, 0x0011, 3); /* 48 kHz stereo S16 */
        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN | HDA_SD_CTL_IOCE);
        t0 = h.sd[OUT0].start_ns;
        hda_tick(&h, t0 + 5000000); /* 5 ms: 240 frames, 960 bytes */
        ck_assert_uint_eq(sink.len, 960);
        ck_assert_int_eq(memcmp(sink.data, ram + BUF_GPA, 960), 0);
        ck_assert_uint_eq(sink.fmt.rate, 48000);
        ck_assert_uint_eq(sink.fmt.channels, 2);
        ck_assert_uint_eq(rd(sd(OUT0, HDA_SD_LPIB), 4), 960);
        ck_assert_uint_eq(rd(0x2000 + sd(OUT0, HDA_SD_LPIB), 4), 960);
        ck_assert_uint_eq(get32(DPL_GPA + 8 * OUT0), 960);
        ck_assert(!h.irq_level);
        hda_tick(&h, t0 + 12000000); /* 12 ms: 2304 bytes, past entry 0 */
        ck_assert_uint_eq(sink.len, 2304);
        ck_assert_int_eq(memcmp(sink.data, ram + BUF_GPA, 2304), 0);
        ck_assert_int_eq(rd(sd(OUT0, HDA_SD_STS), 1) & HDA_SD_STS_BCIS, HDA_SD_STS_BCIS);
        ck_assert_uint_eq(rd(HDA_INTSTS, 4), 0x80000000u | 1u << OUT0);
        ck_assert(h.irq_level);
        wr(sd(OUT0, HDA_SD_STS), 1, HDA_SD_STS_BCIS);
        ck_assert(!h.irq_level);
        /* 30 ms: wraps around the 4096-byte cyclic buffer. */
        hda_tick(&h, t0 + 30000000);
        ck_assert_uint_eq(sink.len, 5760);
        ck_assert_int_eq(memcmp(sink.data + 4096, ram + BUF_GPA, 5760 - 4096), 0);
        ck_assert_uint_eq(rd(sd(OUT0, HDA_SD_LPIB), 4), 5760 - 4096);
        /* Stopped: nothing more moves. */
        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_IOCE);
        hda_tick(&h, t0 + 60000000);
        ck_assert_uint_eq(sink.len, 5760);
        ck_assert_uint_eq(h.errors, 0);
}
END_TEST

START_TEST(test_playback_unconnected_and_mono)
{
        uint64_t t0;

        driver_init();
        verb(HDA_NID_DAC, 0x706, 0x50);
        program_stream(OUT0 + 1, 2, 1024, 0x4010, 4); /* 44.1 kHz mono, tag 4: not the DAC's */
        wr(sd(OUT0 + 1, HDA_SD_CTL), 1, HDA_SD_CTL_RUN);
        t0 = h.sd[OUT0 + 1].start_ns;
        hda_tick(&h, t0 + 10000000);
        ck_assert_uint_eq(sink.len, 0);
        ck_assert_uint_eq(rd(sd(OUT0 + 1, HDA_SD_LPIB), 4), 882); /* consumed all the same */
        verb(HDA_NID_DAC, 0x706, 0x40);
        hda_tick(&h, t0 + 20000000);
        ck_assert_uint_eq(sink.len, 882);
        ck_assert_uint_eq(sink.fmt.rate, 44100);
        ck_assert_uint_eq(sink.fmt.channels, 1);
}
END_TEST

START_TEST(test_capture)
{
        uint64_t t0;

        driver_init();
        verb(HDA_NID_ADC, 0x706, 0x20);
        program_stream(0, 4, 512, 0x0011, 2);
        wr(sd(0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN | HDA_SD_CTL_IOCE);
        t0 = h.sd[0].start_ns;
        hda_tick(&h, t0 + 4000000); /* 768 bytes */
        for (unsigned i = 0; i < 768; i++)
                ck_assert_int_eq(ram[BUF_GPA + i], (uint8_t)(i * 7));
        ck_assert_int_eq(ram[BUF_GPA + 768], 0);
        ck_assert_uint_eq(get32(DPL_GPA), 768);
        ck_assert_uint_eq(rd(HDA_INTSTS, 4), 0x80000001u);
}
END_TEST

/* Hostile stream programming: each ends in a flagged error, never a crash. */
static void expect_stream_error(uint8_t sts_bit)
{
        uint64_t t0;

        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN | HDA_SD_CTL_DEIE | HDA_SD_CTL_FEIE);
        t0 = h.sd[OUT0].start_ns;
        hda_tick(&h, t0 + 10000000);
        ck_assert_int_eq(rd(sd(OUT0, HDA_SD_STS), 1) & sts_bit, sts_bit);
        ck_assert_int_eq(rd(sd(OUT0, HDA_SD_CTL), 1) & HDA_SD_CTL_RUN, 0);
        ck_assert(h.irq_level);
        ck_assert_uint_ge(h.errors, 1);
}

START_TEST(test_hostile_streams)
{
        driver_init();
        verb(HDA_NID_DAC, 0x706, 0x10);
        /* Buffer outside RAM. */
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        put32(BDL_GPA + 4, 0x40);
        expect_stream_error(HDA_SD_STS_DESE);
        /* BDL outside RAM. */
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        wr(sd(OUT0, HDA_SD_BDPU), 4, 0xffffffffu);
        wr(sd(OUT0, HDA_SD_BDPL), 4, 0xffffff80u);
        expect_stream_error(HDA_SD_STS_DESE);
        /* A zero-length entry; LVI 0; CBL 0. */
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        put32(BDL_GPA + 8, 0);
        expect_stream_error(HDA_SD_STS_DESE);
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        wr(sd(OUT0, HDA_SD_LVI), 2, 0);
        expect_stream_error(HDA_SD_STS_DESE);
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        wr(sd(OUT0, HDA_SD_CBL), 4, 0);
        expect_stream_error(HDA_SD_STS_DESE);
        /* A huge entry running past the end of RAM. */
        program_stream(OUT0, 2, 0x80000000u, 0x0011, 1);
        put32(BDL_GPA, RAM_SIZE - 1024);
        sink.len = 0;
        expect_stream_error(HDA_SD_STS_DESE);
        ck_assert_uint_eq(sink.len, 0); /* the chunk crossing the end of RAM is refused whole */
        /* Formats the codec does not offer: 24 bit, 96 kHz (x2), non-PCM. */
        program_stream(OUT0, 2, 2048, 0x0031, 1);
        expect_stream_error(HDA_SD_STS_FIFOE);
        program_stream(OUT0, 2, 2048, 0x0811, 1);
        expect_stream_error(HDA_SD_STS_FIFOE);
        program_stream(OUT0, 2, 2048, 0x8011, 1);
        expect_stream_error(HDA_SD_STS_FIFOE);
        /* Buffer registers while running are read-only. */
        program_stream(OUT0, 2, 2048, 0x0011, 1);
        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN);
        wr(sd(OUT0, HDA_SD_CBL), 4, 12);
        ck_assert_uint_eq(rd(sd(OUT0, HDA_SD_CBL), 4), 4096);
        /* Writes past the registers and odd sizes do nothing harmful. */
        wr(HDA_BAR_SIZE - 2, 4, 0xffffffffu);
        wr(0x2000 + sd(OUT0, HDA_SD_LPIB), 4, 0);
        ck_assert_uint_eq(rd(0x7c, 4), 0);
        /* A position buffer outside RAM is not written. */
        wr(HDA_DPUBASE, 4, 0xffffffffu);
        hda_tick(&h, h.sd[OUT0].start_ns + 1000000);
}
END_TEST

static void damage_version(uint8_t *p, size_t len)
{
        ck_assert_uint_gt(len, 100);
        p[0] = 9;
}

static void damage_stream_ctl(uint8_t *p, size_t len)
{
        ck_assert_uint_gt(len, 100);
        p[98] = 0xff; /* stream 0's CTL, top byte: not a 24-bit register */
}

/* Save mid-playback, load into a second card: the guest's view and the
 * stream's position carry over, and playback continues from there. */
START_TEST(test_snapshot)
{
        static struct hda h2;
        const struct vq_mem mem = { translate, NULL };
        struct vm_err err = { "" };
        uint64_t t0;

        driver_init();
        for (unsigned i = 0; i < 4096; i++)
                ram[BUF_GPA + i] = (uint8_t)(i * 29 + 5);
        verb(HDA_NID_DAC, 0x706, 0x30);
        program_stream(OUT0, 2, 2048, 0x0011, 3);
        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN | HDA_SD_CTL_IOCE);
        hda_tick(&h, h.sd[OUT0].start_ns + 5000000);
        ck_assert_uint_eq(sink.len, 960);

        ck_assert_int_eq(hda_init(&h2, 10, &mem, &audio, &sink, false), 0);
        ck_assert_int_eq(state_round_trip(&hda_state_ops, &h, &h2, damage_version, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "version 9"));
        ck_assert_int_eq(state_round_trip(&hda_state_ops, &h, &h2, damage_stream_ctl, &err), -EINVAL);
        ck_assert_uint_eq(h2.gctl, 0); /* a refused load changed nothing */
        ck_assert_int_eq(state_round_trip(&hda_state_ops, &h, &h2, NULL, &err), 0);
        ck_assert_uint_eq(h2.gctl, 1);
        ck_assert_uint_eq(h2.intctl, h.intctl);
        ck_assert_uint_eq(h2.corb_wp, h.corb_wp);
        ck_assert_uint_eq(h2.rirb_wp, h.rirb_wp);
        ck_assert_uint_eq(h2.codec.dac.stream, 3);
        ck_assert_uint_eq(h2.sd[OUT0].pos.lpib, 960);
        ck_assert_uint_eq(h2.sd[OUT0].ctl, h.sd[OUT0].ctl);
        t0 = h2.sd[OUT0].start_ns;
        hda_tick(&h2, t0 + 5000000);
        ck_assert_uint_eq(sink.len, 1920);
        ck_assert_int_eq(memcmp(sink.data, ram + BUF_GPA, 1920), 0);
        hda_destroy(&h2);
}
END_TEST

START_TEST(test_bdl_walker)
{
        const struct vq_mem mem = { translate, NULL };
        struct hda_bdl bdl = { BDL_GPA, 1, 600 };
        struct hda_bdl_pos pos = { 0 };
        uint8_t buf[1000];
        bool ioc = false;

        put32(BDL_GPA, BUF_GPA);
        put32(BDL_GPA + 8, 400);
        put32(BDL_GPA + 12, 1);
        put32(BDL_GPA + 16, BUF_GPA + 1000);
        put32(BDL_GPA + 24, 400);
        /* CBL 600 shorter than the list: wraps at 600. */
        ck_assert_int_eq(hda_bdl_transfer(&mem, &bdl, &pos, buf, 700, false, &ioc), 700);
        ck_assert(ioc);
        ck_assert_uint_eq(pos.lpib, 100);
        ck_assert_uint_eq(pos.entry, 0);
        ck_assert_uint_eq(pos.off, 100);
        /* Odd length, address overflow. */
        put32(BDL_GPA + 8, 401);
        ck_assert_int_eq(hda_bdl_transfer(&mem, &bdl, &pos, buf, 10, false, &ioc), -EINVAL);
        put32(BDL_GPA + 8, 400);
        put32(BDL_GPA, 0xffffffffu);
        put32(BDL_GPA + 4, 0xffffffffu);
        ck_assert_int_eq(hda_bdl_transfer(&mem, &bdl, &pos, buf, 10, false, &ioc), -EFAULT);
        bdl.base = UINT64_MAX - 15;
        ck_assert_int_eq(hda_bdl_transfer(&mem, &bdl, &pos, buf, 10, false, &ioc), -EFAULT);
        bdl.lvi = 256;
        ck_assert_int_eq(hda_bdl_transfer(&mem, &bdl, &pos, buf, 10, false, &ioc), -EINVAL);
}
END_TEST

/* The FIFO to the display servers: order, overrun (oldest dropped, whole
 * frames), a format change dropping the old format's samples. */
START_TEST(test_audio_ring)
{
        struct audio_ring r;
        struct hda_pcm_format st = { 48000, 2, 16 }, mono = { 44100, 1, 16 }, f;
        uint8_t in[64], out[64];

        for (unsigned i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t)(i + 1);
        ck_assert_int_eq(audio_ring_init(&r, 42), 0); /* 40: whole stereo frames */
        ck_assert_uint_eq(audio_ring_pop(&r, &f, out, sizeof(out)), 0);
        audio_ring_push(&r, &st, in, 24);
        ck_assert_uint_eq(audio_ring_pop(&r, &f, out, 10), 8); /* whole frames only */
        ck_assert_int_eq(memcmp(out, in, 8), 0);
        ck_assert_uint_eq(f.rate, 48000);
        audio_ring_push(&r, &st, in + 24, 36); /* 16 + 36 > 40: the oldest 12 go */
        ck_assert_uint_eq(audio_ring_pop(&r, &f, out, sizeof(out)), 40);
        ck_assert_int_eq(memcmp(out, in + 20, 40), 0);
        ck_assert_uint_eq(r.dropped, 12);
        audio_ring_push(&r, &st, in, 64); /* more than it holds: the newest 40 */
        audio_ring_push(&r, &mono, in, 6);
        ck_assert_uint_eq(audio_ring_pop(&r, &f, out, sizeof(out)), 6);
        ck_assert_int_eq(memcmp(out, in, 6), 0);
        ck_assert_uint_eq(f.channels, 1);
        audio_ring_destroy(&r);
}
END_TEST

START_TEST(test_format_parse)
{
        struct hda_pcm_format f;

        ck_assert_int_eq(hda_format_parse(0x0011, &f), 0);
        ck_assert_uint_eq(f.rate, 48000);
        ck_assert_uint_eq(hda_format_rate_bytes(&f), 192000);
        ck_assert_int_eq(hda_format_parse(0x4010, &f), 0);
        ck_assert_uint_eq(f.rate, 44100);
        ck_assert_uint_eq(f.channels, 1);
        ck_assert_int_eq(hda_format_parse(0x0012, &f), -EINVAL); /* 3 channels */
        ck_assert_int_eq(hda_format_parse(0x0001, &f), -EINVAL); /* 8 bit */
        ck_assert_int_eq(hda_format_parse(0x0111, &f), -EINVAL); /* /2 */
}
END_TEST

/* On the device thread, at the stream's rate: 100 ms of 48 kHz stereo
 * never arrives sooner than 100 ms after RUN. */
START_TEST(test_thread_rate)
{
        struct timespec ts = { 0, 2000000 };
        uint64_t t0, t1, deadline;

        setup(true);
        driver_init();
        verb(HDA_NID_DAC, 0x706, 0x10);
        program_stream(OUT0, 4, 16384, 0x0011, 1);
        wr(sd(OUT0, HDA_SD_CTL), 1, HDA_SD_CTL_RUN);
        t0 = hda_now_ns();
        deadline = t0 + 20000000000ull;
        while (__atomic_load_n(&sink.len, __ATOMIC_ACQUIRE) < 19200 && hda_now_ns() < deadline)
                nanosleep(&ts, NULL);
        t1 = hda_now_ns();
        ck_assert_uint_ge(__atomic_load_n(&sink.len, __ATOMIC_ACQUIRE), 19200);
        ck_assert_uint_ge(t1 - h.sd[OUT0].start_ns, 100000000ull);
        ck_assert_int_eq(memcmp(sink.data, ram + BUF_GPA, 19200), 0);
        teardown();
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hda");
        TCase *tc = tcase_create("registers");
        TCase *th = tcase_create("thread");

        tcase_add_checked_fixture(tc, setup_nothread, teardown);
        tcase_add_test(tc, test_identity);
        tcase_add_test(tc, test_codec_tree);
        tcase_add_test(tc, test_bad_verbs);
        tcase_add_test(tc, test_corb_outside_ram);
        tcase_add_test(tc, test_playback);
        tcase_add_test(tc, test_playback_unconnected_and_mono);
        tcase_add_test(tc, test_capture);
        tcase_add_test(tc, test_hostile_streams);
        tcase_add_test(tc, test_snapshot);
        tcase_add_test(tc, test_bdl_walker);
        tcase_add_test(tc, test_format_parse);
        tcase_add_test(tc, test_audio_ring);
        suite_add_tcase(s, tc);
        tcase_set_timeout(th, 60);
        tcase_add_test(th, test_thread_rate);
        suite_add_tcase(s, th);
        return s;
}
