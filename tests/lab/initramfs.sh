# tests/lab/initramfs.sh — helpers to build small, reproducible initramfs
# images from the Debian kernel's modules and busybox-static.  Sourced (by
# tests/lab/run and tests/guest/build-initrd), not run.  Callers define
# die() and run with set -eu.
# shellcheck shell=bash

# initramfs_kernel: print the version of the newest Debian kernel in /boot
# that has its modules installed, e.g. 6.1.0-56-amd64.  Never the running
# kernel: the host may run anything.
initramfs_kernel() {
    local k v
    for k in /boot/vmlinuz-*-amd64; do
        v=${k#/boot/vmlinuz-}
        [ -r "$k" ] && [ -d "/lib/modules/$v/kernel" ] && printf '%s\n' "$v"
    done | sort -V | tail -n 1
}

# initramfs_check_kernel VERSION: die unless that kernel and its modules
# are there.
initramfs_check_kernel() {
    if [ -z "$1" ] || [ ! -r "/boot/vmlinuz-$1" ] || [ ! -d "/lib/modules/$1/kernel" ]; then
        die "no Debian kernel${1:+ $1} in /boot with modules in /lib/modules (apt-get install linux-image-amd64)"
    fi
}

# initramfs_busybox: print the path of a static busybox, or die.
initramfs_busybox() {
    local bb
    bb=$(command -v busybox || true)
    [ -n "$bb" ] || die "busybox not found (apt-get install busybox-static)"
    # A dynamic busybox cannot run in an initramfs without libc.
    if ldd "$bb" >/dev/null 2>&1; then
        die "$bb is dynamically linked (apt-get install busybox-static)"
    fi
    printf '%s\n' "$bb"
}

# initramfs_modules VERSION MODULE...: print the module files to load, in
# order, dependencies first, each once.  modprobe resolves them against that
# kernel, so no path or ABI number is written down anywhere.
initramfs_modules() {
    local kver=$1 m modprobe
    shift
    # Users' PATH often lacks the sbin directories.
    modprobe=$(PATH=$PATH:/usr/sbin:/sbin && command -v modprobe) ||
        die "modprobe not found (apt-get install kmod)"
    for m in "$@"; do
        "$modprobe" -S "$kver" --show-depends "$m" 2>/dev/null ||
            die "module $m not found for kernel $kver (reinstall linux-image-$kver; is kmod installed?)"
    done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# initramfs_add_modules ROOT VERSION LIST FILE...: copy module files into
# ROOT/lib/modules/ (decompressed: busybox insmod and finit_module without
# flags want plain ELF) and append their paths, relative to that directory,
# to ROOT/LIST in the same order.
initramfs_add_modules() {
    local root=$1 kver=$2 list=$3 m rel dst
    shift 3
    : >>"$root/$list"
    for m in "$@"; do
        rel=${m#/lib/modules/"$kver"/kernel/}
        rel=${rel%.ko*}.ko
        dst=$root/lib/modules/$rel
        mkdir -p "${dst%/*}"
        case $m in
        *.ko.xz) xz -dc "$m" >"$dst" ;;
        *.ko.zst) zstd -qdc "$m" >"$dst" ;;
        *.ko.gz) gzip -dc "$m" >"$dst" ;;
        *) cp "$m" "$dst" ;;
        esac
        printf '%s\n' "$rel" >>"$root/$list"
    done
}

# initramfs_add_busybox ROOT BUSYBOX: install busybox as ROOT/bin/busybox
# with a link per applet (cheaper than "busybox --install" at every boot).
initramfs_add_busybox() {
    local root=$1 bb=$2 a
    mkdir -p "$root/bin"
    cp "$bb" "$root/bin/busybox"
    chmod 755 "$root/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
    done
}

# initramfs_pack ROOT OUT: write ROOT as a gzip'd newc cpio to OUT.  Names
# are sorted and owners and times fixed, so equal trees give equal bytes.
# OUT appears atomically (rename in its directory): concurrent builders
# never expose a partial file, and the last one wins with the same bytes.
initramfs_pack() {
    local root=$1 out=$2
    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 >"$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
}
