/* A bounded FIFO of PCM between the sound card's device thread (writer)
 * and a protocol's main loop (reader): what the guest played, waiting for
 * clients. When the reader falls behind by more than the ring holds, the
 * oldest samples go (a remote listener wants the newest). A format change
 * drops what was queued in the old format. Thread-safe. */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hda-codec.h"

struct audio_ring {
        pthread_mutex_t lock;
        uint8_t *buf;
        size_t cap, head, len;  /* head: oldest byte */
        struct hda_pcm_format fmt;
        uint64_t dropped;       /* bytes lost to overruns */
};

/* cap bytes (rounded down to whole 4-byte stereo frames). 0 or -ENOMEM. */
int audio_ring_init(struct audio_ring *r, size_t cap);
void audio_ring_destroy(struct audio_ring *r);

/* Append len bytes of PCM in format f. */
void audio_ring_push(struct audio_ring *r, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len);

/* Take up to max bytes (whole frames) and their format; returns the bytes
 * taken, 0 when empty. */
size_t audio_ring_pop(struct audio_ring *r, struct hda_pcm_format *f, uint8_t *out, size_t max);
