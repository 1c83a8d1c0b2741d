/* The EDID 1.4 base block of a virtio-gpu head (VESA E-EDID A2): one
 * detailed timing, the head's size as the preferred mode, with CVT
 * reduced-blanking-like porches; a range-limits and a name descriptor.
 * Guests take the mode list from it and from GET_DISPLAY_INFO. */
#include "config.h"

#include <string.h>

#include "virtio-gpu-proto.h"

#define EDID_MAX_ACTIVE 4095          /* 12-bit fields of a detailed timing */
#define EDID_MAX_CLOCK_10KHZ 65535u   /* 16-bit pixel clock, 655.35 MHz */
#define DPI 96

static void put_dtd(uint8_t *d, uint32_t w, uint32_t h)
{
        /* CVT-RB: 160 pixels of horizontal blanking (48 front porch, 32
         * sync), at least 460 us of vertical blanking (3 front, 6 sync). */
        const uint32_t hblank = 160, hfp = 48, hsync = 32, vfp = 3, vsync = 6;
        uint32_t vblank = (h * 27600 + 972399) / 972400, refresh = 60;
        uint64_t htotal, vtotal, clock;
        uint32_t wmm = w * 254 / (DPI * 10), hmm = h * 254 / (DPI * 10);

        if (vblank < vfp + vsync + 6)
                vblank = vfp + vsync + 6;
        htotal = w + hblank;
        vtotal = h + vblank;
        /* Lower the refresh rate until the pixel clock fits the field. */
        while (refresh > 1 && htotal * vtotal * refresh > (uint64_t)EDID_MAX_CLOCK_10KHZ * 10000)
                refresh--;
        clock = htotal * vtotal * refresh / 10000;
        if (clock > EDID_MAX_CLOCK_10KHZ)
                clock = EDID_MAX_CLOCK_10KHZ;
        d[0] = (uint8_t)clock;
        d[1] = (uint8_t)(clock >> 8);
        d[2] = (uint8_t)w;
        d[3] = (uint8_t)hblank;
        d[4] = (uint8_t)((w >> 8) << 4 | hblank >> 8);
        d[5] = (uint8_t)h;
        d[6] = (uint8_t)vblank;
        d[7] = (uint8_t)((h >> 8) << 4 | (vblank >> 8 & 0xf));
        d[8] = (uint8_t)hfp;
        d[9] = (uint8_t)hsync;
        d[10] = (uint8_t)((vfp & 0xf) << 4 | (vsync & 0xf));
        d[11] = (uint8_t)((hfp >> 8) << 6 | (hsync >> 8) << 4 | (vfp >> 4) << 2 | vsync >> 4);
        d[12] = (uint8_t)wmm;
        d[13] = (uint8_t)hmm;
        d[14] = (uint8_t)((wmm >> 8) << 4 | (hmm >> 8 & 0xf));
        d[15] = 0;
        d[16] = 0;
        d[17] = 0x1a; /* digital separate sync, +hsync -vsync (reduced blanking) */
}

static void put_text(uint8_t *d, uint8_t tag, const char *s)
{
        size_t n = strlen(s);

        memset(d, 0, 5);
        d[3] = tag;
        memset(d + 5, ' ', 13);
        memcpy(d + 5, s, n > 12 ? 12 : n);
        if (n < 13)
                d[5 + n] = '\n';
}

void vgpu_make_edid(const struct vgpu_head *h, unsigned index, uint8_t out[128])
{
        static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
        /* sRGB primaries and white point (E-EDID 3.7) */
        static const uint8_t chroma[10] = { 0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54 };
        uint32_t w = h->enabled ? h->width : 1024, ht = h->enabled ? h->height : 768;
        uint32_t wcm, hcm;
        uint8_t sum = 0;

        if (w > EDID_MAX_ACTIVE)
                w = EDID_MAX_ACTIVE;
        if (ht > EDID_MAX_ACTIVE)
                ht = EDID_MAX_ACTIVE;
        if (w == 0)
                w = 1;
        if (ht == 0)
                ht = 1;
        wcm = (w * 254 / (DPI * 10) + 5) / 10;
        hcm = (ht * 254 / (DPI * 10) + 5) / 10;
        memset(out, 0, 128);
        memcpy(out, header, 8);
        /* Manufacturer "VDI" (compressed ASCII, big endian), product 1. */
        out[8] = (uint8_t)((('V' - '@') << 2) | (('D' - '@') >> 3));
        out[9] = (uint8_t)((('D' - '@') << 5) | ('I' - '@'));
        out[10] = 1;
        out[12] = (uint8_t)index;
        out[16] = 0;            /* week unspecified */
        out[17] = 2024 - 1990;  /* year of manufacture */
        out[18] = 1;
        out[19] = 4;            /* EDID 1.4 */
        out[20] = 0xa0;         /* digital, 8 bits per colour */
        out[21] = (uint8_t)(wcm ? (wcm > 255 ? 255 : wcm) : 1);
        out[22] = (uint8_t)(hcm ? (hcm > 255 ? 255 : hcm) : 1);
        out[23] = 120;          /* gamma 2.2 */
        out[24] = 0x06;         /* RGB 4:4:4, sRGB default, preferred timing is native */
        memcpy(out + 25, chroma, sizeof(chroma));
        out[35] = 0x21;         /* 640x480@60, 800x600@60 */
        out[36] = 0x08;         /* 1024x768@60 */
        for (unsigned i = 38; i < 54; i++)
                out[i] = 1;     /* no standard timings */
        put_dtd(out + 54, w, ht);
        /* Range limits: 1-75 Hz vertical, 1-255 kHz horizontal, 660 MHz. */
        out[75] = 0xfd;
        out[77] = 1;
        out[78] = 75;
        out[79] = 1;
        out[80] = 255;
        out[81] = 66;
        out[82] = 0x01;         /* range limits only */
        out[83] = '\n';
        memset(out + 84, ' ', 6);
        put_text(out + 90, 0xfc, "VDI Virtual");
        out[111] = 0x10;        /* dummy descriptor */
        out[126] = 0;           /* no extensions */
        for (unsigned i = 0; i < 127; i++)
                sum = (uint8_t)(sum + out[i]);
        out[127] = (uint8_t)(0x100 - sum);
}
