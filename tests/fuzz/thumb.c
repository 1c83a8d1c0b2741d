/* libFuzzer target: vdi-vm's PPM screenshot as vdi-hostd reads it for
 * the admin console's thumbnail (hostd/thumb.c), through the PNG encoder
 * at a small box. */
#include "config.h"

#include <stdint.h>

#include "hostd/thumb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *err = NULL;
        struct thumb_ppm p;
        unsigned w, h;

        if (thumb_ppm_parse(data, size, &p, &err) < 0)
                return 0;
        /* Parsed pixels lie inside the input. */
        if (p.pixels < data || (size_t)(p.pixels - data) + (size_t)p.width * p.height * 3 > size)
                __builtin_trap();
        GByteArray *png = g_byte_array_new();
        if (thumb_png(&p, 64, 48, png, &w, &h, &err) == 0 && (w > 64 || h > 48 || !png->len))
                __builtin_trap();
        g_byte_array_unref(png);
        return 0;
}
