#!/bin/sh
# Regenerate the build system: run once after a fresh clone, then ./configure.
set -eu
cd "$(dirname "$0")"
autoreconf --install --force
echo "Now run ./configure (add --enable-sanitizers for an ASan/UBSan build)."
