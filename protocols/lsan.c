/* LeakSanitizer suppressions for programs that run the RDP or SPICE server
 * or their client libraries (vdi-vm, tests/rdp, tests/spice, tests/e2e,
 * the display benches): compiled into each such program (the runtime looks
 * the function up by name; without sanitizers it is never called). */
#include "config.h"

/* Leaks inside FreeRDP 2.11.7 / winpr that no caller can free, suppressed
 * for every program linking this client (tests and bench run with LSan):
 * - tls_accept: the server reads the certificate and key with
 *   PEM_read_bio_* and never drops its own references;
 * - winpr's NTLM server side: ntlm_ContextFree never frees the SAM file
 *   path it _strdup'ed from SECPKG_ATTR_AUTH_NTLM_SAM_FILE, and the SAM
 *   lookup leaks small entry buffers (no symbols: static functions).
 * With ASan's default fast unwinder a stack stops inside libcrypto (no
 * frame pointers there), so the tls_accept leaks can only be matched by
 * module. Neither we nor the client allocate OpenSSL objects directly.
 * - GLib's quark table: its first block, allocated by the library
 *   constructor, is dropped on purpose when it grows (GStreamer registers
 *   thousands of quarks).
 * - spice-client-glib (test clients only): now and then a channel object of
 *   a session torn down at exit (88 bytes, seen once in ~10 runs).
 * The peer identity FreeRDP copies and never frees is freed in peer.c.
 * The last needs full stacks (protocols/lsan-unwind.c): the long-running
 * programs that load GStreamer's many quarks link that too. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
        return "leak:tls_accept\n"
               "leak:libcrypto.so\n"
               "leak:libwinpr2.so\n"
               "leak:_dl_init\n"
               "leak:libspice-client-glib-2.0.so\n";
}
