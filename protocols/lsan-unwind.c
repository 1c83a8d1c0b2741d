/* Full stack unwinding on malloc for LeakSanitizer, so suppressions in
 * lsan.c can match by function (GLib's quark table, allocated from its
 * library constructor) and not only by module. Slower mallocs (sanitizer
 * builds only): linked into the programs that load GStreamer, next to lsan.c. */
#include "config.h"

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "fast_unwind_on_malloc=0:malloc_context_size=16:print_suppressions=0";
}
