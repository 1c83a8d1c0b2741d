/* The web session's H.264 encoder thread: see video.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "protocols/encode/h264enc.h"
#include "video.h"

struct job {
        struct display_surface surf;
        uint32_t frame;
        bool keyframe, quit;
};

struct web_video {
        gint refs;              /* the session's and each result's on its way */
        GMainContext *ctx;
        char *element;
        web_video_done done;
        void *opaque;
        bool dead;              /* ctx thread only: the session let go */
        bool busy;              /* ctx thread only: a job is out */
        GAsyncQueue *jobs;
        GThread *thread;
        struct h264enc *enc;    /* encoder thread only */
        uint32_t width, height; /* of enc */
};

struct result {
        struct web_video *v;
        uint32_t frame;
        GBytes *msg;
        size_t picture_bytes;
        int err;
};

static void video_unref(struct web_video *v)
{
        if (!g_atomic_int_dec_and_test(&v->refs))
                return;
        h264enc_free(v->enc);
        g_async_queue_unref(v->jobs);
        g_main_context_unref(v->ctx);
        g_free(v->element);
        g_free(v);
}

static gboolean deliver(gpointer data)
{
        struct result *r = data;
        struct web_video *v = r->v;

        if (!v->dead) {
                v->busy = false;
                v->done(v->opaque, r->frame, r->msg, r->picture_bytes, r->err);
        }
        if (r->msg)
                g_bytes_unref(r->msg);
        video_unref(v);
        g_free(r);
        return G_SOURCE_REMOVE;
}

static int encode(struct web_video *v, const struct job *j, struct result *r)
{
        struct h264enc_frame f;
        uint8_t hdr[WEB_VIDEO_HDR_LEN];
        GByteArray *a;
        int e;

        if (!v->enc || v->width != j->surf.width || v->height != j->surf.height) {
                struct h264enc_config ec = { .width = j->surf.width, .height = j->surf.height,
                                             .element = v->element };
                g_autofree char *msg = NULL;

                g_clear_pointer(&v->enc, h264enc_free);
                e = h264enc_new(&ec, &v->enc, &msg);
                if (e < 0) {
                        log_warning("web_h264_unavailable", "error=\"%s\" effect=\"PNG tiles\"",
                                    msg ? msg : strerror(-e));
                        return -ENOENT;
                }
                v->width = j->surf.width;
                v->height = j->surf.height;
        }
        e = h264enc_encode(v->enc, j->surf.pixels, j->surf.stride, j->keyframe, &f);
        if (e < 0)
                return e;
        a = g_byte_array_sized_new((guint)(sizeof(hdr) + f.size));
        g_byte_array_append(a, hdr, (guint)web_out_video(hdr, j->frame, f.keyframe));
        g_byte_array_append(a, f.data, (guint)f.size);
        r->msg = g_byte_array_free_to_bytes(a);
        r->picture_bytes = f.size;
        return 0;
}

static gpointer encoder_thread(gpointer data)
{
        struct web_video *v = data;

        for (;;) {
                struct job *j = g_async_queue_pop(v->jobs);
                struct result *r;

                if (j->quit) {
                        g_free(j);
                        break;
                }
                r = g_new0(struct result, 1);
                r->v = v;
                r->frame = j->frame;
                r->err = encode(v, j, r);
                g_free(j);
                g_atomic_int_inc(&v->refs);
                g_main_context_invoke(v->ctx, deliver, r);
        }
        return NULL;
}

struct web_video *web_video_new(GMainContext *ctx, const char *element, web_video_done done, void *opaque)
{
        struct web_video *v = g_new0(struct web_video, 1);

        v->refs = 1;
        v->ctx = g_main_context_ref(ctx);
        v->element = g_strdup(element);
        v->done = done;
        v->opaque = opaque;
        v->jobs = g_async_queue_new();
        v->thread = g_thread_new("web-h264", encoder_thread, v);
        return v;
}

bool web_video_submit(struct web_video *v, const struct display_surface *surf, uint32_t frame,
                      bool keyframe)
{
        struct job *j;

        if (v->busy)
                return false;
        j = g_new0(struct job, 1);
        j->surf = *surf;
        j->frame = frame;
        j->keyframe = keyframe;
        v->busy = true;
        g_async_queue_push(v->jobs, j);
        return true;
}

void web_video_free(struct web_video *v)
{
        struct job *quit;

        if (!v)
                return;
        quit = g_new0(struct job, 1);
        quit->quit = true;
        g_async_queue_push(v->jobs, quit);
        g_thread_join(v->thread);
        /* Results already on their way to ctx find it dead and drop. */
        v->dead = true;
        video_unref(v);
}
