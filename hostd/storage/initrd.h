/* Which kernel modules an initramfs holds: newc cpio archives, possibly
 * several concatenated (early microcode first), each plain or compressed
 * with gzip or zstd. Untrusted input: sizes are bounded and checked. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INITRD_MAX_UNPACKED (1024u << 20)

/* Set found[i] when a file named names[i].ko (also .ko.xz/.zst/.gz) is in
 * the archives. Returns 0; -ENOTSUP with *what naming the compression
 * (static string) when part of it is compressed in a way we cannot read
 * (xz, lzma, lz4, bzip2): what was read before still counts; -EINVAL
 * when it is not an initramfs; -EFBIG past INITRD_MAX_UNPACKED. */
int initrd_find_modules(const uint8_t *data, size_t len, const char *const *names, unsigned n,
                        bool *found, const char **what);
