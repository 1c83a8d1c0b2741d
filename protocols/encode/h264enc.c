#include "config.h"

#include "h264enc.h"

#include <errno.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* One candidate encoder element: its factory, the raw format it takes and
 * the properties that make it low-latency, constant quality, no B-frames.
 * A value of "$qp" or "$gop" is replaced by the QP or the key interval. */
struct enc_prop {
        const char *name;
        const char *value; /* "$qp", "$gop" or a literal */
};

struct enc_candidate {
        const char *factory;
        const char *format;
        struct enc_prop props[8];
};

/* Hardware first: used when the element exists and the pipeline starts
 * (a VA-API element exists on machines without a usable GPU too; starting
 * the pipeline is the real test). */
static const struct enc_candidate candidates[] = {
        { "vah264lpenc", "NV12", { { "rate-control", "cqp" }, { "qpi", "$qp" }, { "qpp", "$qp" },
                                   { "key-int-max", "$gop" }, { "b-frames", "0" } } },
        { "vah264enc", "NV12", { { "rate-control", "cqp" }, { "qpi", "$qp" }, { "qpp", "$qp" },
                                 { "key-int-max", "$gop" }, { "b-frames", "0" } } },
        { "vaapih264enc", "NV12", { { "rate-control", "cqp" }, { "init-qp", "$qp" },
                                    { "keyframe-period", "$gop" }, { "max-bframes", "0" } } },
        { "nvh264enc", "NV12", { { "rc-mode", "constqp" }, { "qp-const", "$qp" },
                                 { "gop-size", "$gop" }, { "zerolatency", "true" },
                                 { "bframes", "0" } } },
        { "x264enc", "I420", { { "tune", "zerolatency" }, { "speed-preset", "ultrafast" },
                               { "pass", "qual" }, { "quantizer", "$qp" },
                               { "key-int-max", "$gop" }, { "bframes", "0" },
                               { "byte-stream", "true" }, { "b-adapt", "false" } } },
};

struct h264enc {
        GstElement *pipeline;
        GstAppSrc *src;
        GstAppSink *sink;
        GstPad *enc_src_pad;
        const char *factory;
        uint32_t width, height;   /* picture */
        uint32_t cwidth, cheight; /* coded, multiple of 16 */
        uint8_t *padded;          /* staging copy when the picture is not 16-aligned */
        uint64_t frame_no;
        GstSample *last;          /* holds the bytes handed out */
        GstMapInfo last_map;
};

static gpointer gst_init_once(gpointer unused)
{
        GError *err = NULL;
        if (!gst_init_check(NULL, NULL, &err)) {
                g_clear_error(&err);
                return GINT_TO_POINTER(-EIO);
        }
        return GINT_TO_POINTER(0);
}

static int ensure_gst(void)
{
        static GOnce once = G_ONCE_INIT;
        return GPOINTER_TO_INT(g_once(&once, gst_init_once, NULL));
}

static void set_props(GstElement *el, const struct enc_candidate *c, unsigned qp, unsigned gop)
{
        GObjectClass *klass = G_OBJECT_GET_CLASS(el);
        for (size_t i = 0; i < ARRAY_SIZE(c->props) && c->props[i].name; i++) {
                char buf[16];
                const char *v = c->props[i].value;
                if (!g_object_class_find_property(klass, c->props[i].name))
                        continue;
                if (strcmp(v, "$qp") == 0) {
                        snprintf(buf, sizeof(buf), "%u", qp);
                        v = buf;
                } else if (strcmp(v, "$gop") == 0) {
                        snprintf(buf, sizeof(buf), "%u", gop);
                        v = buf;
                }
                gst_util_set_object_arg(G_OBJECT(el), c->props[i].name, v);
        }
}

static void enc_release_last(struct h264enc *e)
{
        if (e->last) {
                GstBuffer *b = gst_sample_get_buffer(e->last);
                gst_buffer_unmap(b, &e->last_map);
                gst_sample_unref(e->last);
                e->last = NULL;
        }
}

