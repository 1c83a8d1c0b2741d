#include "config.h"

#include "hda-codec.h"

#include <errno.h>
#include <string.h>

/* Intel HDA spec 1.0a, 7.3.4: parameter ids for "Get Parameter" (F00). */
#define PAR_VENDOR_ID 0x00
#define PAR_REVISION_ID 0x02
#define PAR_NODE_COUNT 0x04
#define PAR_FG_TYPE 0x05
#define PAR_AFG_CAP 0x08
#define PAR_WIDGET_CAP 0x09
#define PAR_PCM 0x0a
#define PAR_STREAM 0x0b
#define PAR_PIN_CAP 0x0c
#define PAR_AMP_IN_CAP 0x0d
#define PAR_CONN_LEN 0x0e
#define PAR_POWER_STATES 0x0f
#define PAR_PROC_CAP 0x10
#define PAR_GPIO_CAP 0x11
#define PAR_AMP_OUT_CAP 0x12
#define PAR_VOL_KNOB_CAP 0x13

/* 7.3.4.6 audio widget capabilities */
#define WCAP_STEREO (1u << 0)
#define WCAP_FORMAT_OVERRIDE (1u << 4)
#define WCAP_CONN_LIST (1u << 8)
#define WCAP_POWER_CTL (1u << 10)
#define WCAP_TYPE_OUT (0x0u << 20)
#define WCAP_TYPE_IN (0x1u << 20)
#define WCAP_TYPE_PIN (0x4u << 20)

/* 7.3.4.7 PCM sizes and rates: 16 bit; 44.1 kHz (R6) and 48 kHz (R7). */
#define PCM_CAPS ((1u << 17) | (1u << 6) | (1u << 5))
#define STREAM_PCM 1u
/* 7.3.4.9 pin capabilities */
#define PINCAP_OUT (1u << 4)
#define PINCAP_IN (1u << 5)
/* 7.3.4.12 power states D0..D3 */
#define POWER_STATES 0xfu

/* 7.3.3.31 configuration default: jack, external rear, 1/8" connector;
 * line out green (association 1), mic in pink (association 2). */
#define CFG_LINE_OUT 0x01014010u
#define CFG_MIC_IN 0x01a19020u

#define VENDOR_ID 0x1af40e01u /* Red Hat PCI vendor, our own codec id */
#define REVISION_ID 0x00100100u

struct node {
        uint32_t wcap;
        uint32_t pincap;
        uint32_t config;
        uint8_t conn;           /* the single input connection, 0: none */
};

static const struct node nodes[HDA_NID_COUNT] = {
        [HDA_NID_DAC] = { .wcap = WCAP_TYPE_OUT | WCAP_STEREO | WCAP_FORMAT_OVERRIDE | WCAP_POWER_CTL },
        [HDA_NID_ADC] = { .wcap = WCAP_TYPE_IN | WCAP_STEREO | WCAP_FORMAT_OVERRIDE | WCAP_CONN_LIST |
                                  WCAP_POWER_CTL,
                          .conn = HDA_NID_MIC_PIN },
        [HDA_NID_OUT_PIN] = { .wcap = WCAP_TYPE_PIN | WCAP_STEREO | WCAP_CONN_LIST | WCAP_POWER_CTL,
                              .pincap = PINCAP_OUT, .config = CFG_LINE_OUT, .conn = HDA_NID_DAC },
        [HDA_NID_MIC_PIN] = { .wcap = WCAP_TYPE_PIN | WCAP_STEREO | WCAP_POWER_CTL,
                              .pincap = PINCAP_IN, .config = CFG_MIC_IN },
};

int hda_format_parse(uint16_t fmt, struct hda_pcm_format *out)
{
        unsigned base = fmt >> 14 & 1, mult = fmt >> 11 & 7, div = fmt >> 8 & 7, bits = fmt >> 4 & 7;
        unsigned chans = (fmt & 0xf) + 1u;

        /* 3.7.1: bit 15 set is a non-PCM stream; mult/div other than x1
         * and bit sizes other than 16 are rates and sizes we do not offer. */
        if ((fmt & 0x8000) || mult || div || bits != 1 || chans > 2)
                return -EINVAL;
        *out = (struct hda_pcm_format){ .rate = base ? 44100 : 48000, .channels = (uint8_t)chans, .bits = 16 };
        return 0;
}

uint32_t hda_format_rate_bytes(const struct hda_pcm_format *f)
{
        return f->rate * f->channels * (f->bits / 8u);
}

void hda_codec_reset(struct hda_codec *c)
{
        uint64_t bad = c->bad_verbs;

        memset(c, 0, sizeof(*c));
        c->bad_verbs = bad;
        c->dac.format = c->adc.format = 0x0011; /* 48 kHz, 16 bit, stereo */
        c->subsys[0] = 0x01;
        c->subsys[2] = 0xf4;
        c->subsys[3] = 0x1a; /* 0x1af40001, little-endian bytes */
}

