#include "config.h"

#include "audio-ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int audio_ring_init(struct audio_ring *r, size_t cap)
{
        memset(r, 0, sizeof(*r));
        r->cap = cap & ~(size_t)3;
        r->buf = malloc(r->cap ? r->cap : 4);
        if (!r->buf)
                return -ENOMEM;
        pthread_mutex_init(&r->lock, NULL);
        return 0;
}

void audio_ring_destroy(struct audio_ring *r)
{
        if (!r->buf)
                return;
        free(r->buf);
        r->buf = NULL;
        pthread_mutex_destroy(&r->lock);
}

static size_t frame_bytes(const struct hda_pcm_format *f)
{
        return f->channels ? f->channels * 2u : 2u;
}

static void drop_oldest(struct audio_ring *r, size_t n)
{
        if (n > r->len)
                n = r->len;
        r->head = (r->head + n) % r->cap;
        r->len -= n;
        r->dropped += n;
}

void audio_ring_push(struct audio_ring *r, const struct hda_pcm_format *f, const uint8_t *pcm, size_t len)
{
        pthread_mutex_lock(&r->lock);
        if (memcmp(f, &r->fmt, sizeof(*f)) != 0) {
                drop_oldest(r, r->len);
                r->fmt = *f;
        }
        if (len > r->cap) { /* keep the newest cap bytes, whole frames */
                size_t skip = (len - r->cap + frame_bytes(f) - 1) / frame_bytes(f) * frame_bytes(f);
                pcm += skip;
                len -= skip;
        }
        if (r->len + len > r->cap) {
                size_t over = r->len + len - r->cap;
                drop_oldest(r, (over + frame_bytes(f) - 1) / frame_bytes(f) * frame_bytes(f));
        }
        for (size_t done = 0; done < len;) {
                size_t tail = (r->head + r->len) % r->cap, n = r->cap - tail;
                if (n > len - done)
                        n = len - done;
                memcpy(r->buf + tail, pcm + done, n);
                r->len += n;
                done += n;
        }
        pthread_mutex_unlock(&r->lock);
}

size_t audio_ring_pop(struct audio_ring *r, struct hda_pcm_format *f, uint8_t *out, size_t max)
{
        size_t n, done = 0;

        pthread_mutex_lock(&r->lock);
        *f = r->fmt;
        n = r->len < max ? r->len : max;
        n -= n % frame_bytes(&r->fmt);
        while (done < n) {
                size_t chunk = r->cap - r->head < n - done ? r->cap - r->head : n - done;
                memcpy(out + done, r->buf + r->head, chunk);
                r->head = (r->head + chunk) % r->cap;
                r->len -= chunk;
                done += chunk;
        }
        pthread_mutex_unlock(&r->lock);
        return n;
}