void h264enc_free(struct h264enc *e)
{
        if (!e)
                return;
        enc_release_last(e);
        if (e->pipeline) {
                gst_element_set_state(e->pipeline, GST_STATE_NULL);
                gst_object_unref(e->pipeline);
        }
        if (e->enc_src_pad)
                gst_object_unref(e->enc_src_pad);
        free(e->padded);
        free(e);
}

/* Build the pipeline around one candidate and bring it to PLAYING. */
static int try_candidate(struct h264enc *e, const struct enc_candidate *c, unsigned qp, unsigned gop)
{
        GstElement *pipe = gst_pipeline_new("h264enc");
        GstElement *src = gst_element_factory_make("appsrc", NULL);
        GstElement *conv = gst_element_factory_make("videoconvert", NULL);
        GstElement *rawcaps = gst_element_factory_make("capsfilter", NULL);
        GstElement *enc = gst_element_factory_make(c->factory, NULL);
        GstElement *h264caps = gst_element_factory_make("capsfilter", NULL);
        GstElement *sink = gst_element_factory_make("appsink", NULL);
        GstCaps *caps;

        if (!pipe || !src || !conv || !rawcaps || !enc || !h264caps || !sink) {
                GstElement *all[] = { pipe, src, conv, rawcaps, enc, h264caps, sink };
                for (size_t i = 0; i < ARRAY_SIZE(all); i++)
                        if (all[i])
                                gst_object_unref(all[i]);
                return -ENOENT;
        }
        gst_bin_add_many(GST_BIN(pipe), src, conv, rawcaps, enc, h264caps, sink, NULL);

        /* A nominal 30 fps: with a variable rate (0/1) x264enc holds one frame back. */
        caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "BGRx", "width",
                                   G_TYPE_INT, (int)e->cwidth, "height", G_TYPE_INT,
                                   (int)e->cheight, "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
        g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp",
                     FALSE, NULL);
        gst_caps_unref(caps);
        /* RDP clients convert AVC420 back to RGB with BT.709 full-range
         * coefficients (MS-RDPEGFX; FreeRDP's primitives do the same), so
         * convert with exactly those: range 0-255, matrix/transfer/primaries 709. */
        caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, c->format,
                                   "colorimetry", G_TYPE_STRING, "1:3:5:1", NULL);
        g_object_set(rawcaps, "caps", caps, NULL);
        gst_caps_unref(caps);
        caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "byte-stream",
                                   "alignment", G_TYPE_STRING, "au", NULL);
        g_object_set(h264caps, "caps", caps, NULL);
        gst_caps_unref(caps);
        g_object_set(sink, "sync", FALSE, "max-buffers", 4, "drop", FALSE, NULL);
        set_props(enc, c, qp, gop);

        if (!gst_element_link_many(src, conv, rawcaps, enc, h264caps, sink, NULL) ||
            gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
                gst_element_set_state(pipe, GST_STATE_NULL);
                gst_object_unref(pipe);
                return -EIO;
        }
        e->pipeline = pipe;
        e->src = GST_APP_SRC(src);
        e->sink = GST_APP_SINK(sink);
        e->enc_src_pad = gst_element_get_static_pad(enc, "src");
        e->factory = c->factory;
        return 0;
}

