/* The "disks" section (SNAPSHOT.md): pure code, fuzzed with the format. */
#include "config.h"

#include <string.h>

#include "disks.h"

void snap_disks_save(const struct snap_disks *p, struct state_writer *w)
{
        state_begin(w, "disks");
        state_put_u32(w, p->n);
        for (unsigned i = 0; i < p->n; i++) {
                state_put_u8(w, p->captured[i]);
                state_put_u64(w, p->size[i]);
        }
        state_end(w);
}

int snap_disks_load(const struct state_file *f, struct snap_disks *out, struct vm_err *err)
{
        struct state_reader r;
        int ret = state_section_reader(f, "disks", &r, err);

        if (ret < 0)
                return ret;
        memset(out, 0, sizeof(*out));
        out->n = state_get_u32(&r);
        if (out->n > VM_MAX_DISKS) {
                state_reader_fail(&r, "%u disks (at most %d)", out->n, VM_MAX_DISKS);
                out->n = 0;
        }
        for (unsigned i = 0; i < out->n && state_reader_ok(&r); i++) {
                uint8_t c = state_get_u8(&r);
                out->size[i] = state_get_u64(&r);
                if (c > 1)
                        state_reader_fail(&r, "disk %u: captured flag %u", i, c);
                out->captured[i] = c == 1;
        }
        return state_reader_done(&r, err);
}