static uint32_t get_parameter(unsigned nid, unsigned par, bool *ok)
{
        const struct node *n = &nodes[nid];

        if (nid == HDA_NID_ROOT) {
                switch (par) {
                case PAR_VENDOR_ID: return VENDOR_ID;
                case PAR_REVISION_ID: return REVISION_ID;
                case PAR_NODE_COUNT: return (uint32_t)HDA_NID_AFG << 16 | 1;
                }
        } else if (nid == HDA_NID_AFG) {
                switch (par) {
                case PAR_NODE_COUNT: return (uint32_t)HDA_NID_DAC << 16 | (HDA_NID_COUNT - HDA_NID_DAC);
                case PAR_FG_TYPE: return 0x01; /* audio function group */
                case PAR_AFG_CAP: return 0;
                case PAR_PCM: return PCM_CAPS;
                case PAR_STREAM: return STREAM_PCM;
                case PAR_POWER_STATES: return POWER_STATES;
                case PAR_AMP_IN_CAP: case PAR_AMP_OUT_CAP: case PAR_GPIO_CAP: return 0;
                }
        } else {
                switch (par) {
                case PAR_WIDGET_CAP: return n->wcap;
                case PAR_PCM: return n->pincap ? 0 : PCM_CAPS;
                case PAR_STREAM: return n->pincap ? 0 : STREAM_PCM;
                case PAR_PIN_CAP: return n->pincap;
                case PAR_CONN_LEN: return n->conn ? 1 : 0;
                case PAR_POWER_STATES: return POWER_STATES;
                case PAR_AMP_IN_CAP: case PAR_AMP_OUT_CAP: case PAR_PROC_CAP: case PAR_VOL_KNOB_CAP: return 0;
                }
        }
        *ok = false;
        return 0;
}

static struct hda_converter *converter(struct hda_codec *c, unsigned nid)
{
        return nid == HDA_NID_DAC ? &c->dac : nid == HDA_NID_ADC ? &c->adc : NULL;
}

/* 4-bit verbs with a 16-bit payload (7.3.3.8, .7, .3, .4). */
static uint32_t verb4(struct hda_codec *c, unsigned nid, unsigned verb, uint16_t payload, bool *ok)
{
        struct hda_converter *cv = converter(c, nid);

        switch (verb) {
        case 0x2: /* set converter format */
                if (!cv)
                        break;
                cv->format = payload;
                return 0;
        case 0xa: /* get converter format */
                if (!cv)
                        break;
                return cv->format;
        case 0x3: case 0xb: /* amplifier gain/mute: we have no amplifiers */
        case 0x4: case 0x5: case 0xc: case 0xd: /* coefficients: none */
                return 0;
        }
        *ok = false;
        return 0;
}

/* Verbs that read or write one per-node byte. */
static uint32_t node_byte(uint8_t *b, bool set, uint8_t payload)
{
        if (set)
                *b = payload;
        return set ? 0 : *b;
}

static uint32_t verb12(struct hda_codec *c, unsigned nid, unsigned verb, uint8_t payload, bool *ok)
{
        struct hda_converter *cv = converter(c, nid);
        bool set = (verb & 0xf00) == 0x700;
        unsigned id = verb & 0xff;

        if (verb == 0xf00)
                return get_parameter(nid, payload, ok);
        if (nid == HDA_NID_ROOT)
                goto bad;
        switch (id) {
        case 0x01: /* connection select: one connection, index 0 */
                if (nodes[nid].conn)
                        return 0;
                break;
        case 0x02: /* connection list entry, payload = first index */
                if (!set && nodes[nid].conn)
                        return payload == 0 ? nodes[nid].conn : 0;
                break;
        case 0x05: /* power state: actual (7:4) follows set (3:0) */
                if (set) {
                        c->power[nid] = payload & 0x3;
                        return 0;
                }
                return (uint32_t)c->power[nid] << 4 | c->power[nid];
        case 0x06: /* converter stream and channel */
                if (!cv)
                        break;
                if (set) {
                        cv->stream = payload >> 4;
                        cv->channel = payload & 0xf;
                        return 0;
                }
                return (uint32_t)cv->stream << 4 | cv->channel;
        case 0x07: /* pin widget control */
                if (!nodes[nid].pincap)
                        break;
                return node_byte(&c->pin_ctl[nid], set, payload);
        case 0x08: /* unsolicited response */
                return node_byte(&c->unsol[nid], set, payload);
        case 0x09: /* pin sense: no presence detect, nothing to report */
                if (!nodes[nid].pincap)
                        break;
                return 0;
        case 0x0c: /* EAPD/BTL enable */
                if (nid != HDA_NID_OUT_PIN)
                        break;
                return node_byte(&c->eapd, set, payload);
        case 0x1c: /* configuration default */
                if (set || !nodes[nid].pincap)
                        break;
                return nodes[nid].config;
        case 0x20: case 0x21: case 0x22: case 0x23: /* subsystem id (AFG) */
                if (nid != HDA_NID_AFG)
                        break;
                if (set) {
                        c->subsys[id - 0x20] = payload;
                        return 0;
                }
                return (uint32_t)c->subsys[0] | c->subsys[1] << 8 | c->subsys[2] << 16 | (uint32_t)c->subsys[3] << 24;
        case 0xff: /* function group reset (7FF) */
                if (set && nid == HDA_NID_AFG) {
                        hda_codec_reset(c);
                        return 0;
                }
                break;
        }
bad:
        *ok = false;
        return 0;
}

uint32_t hda_codec_verb(struct hda_codec *c, uint32_t cmd)
{
        unsigned nid = cmd >> 20 & 0x7f, verb = cmd >> 8 & 0xfff;
        bool ok = true;
        uint32_t resp = 0;

        /* 7.3.2: bit 27 asks for indirect node ids, which we do not use. */
        if ((cmd & (1u << 27)) || nid >= HDA_NID_COUNT)
                ok = false;
        else if ((verb & 0xf00) == 0x700 || (verb & 0xf00) == 0xf00)
                resp = verb12(c, nid, verb, (uint8_t)cmd, &ok);
        else
                resp = verb4(c, nid, cmd >> 16 & 0xf, (uint16_t)cmd, &ok);
        if (!ok) {
                c->bad_verbs++;
                return 0;
        }
        return resp;
}
