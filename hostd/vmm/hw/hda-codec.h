/* The duplex codec behind our HD Audio controller (Intel High Definition
 * Audio spec 1.0a, chapter 7): one audio function group with an output
 * converter (DAC) feeding a line-out pin and an input converter (ADC) fed
 * by a microphone pin, no amplifiers or mixers. Linux's generic codec
 * driver (snd_hda_codec_generic) and Windows' in-box driver bind to it.
 *
 * hda_codec_verb is the parser of the (guest-written) CORB commands: every
 * 32-bit command gets a 32-bit response, 0 for verbs or nodes we do not
 * have, as real codecs answer; those are counted in bad_verbs. Pure: no
 * locking, no I/O. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Node ids (7.3.3.x): root, audio function group, converters, pins. */
#define HDA_NID_ROOT 0x00
#define HDA_NID_AFG 0x01
#define HDA_NID_DAC 0x02
#define HDA_NID_ADC 0x03
#define HDA_NID_OUT_PIN 0x04
#define HDA_NID_MIC_PIN 0x05
#define HDA_NID_COUNT 6

/* A decoded stream format (3.7.1 / 7.3.3.8). */
struct hda_pcm_format {
        uint32_t rate;          /* 44100 or 48000 */
        uint8_t channels;       /* 1 or 2 */
        uint8_t bits;           /* 16 */
};

/* Decode a stream format word; only PCM S16 at 44.1/48 kHz, 1 or 2
 * channels is accepted (what the codec announces). 0 or -EINVAL. */
int hda_format_parse(uint16_t fmt, struct hda_pcm_format *out);

/* Bytes per second of f. */
uint32_t hda_format_rate_bytes(const struct hda_pcm_format *f);

/* A converter: the stream tag (1..15, 0: none) and channel it listens to,
 * and the format the driver programmed. */
struct hda_converter {
        uint8_t stream, channel;
        uint16_t format;
};

struct hda_codec {
        struct hda_converter dac, adc;
        uint8_t power[HDA_NID_COUNT];   /* D-state set per node */
        uint8_t pin_ctl[HDA_NID_COUNT]; /* pin widget control (7.3.3.13) */
        uint8_t unsol[HDA_NID_COUNT];   /* unsolicited response enable */
        uint8_t eapd;                   /* EAPD/BTL of the out pin */
        uint8_t subsys[4];              /* subsystem id, written bytewise */
        uint64_t bad_verbs;             /* verbs answered with 0: unknown verb or node */
};

/* Power-on / function-group reset state. */
void hda_codec_reset(struct hda_codec *c);

/* Execute one command (codec address bits already removed by the
 * controller are ignored here): returns the response. */
uint32_t hda_codec_verb(struct hda_codec *c, uint32_t cmd);
