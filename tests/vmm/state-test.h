/* Test helper for device snapshot state (tests/vmm/state.c, virtio.c):
 * save one device through its state_ops into a one-section state file,
 * parse the file back, optionally damage the section's bytes (what a bad
 * loader would see after the checksums passed), and load it into another
 * device. Returns what load returned. */
#pragma once

#include <stdlib.h>

#include "check-main.h"
#include "state.h"

static inline int state_round_trip(const struct state_ops *ops, void *from, void *to,
                                   void (*damage)(uint8_t *, size_t), struct vm_err *err)
{
        struct state_writer w;
        struct state_file f;
        struct state_reader r;
        uint8_t *buf;
        size_t len;
        int ret;

        state_writer_init(&w);
        state_begin(&w, "dev");
        ck_assert_int_eq(ops->save(from, &w), 0);
        state_end(&w);
        ck_assert_int_eq(state_writer_finish(&w, &buf, &len), 0);
        ck_assert_int_eq(state_file_parse(buf, len, &f, err), 0);
        if (damage)
                damage((uint8_t *)f.sec[0].data, (size_t)f.sec[0].len);
        state_reader_init(&r, &f.sec[0]);
        ret = ops->load(to, &r, err);
        state_file_free(&f);
        free(buf);
        return ret;
}
