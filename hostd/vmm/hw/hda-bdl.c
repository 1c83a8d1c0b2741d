#include "config.h"

#include "hda-bdl.h"

#include <errno.h>
#include <string.h>

struct entry {
        uint64_t addr;
        uint32_t len;
        bool ioc;
};

static uint64_t le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static int read_entry(const struct vq_mem *mem, const struct hda_bdl *bdl, unsigned i, struct entry *e)
{
        const uint8_t *p;

        if (bdl->base > UINT64_MAX - (uint64_t)(i + 1) * HDA_BDL_ENTRY_SIZE)
                return -EFAULT;
        p = mem->translate(mem->opaque, bdl->base + (uint64_t)i * HDA_BDL_ENTRY_SIZE, HDA_BDL_ENTRY_SIZE);
        if (!p)
                return -EFAULT;
        e->addr = le(p, 8);
        e->len = (uint32_t)le(p + 8, 4);
        e->ioc = le(p + 12, 4) & 1;
        /* 3.6.3: lengths are whole 16-bit samples; zero is not allowed. */
        if (e->len == 0 || (e->len & 1))
                return -EINVAL;
        return 0;
}

long hda_bdl_transfer(const struct vq_mem *mem, const struct hda_bdl *bdl, struct hda_bdl_pos *pos, uint8_t *buf,
                      size_t len, bool to_guest, bool *ioc)
{
        size_t done = 0;

        if (bdl->lvi < 1 || bdl->lvi >= HDA_BDL_MAX_ENTRIES || bdl->cbl == 0)
                return -EINVAL;
        while (done < len) {
                struct entry e;
                uint8_t *host;
                size_t n;
                int r;

                if (pos->entry > bdl->lvi || pos->lpib >= bdl->cbl)
                        *pos = (struct hda_bdl_pos){ 0 };
                r = read_entry(mem, bdl, pos->entry, &e);
                if (r < 0)
                        return r;
                if (pos->off >= e.len) { /* the guest shortened the entry under us */
                        pos->off = 0;
                        pos->entry++;
                        continue;
                }
                n = e.len - pos->off;
                if (n > len - done)
                        n = len - done;
                if (n > bdl->cbl - pos->lpib)
                        n = bdl->cbl - pos->lpib;
                if (e.addr > UINT64_MAX - pos->off)
                        return -EFAULT;
                host = mem->translate(mem->opaque, e.addr + pos->off, n);
                if (!host)
                        return -EFAULT;
                if (to_guest)
                        memcpy(host, buf + done, n);
                else
                        memcpy(buf + done, host, n);
                done += n;
                pos->off += (uint32_t)n;
                pos->lpib += (uint32_t)n;
                if (pos->off == e.len) {
                        *ioc |= e.ioc;
                        pos->off = 0;
                        pos->entry++;
                }
                /* The cyclic buffer ends at CBL even where the list is longer. */
                if (pos->lpib == bdl->cbl)
                        *pos = (struct hda_bdl_pos){ 0 };
        }
        return (long)done;
}
