/* Snapshot state of the HD Audio card (SNAPSHOT.md "dev.hda"): every
 * guest-visible register of the controller, the streams' positions and the
 * codec's settings. Running streams restart their clock at load; samples
 * in flight in the host's audio path are not part of it. */
#include "config.h"

#include "hda.h"
#include "state.h"

#define HDA_STATE_VERSION 1

static void put_codec(struct state_writer *w, const struct hda_codec *c)
{
        const struct hda_converter *cv[2] = { &c->dac, &c->adc };

        for (unsigned i = 0; i < 2; i++) {
                state_put_u8(w, cv[i]->stream);
                state_put_u8(w, cv[i]->channel);
                state_put_u16(w, cv[i]->format);
        }
        state_put_bytes(w, c->power, sizeof(c->power));
        state_put_bytes(w, c->pin_ctl, sizeof(c->pin_ctl));
        state_put_bytes(w, c->unsol, sizeof(c->unsol));
        state_put_u8(w, c->eapd);
        state_put_bytes(w, c->subsys, sizeof(c->subsys));
}

static void put_stream(struct state_writer *w, const struct hda_stream *s)
{
        state_put_u32(w, s->ctl);
        state_put_u8(w, s->sts);
        state_put_u32(w, s->cbl);
        state_put_u16(w, s->lvi);
        state_put_u16(w, s->fmt);
        state_put_u32(w, s->bdpl);
        state_put_u32(w, s->bdpu);
        state_put_u16(w, s->pos.entry);
        state_put_u32(w, s->pos.off);
        state_put_u32(w, s->pos.lpib);
}

static int hda_save(void *dev, struct state_writer *w)
{
        struct hda *h = dev;

        pthread_mutex_lock(&h->lock);
        state_put_u8(w, HDA_STATE_VERSION);
        put_codec(w, &h->codec);
        state_put_u32(w, h->gctl);
        state_put_u32(w, h->intctl);
        state_put_u16(w, h->wakeen);
        state_put_u16(w, h->statests);
        state_put_u32(w, h->corb_lbase);
        state_put_u32(w, h->corb_ubase);
        state_put_u32(w, h->rirb_lbase);
        state_put_u32(w, h->rirb_ubase);
        state_put_u16(w, h->corb_wp);
        state_put_u16(w, h->corb_rp);
        state_put_u16(w, h->rirb_wp);
        state_put_u16(w, h->rintcnt);
        state_put_u8(w, h->corb_ctl);
        state_put_u8(w, h->corb_sts);
        state_put_u8(w, h->rirb_ctl);
        state_put_u8(w, h->rirb_sts);
        state_put_u8(w, h->corb_rp_reset);
        state_put_u32(w, h->rirb_pending);
        state_put_u32(w, h->icoi);
        state_put_u32(w, h->icii);
        state_put_u16(w, h->icis);
        state_put_u32(w, h->dplbase);
        state_put_u32(w, h->dpubase);
        for (unsigned n = 0; n < HDA_STREAMS; n++)
                put_stream(w, &h->sd[n]);
        pthread_mutex_unlock(&h->lock);
        return 0;
}

static void get_codec(struct state_reader *r, struct hda_codec *c)
{
        struct hda_converter *cv[2] = { &c->dac, &c->adc };

        for (unsigned i = 0; i < 2; i++) {
                cv[i]->stream = state_get_u8(r);
                cv[i]->channel = state_get_u8(r);
                cv[i]->format = state_get_u16(r);
                if (cv[i]->stream > 15 || cv[i]->channel > 15)
                        state_reader_fail(r, "converter %u: stream %u channel %u out of range", i, cv[i]->stream,
                                          cv[i]->channel);
        }
        state_get_bytes(r, c->power, sizeof(c->power));
        state_get_bytes(r, c->pin_ctl, sizeof(c->pin_ctl));
        state_get_bytes(r, c->unsol, sizeof(c->unsol));
        c->eapd = state_get_u8(r);
        state_get_bytes(r, c->subsys, sizeof(c->subsys));
        for (unsigned i = 0; i < HDA_NID_COUNT; i++)
                if (c->power[i] > 3)
                        state_reader_fail(r, "node %u: power state D%u", i, c->power[i]);
}

