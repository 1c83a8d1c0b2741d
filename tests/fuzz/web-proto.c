/* libFuzzer target: the web display protocol's inbound parser
 * (protocols/web/proto.c) and its KeyboardEvent.code table, on hostile
 * client messages. Every byte a parsed message points to is read (so ASan
 * sees any pointer outside the input), and what the parser promises is
 * checked: bounded tickets and sizes, UTF-8 clipboard without NUL. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/web/proto.h"

static volatile uint8_t sink;

static void touch(const void *p, size_t n)
{
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                sink ^= b[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A copy of exactly size bytes: ASan catches a read past the end. */
        uint8_t *copy = malloc(size ? size : 1);
        struct web_in_msg m;
        const char *why = NULL;

        if (!copy)
                return 0;
        memcpy(copy, data, size);
        if (web_in_parse(copy, size, &m, &why) == 0) {
                switch (m.type) {
                case WEB_IN_HELLO:
                        if (m.u.hello.ticket_len == 0 || m.u.hello.ticket_len > WEB_MAX_TICKET)
                                abort();
                        touch(m.u.hello.ticket, m.u.hello.ticket_len);
                        break;
                case WEB_IN_CLIPBOARD:
                        if (m.u.clipboard.len != size - 1 || memchr(m.u.clipboard.text, 0, m.u.clipboard.len))
                                abort();
                        touch(m.u.clipboard.text, m.u.clipboard.len);
                        break;
                case WEB_IN_RESIZE:
                        if (!m.u.resize.width || m.u.resize.width > WEB_MAX_DIMENSION)
                                abort();
                        break;
                case WEB_IN_POINTER:
                        if (m.u.pointer.buttons & ~7u)
                                abort();
                        break;
                default:
                        break;
                }
        } else if (!why) {
                abort(); /* every refusal says why */
        }
        (void)web_keycode_to_evdev((const char *)copy, size);
        free(copy);
        return 0;
}
