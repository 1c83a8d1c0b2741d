/* LeakSanitizer suppression for programs that load GStreamer through the
 * SPICE client or server (tests/spice, bench/display-spice): GLib drops its
 * first quark block, allocated by its library constructor, on purpose when
 * the quark table grows past it (GStreamer's plugins register thousands).
 * Matching it by function needs full stacks: tests/rdp/lsan-unwind.c is
 * linked in too. */
#include "config.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
        return "leak:_dl_init\n";
}