static void get_stream(struct state_reader *r, unsigned n, struct hda_stream *s)
{
        s->ctl = state_get_u32(r);
        s->sts = state_get_u8(r);
        s->cbl = state_get_u32(r);
        s->lvi = state_get_u16(r);
        s->fmt = state_get_u16(r);
        s->bdpl = state_get_u32(r);
        s->bdpu = state_get_u32(r);
        s->pos.entry = state_get_u16(r);
        s->pos.off = state_get_u32(r);
        s->pos.lpib = state_get_u32(r);
        if (s->ctl > 0xffffff || s->lvi >= HDA_BDL_MAX_ENTRIES || s->pos.entry >= HDA_BDL_MAX_ENTRIES)
                state_reader_fail(r, "stream %u: control 0x%x, last valid index %u or entry %u out of range", n,
                                  s->ctl, s->lvi, s->pos.entry);
}

/* Parse into h (a scratch copy: nothing of the live device changes). */
static void hda_parse(struct state_reader *r, struct hda *h)
{
        uint8_t version = state_get_u8(r);

        if (state_reader_ok(r) && version != HDA_STATE_VERSION)
                state_reader_fail(r, "HD Audio state version %u, this vdi-vm knows %u", version, HDA_STATE_VERSION);
        get_codec(r, &h->codec);
        h->gctl = state_get_u32(r);
        h->intctl = state_get_u32(r);
        h->wakeen = state_get_u16(r);
        h->statests = state_get_u16(r);
        h->corb_lbase = state_get_u32(r);
        h->corb_ubase = state_get_u32(r);
        h->rirb_lbase = state_get_u32(r);
        h->rirb_ubase = state_get_u32(r);
        h->corb_wp = state_get_u16(r);
        h->corb_rp = state_get_u16(r);
        h->rirb_wp = state_get_u16(r);
        h->rintcnt = state_get_u16(r);
        h->corb_ctl = state_get_u8(r);
        h->corb_sts = state_get_u8(r);
        h->rirb_ctl = state_get_u8(r);
        h->rirb_sts = state_get_u8(r);
        h->corb_rp_reset = state_get_u8(r) != 0;
        h->rirb_pending = state_get_u32(r);
        h->icoi = state_get_u32(r);
        h->icii = state_get_u32(r);
        h->icis = state_get_u16(r);
        h->dplbase = state_get_u32(r);
        h->dpubase = state_get_u32(r);
        if (h->corb_wp >= HDA_RING_ENTRIES || h->corb_rp >= HDA_RING_ENTRIES || h->rirb_wp >= HDA_RING_ENTRIES ||
            h->rintcnt > 0xff || h->rirb_pending > 0xff)
                state_reader_fail(r, "CORB/RIRB pointers out of range");
        for (unsigned n = 0; n < HDA_STREAMS; n++)
                get_stream(r, n, &h->sd[n]);
}

static int hda_check(void *dev, struct state_reader *r, struct vm_err *err)
{
        static struct hda scratch; /* big: not on the stack; restores are not concurrent */

        (void)dev;
        hda_parse(r, &scratch);
        return state_reader_done(r, err);
}

static int hda_load(void *dev, struct state_reader *r, struct vm_err *err)
{
        static struct hda s;
        struct hda *h = dev;
        uint64_t now = hda_now_ns();
        int ret;

        hda_parse(r, &s);
        ret = state_reader_done(r, err);
        if (ret < 0)
                return ret;
        pthread_mutex_lock(&h->lock);
        h->codec = s.codec;
        h->gctl = s.gctl;
        h->intctl = s.intctl;
        h->wakeen = s.wakeen;
        h->statests = s.statests;
        h->corb_lbase = s.corb_lbase;
        h->corb_ubase = s.corb_ubase;
        h->rirb_lbase = s.rirb_lbase;
        h->rirb_ubase = s.rirb_ubase;
        h->corb_wp = s.corb_wp;
        h->corb_rp = s.corb_rp;
        h->rirb_wp = s.rirb_wp;
        h->rintcnt = s.rintcnt;
        h->corb_ctl = s.corb_ctl;
        h->corb_sts = s.corb_sts;
        h->rirb_ctl = s.rirb_ctl;
        h->rirb_sts = s.rirb_sts;
        h->corb_rp_reset = s.corb_rp_reset;
        h->rirb_pending = s.rirb_pending;
        h->icoi = s.icoi;
        h->icii = s.icii;
        h->icis = s.icis;
        h->dplbase = s.dplbase;
        h->dpubase = s.dpubase;
        for (unsigned n = 0; n < HDA_STREAMS; n++) {
                h->sd[n] = s.sd[n];
                h->sd[n].start_ns = now;
                h->sd[n].bytes = 0;
        }
        hda_resync(h);
        pthread_mutex_unlock(&h->lock);
        return 0;
}

const struct state_ops hda_state_ops = { .save = hda_save, .load = hda_load, .check = hda_check };
