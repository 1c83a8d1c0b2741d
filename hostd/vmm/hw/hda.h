/* An Intel HD Audio controller (ICH6, 8086:2668; Intel High Definition
 * Audio spec 1.0a, chapter 3) on PCI with one duplex codec (hda-codec.h):
 * 4 input and 4 output stream descriptors, CORB/RIRB and the immediate
 * command interface, buffer descriptor lists in guest RAM (hda-bdl.h),
 * the DMA position buffer, INTx (level, pin A). What Linux's
 * snd_hda_intel and Windows' in-box HDA driver drive.
 *
 * Timing: the device's own thread moves each running stream's samples at
 * the stream's rate (a timerfd armed while a stream runs; the byte count
 * follows the monotonic clock, so wake-up jitter does not drift the
 * rate). Playback goes to audio->play, capture comes from audio->record,
 * both called on that thread with the device lock held. Commands (CORB,
 * immediate) are answered on the writing vCPU thread: they cost no time.
 *
 * Hostile programming — lists or rings outside RAM, zero or odd lengths,
 * LVI 0, formats we do not offer, unknown verbs or nodes — sets the error
 * bits hardware has (DESE in the stream status, CMEI for the CORB) or is
 * answered with 0 and counted in errors; it never stops the VM. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hda-bdl.h"
#include "hda-codec.h"
#include "pci.h"

#define HDA_IN_STREAMS 4
#define HDA_OUT_STREAMS 4
#define HDA_STREAMS (HDA_IN_STREAMS + HDA_OUT_STREAMS)
#define HDA_BAR_SIZE 0x4000
#define HDA_RING_ENTRIES 256
#define HDA_TICK_NS 1000000 /* device thread period while a stream runs */

/* Register offsets used by tests and the guest (3.3). */
#define HDA_GCAP 0x00
#define HDA_GCTL 0x08
#define HDA_STATESTS 0x0e
#define HDA_INTCTL 0x20
#define HDA_INTSTS 0x24
#define HDA_WALCLK 0x30
#define HDA_CORBLBASE 0x40
#define HDA_CORBUBASE 0x44
#define HDA_CORBWP 0x48
#define HDA_CORBRP 0x4a
#define HDA_CORBCTL 0x4c
#define HDA_CORBSTS 0x4d
#define HDA_RIRBLBASE 0x50
#define HDA_RIRBUBASE 0x54
#define HDA_RIRBWP 0x58
#define HDA_RINTCNT 0x5a
#define HDA_RIRBCTL 0x5c
#define HDA_RIRBSTS 0x5d
#define HDA_ICOI 0x60
#define HDA_ICII 0x64
#define HDA_ICIS 0x68
#define HDA_DPLBASE 0x70
#define HDA_DPUBASE 0x74
#define HDA_SD_BASE 0x80
#define HDA_SD_STRIDE 0x20
/* Stream descriptor registers, relative to HDA_SD_BASE + n * HDA_SD_STRIDE */
#define HDA_SD_CTL 0x00
#define HDA_SD_STS 0x03
#define HDA_SD_LPIB 0x04
#define HDA_SD_CBL 0x08
#define HDA_SD_LVI 0x0c
#define HDA_SD_FIFOS 0x10
#define HDA_SD_FMT 0x12
#define HDA_SD_BDPL 0x18
#define HDA_SD_BDPU 0x1c

#define HDA_SD_CTL_SRST 0x01
#define HDA_SD_CTL_RUN 0x02
#define HDA_SD_CTL_IOCE 0x04
#define HDA_SD_CTL_FEIE 0x08
#define HDA_SD_CTL_DEIE 0x10
#define HDA_SD_STS_BCIS 0x04
#define HDA_SD_STS_FIFOE 0x08
#define HDA_SD_STS_DESE 0x10
#define HDA_SD_STS_FIFORDY 0x20

/* Where samples go and come from (protocols' audio, a file, tests). */
struct hda_audio_ops {
        /* len bytes of interleaved little-endian PCM in format f. */
        void (*play)(void *opaque, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len);
        /* Fill len bytes in format f (silence when there is no input). */
        void (*record)(void *opaque, const struct hda_pcm_format *f, uint8_t *pcm, size_t len);
};

struct hda_stream {
        uint32_t ctl;           /* SDCTL, 24 bits */
        uint8_t sts;
        uint32_t cbl;
        uint16_t lvi, fmt;
        uint32_t bdpl, bdpu;
        struct hda_bdl_pos pos;
        uint64_t start_ns;      /* RUN set at */
        uint64_t bytes;         /* moved since then */
};

struct hda {
        struct pci_device pci;  /* first: the PCI callbacks cast back */
        struct vq_mem mem;
        const struct hda_audio_ops *audio;
        void *audio_opaque;

        pthread_mutex_t lock;   /* everything below */
        struct hda_codec codec;
        uint32_t gctl, intctl;
        uint16_t wakeen, statests;
        uint32_t corb_lbase, corb_ubase, rirb_lbase, rirb_ubase;
        uint16_t corb_wp, corb_rp, rirb_wp, rintcnt;
        uint8_t corb_ctl, corb_sts, rirb_ctl, rirb_sts;
        bool corb_rp_reset;
        unsigned rirb_pending;  /* responses since the last RINTFL */
        uint32_t icoi, icii;
        uint16_t icis;
        uint32_t dplbase, dpubase;
        struct hda_stream sd[HDA_STREAMS];
        uint64_t errors;        /* hostile programming seen (logged by the owner) */
        uint64_t epoch_ns;      /* wall clock zero */

        unsigned gsi;
        int vm_fd;              /* -1: no guest (tests) */
        bool irq_level;
        int timer_fd, stop_fd;
        pthread_t thread;
        bool thread_started, lock_init;
};

/* Set up h (not yet on a bus) with INTx on gsi; audio may be NULL (samples
 * are dropped, capture is silence). with_thread false leaves the timing
 * to the caller's hda_tick (tests, fuzzing). 0 or negative errno (h is
 * then cleaned up). hda_destroy accepts an h whose init failed. */
int hda_init(struct hda *h, unsigned gsi, const struct vq_mem *mem, const struct hda_audio_ops *audio,
             void *audio_opaque, bool with_thread);
void hda_destroy(struct hda *h);

/* A new guest boot on vm_fd (power-on reset of controller, codec and the
 * PCI registers), and its end. */
void hda_attach(struct hda *h, int vm_fd);
void hda_detach(struct hda *h);

/* Register access (what the vCPU threads do through BAR 0). */
void hda_mmio_read(struct hda *h, uint64_t off, uint8_t *data, unsigned size);
void hda_mmio_write(struct hda *h, uint64_t off, const uint8_t *data, unsigned size);

/* Move the samples due at monotonic time now_ns for every running stream
 * (the device thread calls this every HDA_TICK_NS). */
void hda_tick(struct hda *h, uint64_t now_ns);

/* After the state changed behind the registers' back (a snapshot load;
 * lock held): the interrupt line and the device thread's timer follow it. */
void hda_resync(struct hda *h);

/* Snapshots (SNAPSHOT.md "dev.hda"): registers, stream positions, codec. */
struct state_ops;
extern const struct state_ops hda_state_ops;

/* CLOCK_MONOTONIC in ns. */
uint64_t hda_now_ns(void);
