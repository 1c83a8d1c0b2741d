#!/bin/sh
# Short libFuzzer run over the initramfs scanner, seeded with small cpio
# archives (plain, gzip, zstd, concatenated) made here.
set -eu
top=${abs_top_builddir:?}
src=${abs_top_srcdir:?}
[ -x "$top/tests/fuzz/initrd-fuzz" ] || { echo "initrd-fuzz not built (no clang); skipping"; exit 77; }
seeds=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$seeds" "$work"' EXIT
if command -v cpio >/dev/null; then
    mkdir -p "$work/t/lib/modules/1/kernel"
    echo x > "$work/t/lib/modules/1/kernel/virtio_blk.ko"
    echo y > "$work/t/lib/modules/1/kernel/virtio_pci.ko.xz"
    (cd "$work/t" && find . | cpio -o -H newc --quiet) > "$seeds/plain.cpio"
    gzip -c < "$seeds/plain.cpio" > "$seeds/cpio.gz"
    command -v zstd >/dev/null && zstd -q -c < "$seeds/plain.cpio" > "$seeds/cpio.zst"
    cat "$seeds/plain.cpio" "$seeds/cpio.gz" > "$seeds/early+main"
fi
cd "$top"
exec "$src/tests/fuzz/run" tests/fuzz/initrd-fuzz 10 "$seeds"
