/* SPICE playback: what the display_source's audio_read yields goes to the
 * client's playback channel (libspice-server's playback interface; Opus
 * where client and library agree, raw PCM otherwise). The guest's rate is
 * passed on (the stream restarts when it changes); mono becomes stereo. */
#pragma once

#include <glib.h>
#include <spice.h>

#include "protocols/display.h"

struct spice_audio;

/* Register the playback interface on server (before spice_server_init
 * returns clients) and poll source every 10 ms on ctx. NULL with *err
 * (negative errno) on failure. */
struct spice_audio *spice_audio_new(SpiceServer *server, struct display_source source, GMainContext *ctx,
                                    int *err);
/* Stop and detach from the server (before spice_server_destroy). NULL ok. */
void spice_audio_free(struct spice_audio *a);
