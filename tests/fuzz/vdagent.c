/* libFuzzer target: the guest agent's stream (protocols/agent/vdagent.c).
 * The input is fed in pieces whose sizes come from the input itself;
 * every message delivered goes through the clipboard parsers (with and
 * without selection headers). A reader that refused the stream is reset
 * and fed on, as vdi-vm would after resetting the port. First the input
 * is framed as a message and must read back unchanged. */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/agent/vdagent.h"

struct echo {
        const uint8_t *want;
        size_t len;
        int seen;
};

static void on_echo(void *opaque, const struct vdagent_msg *m)
{
        struct echo *e = opaque;

        assert(m->type == 4 && m->size == e->len && memcmp(m->data, e->want, e->len) == 0);
        e->seen++;
}

static void on_msg(void *opaque, const struct vdagent_msg *m)
{
        uint32_t types[8], type, len;
        const uint8_t *data;
        unsigned n;

        (void)opaque;
        assert(m->size <= VDAGENT_MSG_MAX);
        for (int sel = 0; sel < 2; sel++) {
                if (vdagent_parse_grab(m, sel, types, 8, &n) == 0)
                        assert(n <= 8);
                vdagent_parse_request(m, sel, &type);
                if (vdagent_parse_clipboard(m, sel, &type, &data, &len) == 0)
                        assert(data >= m->data && data + len <= m->data + m->size);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vdagent_reader r = { 0 };
        struct echo e = { data, size > 6000 ? 6000 : size, 0 };
        uint8_t *framed;
        size_t flen;

        /* What we frame for the guest reads back whole. */
        if (vdagent_frame(4, e.want, e.len, &framed, &flen) == 0) {
                for (size_t off = 0; off < flen; off += 333)
                        assert(vdagent_reader_feed(&r, framed + off, flen - off < 333 ? flen - off : 333, on_echo,
                                                   &e) == 0);
                assert(e.seen == 1);
                free(framed);
        }
        vdagent_reader_reset(&r);
        while (size) {
                size_t piece = 1 + data[0] % 64;
                if (piece > size)
                        piece = size;
                if (vdagent_reader_feed(&r, data, piece, on_msg, NULL) < 0)
                        vdagent_reader_reset(&r);
                data += piece, size -= piece;
        }
        vdagent_reader_reset(&r);
        return 0;
}
