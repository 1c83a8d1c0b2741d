#include "config.h"

#include "audio-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_INPUT (64u << 20)

struct audio_file {
        int out_fd;
        uint8_t *in;
        size_t in_len, in_pos;
        struct hda_pcm_format last; /* playback format last logged */
};

static int read_input(struct audio_file *f, const char *path, struct vm_err *err)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        ssize_t n = 0;

        if (fd < 0)
                return vm_err_set(err, -errno, "--sound-in %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2 || st.st_size > MAX_INPUT) {
                close(fd);
                return vm_err_set(err, -EINVAL, "--sound-in %s: not a regular file of 2 bytes to 64 MiB", path);
        }
        f->in_len = (size_t)st.st_size & ~(size_t)1;
        f->in = malloc(f->in_len);
        for (size_t got = 0; f->in && got < f->in_len; got += (size_t)n) {
                n = read(fd, f->in + got, f->in_len - got);
                if (n <= 0)
                        break;
        }
        close(fd);
        if (!f->in || n <= 0)
                return vm_err_set(err, -EIO, "--sound-in %s: cannot read it", path);
        return 0;
}

int audio_file_open(const char *out_path, const char *in_path, struct audio_file **out, struct vm_err *err)
{
        struct audio_file *f = calloc(1, sizeof(*f));
        int r = 0;

        if (!f)
                return vm_err_set(err, -ENOMEM, "out of memory");
        f->out_fd = -1;
        if (out_path) {
                f->out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (f->out_fd < 0)
                        r = vm_err_set(err, -errno, "--sound-out %s: %s", out_path, strerror(errno));
        }
        if (r == 0 && in_path)
                r = read_input(f, in_path, err);
        if (r < 0) {
                audio_file_close(f);
                return r;
        }
        *out = f;
        return 0;
}

void audio_file_close(struct audio_file *f)
{
        if (!f)
                return;
        if (f->out_fd >= 0)
                close(f->out_fd);
        free(f->in);
        free(f);
}

static void play(void *opaque, const struct hda_pcm_format *fmt, const uint8_t *pcm, size_t len)
{
        struct audio_file *f = opaque;

        if (f->out_fd < 0)
                return;
        if (memcmp(fmt, &f->last, sizeof(*fmt)) != 0) {
                f->last = *fmt;
                log_event(LOG_LEVEL_NOTICE, "sound-out", "rate=%u channels=%u bits=%u", fmt->rate, fmt->channels,
                          fmt->bits);
        }
        while (len) {
                ssize_t n = write(f->out_fd, pcm, len);
                if (n <= 0) {
                        log_event(LOG_LEVEL_WARNING, "sound-out-failed", "error=\"%s\"", strerror(errno));
                        close(f->out_fd);
                        f->out_fd = -1;
                        return;
                }
                pcm += n;
                len -= (size_t)n;
        }
}

static void record(void *opaque, const struct hda_pcm_format *fmt, uint8_t *pcm, size_t len)
{
        struct audio_file *f = opaque;

        (void)fmt;
        if (!f->in_len) {
                memset(pcm, 0, len);
                return;
        }
        while (len) {
                size_t n = f->in_len - f->in_pos < len ? f->in_len - f->in_pos : len;
                memcpy(pcm, f->in + f->in_pos, n);
                pcm += n;
                len -= n;
                f->in_pos = (f->in_pos + n) % f->in_len;
        }
}

const struct hda_audio_ops audio_file_ops = { .play = play, .record = record };
