#!/bin/sh
# A short libFuzzer run over the control-socket reader (tests/hostd/fuzz-vmctl.c).
exec "${abs_top_srcdir:-.}/tests/fuzz/run" tests/hostd/vmctl-fuzz "${VDI_FUZZ_SECONDS:-15}"
