#!/bin/sh
# Runs one fuzz target for a while over a fresh copy of its seed corpus:
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR SECONDS
# New inputs go to WORK_DIR/corpus, a crashing input to WORK_DIR/artifacts.
# Exits non-zero when the fuzzer finds a crash, a leak, a timeout (10 s for
# one input) or an input that needs over 2 GiB.
set -eu
fuzzer=$1
seeds=$2
work=$3
seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
cp "$seeds"/* "$work/corpus/"
TMPDIR="$work/tmp"
export TMPDIR
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
