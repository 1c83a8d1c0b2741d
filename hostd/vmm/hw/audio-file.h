/* Sound card samples to and from files (vdi-vm --sound-out / --sound-in):
 * playback is appended to a file as raw interleaved S16LE in whatever
 * format the guest plays (the format is logged when it changes); capture
 * reads a raw S16LE file from its start, looping, and is silence without
 * one. For tests and recording; the display protocols carry audio to
 * clients otherwise. */
#pragma once

#include <stdint.h>

#include "err.h"
#include "hda.h"

struct audio_file;

/* Open out_path (created or truncated, may be NULL) and read all of
 * in_path (may be NULL; at most 64 MiB). 0 or negative errno + err. */
int audio_file_open(const char *out_path, const char *in_path, struct audio_file **out, struct vm_err *err);

/* Close and free; NULL is fine. */
void audio_file_close(struct audio_file *f);

/* The ops for hda_init, with the audio_file as opaque. */
extern const struct hda_audio_ops audio_file_ops;
