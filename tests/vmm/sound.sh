#!/bin/sh
# tests/vmm/sound.sh — the HD Audio card of vdi-vm (issue 19) end to end.
#
# Bad --sound arguments are checked here (no KVM needed); a real Linux
# guest (snd_hda_intel + the generic codec driver) playing, recording and
# then programming the card as a hostile driver runs in ONE
# tests/lab/needs-kvm invocation of tests/vmm/sound-lab.py.
# Exit 0 pass, 1 fail, 77 skip (no kernel, no python3; a lab that cannot
# run, only with VMM_REQUIRE_KVM=0).
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${abs_top_builddir:-$src}
. "$src/tests/vmm/lib.sh"
vm=$build/hostd/vdi-vm
vmm_suite_init sound

expect "--help documents --sound" 0 "--sound hda|none" -- --help
expect "--sound with an unknown card" 2 'invalid --sound "sb16": expected hda or none' -- --kernel "$kernel" --sound sb16
expect "--sound-out without a card" 2 "--sound-out and --sound-in need a sound card" -- \
    --kernel "$kernel" --sound none --sound-out "$tmp/x.raw"
expect "--sound-in missing file" 1 "--sound-in $tmp/nope: No such file or directory" -- \
    --kernel "$kernel" --sound-in "$tmp/nope"

vmm_python
if vmm_lab_initrd sound "snd_hda_codec_generic snd_hda_intel"; then
    vmm_lab_run "HD Audio playback, capture and hostile programming" "$src/tests/vmm/sound-lab.py" "$vm" "$kernel" "$initrd" "$tmp"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