int h264enc_new(const struct h264enc_config *cfg, struct h264enc **out, char **error)
{
        struct h264enc *e;
        unsigned qp = cfg->qp ? cfg->qp : 22, gop = cfg->key_int_max ? cfg->key_int_max : 300;
        GString *tried = g_string_new(NULL);
        int r = -ENOENT;

        if (error)
                *error = NULL;
        if (cfg->width == 0 || cfg->height == 0 || cfg->width > 8192 || cfg->height > 8192 ||
            qp > 51) {
                g_string_free(tried, TRUE);
                return -EINVAL;
        }
        if (ensure_gst() < 0) {
                g_string_free(tried, TRUE);
                return -EIO;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                g_string_free(tried, TRUE);
                return -ENOMEM;
        }
        e->width = cfg->width;
        e->height = cfg->height;
        e->cwidth = (cfg->width + 15) & ~15u;
        e->cheight = (cfg->height + 15) & ~15u;

        for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
                const struct enc_candidate *c = &candidates[i];
                GstElementFactory *f;
                if (cfg->element && strcmp(cfg->element, c->factory) != 0)
                        continue;
                f = gst_element_factory_find(c->factory);
                if (!f) {
                        g_string_append_printf(tried, "%s%s (not installed)", tried->len ? ", " : "",
                                               c->factory);
                        continue;
                }
                gst_object_unref(f);
                r = try_candidate(e, c, qp, gop);
                if (r == 0)
                        break;
                g_string_append_printf(tried, "%s%s (failed to start)", tried->len ? ", " : "",
                                       c->factory);
        }
        if (r < 0) {
                if (error)
                        *error = strdup(tried->len ? tried->str : "no candidate matched");
                g_string_free(tried, TRUE);
                h264enc_free(e);
                return r;
        }
        g_string_free(tried, TRUE);
        *out = e;
        return 0;
}

static void drain_bus_error(struct h264enc *e, int *r)
{
        GstBus *bus = gst_element_get_bus(e->pipeline);
        GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
        if (m) {
                *r = -EIO;
                gst_message_unref(m);
        }
        gst_object_unref(bus);
}

int h264enc_encode(struct h264enc *e, const uint8_t *pixels, uint32_t stride, bool force_key,
                   struct h264enc_frame *out)
{
        GstBuffer *buf;
        GstSample *sample;
        size_t csize = (size_t)e->cwidth * e->cheight * 4;
        int r = 0;

        enc_release_last(e);
        if (stride < e->width * 4)
                return -EINVAL;

        if (e->cwidth == e->width && e->cheight == e->height && stride == e->width * 4) {
                /* Zero copy: the frame is consumed before this call returns. */
                buf = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, (gpointer)pixels, csize,
                                                  0, csize, NULL, NULL);
        } else {
                if (!e->padded) {
                        e->padded = calloc(1, csize);
                        if (!e->padded)
                                return -ENOMEM;
                }
                /* Pad right and bottom by repeating the edge: cheaper to code than a
                 * hard border, and never shown (region rects stop at the picture). */
                for (uint32_t y = 0; y < e->cheight; y++) {
                        const uint8_t *s = pixels + (size_t)MIN(y, e->height - 1) * stride;
                        uint8_t *d = e->padded + (size_t)y * e->cwidth * 4;
                        memcpy(d, s, (size_t)e->width * 4);
                        for (uint32_t x = e->width; x < e->cwidth; x++)
                                memcpy(d + x * 4, s + (e->width - 1) * 4, 4);
                }
                buf = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, e->padded, csize, 0,
                                                  csize, NULL, NULL);
        }
        if (!buf)
                return -ENOMEM;
        /* A steady 30 fps clock: rate control only sees the spacing. */
        GST_BUFFER_PTS(buf) = e->frame_no * (GST_SECOND / 30);
        GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
        e->frame_no++;

        if (force_key)
                gst_pad_send_event(e->enc_src_pad,
                                   gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE,
                                                                               TRUE, 0));
        if (gst_app_src_push_buffer(e->src, buf) != GST_FLOW_OK)
                return -EIO;

        sample = gst_app_sink_try_pull_sample(e->sink, (e->frame_no == 1 ? 10 : 3) * GST_SECOND);
        if (!sample) {
                r = -ETIMEDOUT;
                drain_bus_error(e, &r);
                return r;
        }
        buf = gst_sample_get_buffer(sample);
        if (!buf || !gst_buffer_map(buf, &e->last_map, GST_MAP_READ)) {
                gst_sample_unref(sample);
                return -EIO;
        }
        e->last = sample;
        out->data = e->last_map.data;
        out->size = e->last_map.size;
        out->keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
        return 0;
}

const char *h264enc_element(const struct h264enc *e)
{
        return e->factory;
}

uint32_t h264enc_coded_width(const struct h264enc *e)
{
        return e->cwidth;
}

uint32_t h264enc_coded_height(const struct h264enc *e)
{
        return e->cheight;
}
