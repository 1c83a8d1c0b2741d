/* libFuzzer target: a hostile HD Audio driver. The input is a list of
 * operations on the controller (hostd/vmm/hw/hda.c) over a small fake
 * guest RAM: register writes and reads of any size at any offset (CORB and
 * RIRB rings, stream descriptors, the position buffer), bytes poked into
 * RAM (buffer descriptor lists, CORB commands), time passing (the stream
 * DMA and its BDL walker), and raw verbs straight to the codec's parser.
 * Anything may be refused or flagged; nothing may crash, hang or touch
 * memory outside the fake RAM. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz-ram.h"
#include "hostd/vmm/hw/hda.h"

#define RAM_SIZE 65536

static void play(void *opaque, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len)
{
        volatile uint8_t sum = 0;
        (void)opaque;
        (void)f;
        for (size_t i = 0; i < len; i++)
                sum ^= pcm[i]; /* ASan checks every byte handed out */
}

static void record(void *opaque, const struct hda_pcm_format *f, uint8_t *pcm, size_t len)
{
        (void)opaque;
        (void)f;
        memset(pcm, 0x5a, len);
}

static const struct hda_audio_ops audio = { .play = play, .record = record };

static void run(struct hda *h, const uint8_t *data, size_t size, struct fuzz_ram *ram, uint64_t *now)
{
        while (size) {
                unsigned op = (unsigned)fuzz_get(&data, &size, 1);
                uint64_t off = fuzz_get(&data, &size, 2) % (HDA_BAR_SIZE + 8);
                unsigned len = 1u + (unsigned)fuzz_get(&data, &size, 1) % 8;
                uint8_t buf[8] = { 0 };

                switch (op % 5) {
                case 0:
                        for (unsigned i = 0; i < len; i++)
                                buf[i] = (uint8_t)fuzz_get(&data, &size, 1);
                        hda_mmio_write(h, off, buf, len);
                        break;
                case 1:
                        hda_mmio_read(h, off, buf, len);
                        break;
                case 2: /* up to 64 KiB of RAM, at a fuzzed place */
                        off = fuzz_get(&data, &size, 2);
                        for (unsigned i = 0; i < len * 4 && size; i++)
                                ram->p[(off + i) % RAM_SIZE] = (uint8_t)fuzz_get(&data, &size, 1);
                        break;
                case 3:
                        *now += fuzz_get(&data, &size, 2) * 10000ull;
                        hda_tick(h, *now);
                        break;
                case 4:
                        hda_codec_verb(&h->codec, (uint32_t)fuzz_get(&data, &size, 4));
                        break;
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct hda h;
        struct fuzz_ram ram = { calloc(1, RAM_SIZE), RAM_SIZE };
        const struct vq_mem mem = { fuzz_translate, &ram };
        uint64_t now = hda_now_ns();

        if (!ram.p || hda_init(&h, 10, &mem, &audio, NULL, false) < 0) {
                free(ram.p);
                return 0;
        }
        hda_attach(&h, -1);
        /* Memory decoding on, the controller out of reset: the driver's
         * first steps, so the input does not have to find them. */
        hda_mmio_write(&h, HDA_GCTL, (const uint8_t[]){ 1, 0, 0, 0 }, 4);
        run(&h, data, size, &ram, &now);
        hda_detach(&h);
        hda_destroy(&h);
        free(ram.p);
        return 0;
}
