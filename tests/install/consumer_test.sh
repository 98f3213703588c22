#!/usr/bin/env bash
# Installs Cairn from a build tree into a fresh prefix, builds
# examples/consumer against it with find_package(cairn), and runs the
# program twice on one journal: the second run must go on from the first.
#
# Usage: consumer_test.sh SOURCE_DIR BUILD_DIR [PREFIX]
# Without PREFIX it installs into a temporary directory; with PREFIX=/usr it
# builds against what is already installed there (the Debian packages).
set -euo pipefail
src=$1
build=$2
prefix=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$prefix" ]; then
  prefix=$work/prefix
  cmake --install "$build" --prefix "$prefix" >/dev/null
  for f in include/cairn/actors/runtime.hpp include/cairn/journal/journal.hpp \
           lib/cmake/cairn/cairn-config.cmake lib/cmake/cairn/FindCAF.cmake \
           bin/cairn-journal bin/cairn-bench bin/cairn-node; do
    [ -e "$prefix/$f" ] || { echo "FAIL: $f is not installed"; exit 1; }
  done
fi

cmake -S "$src/examples/consumer" -B "$work/build" \
      -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; echo "FAIL: find_package(cairn)"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; echo "FAIL: building the consumer"; exit 1; }

first=$("$work/build/cairn-consumer" "$work/journal")
second=$("$work/build/cairn-consumer" "$work/journal")
echo "$first"
echo "$second"
grep -qx 'ada: 3 points' <<<"$first" || { echo "FAIL: first run"; exit 1; }
grep -qx 'ada: 6 points' <<<"$second" || { echo "FAIL: second run"; exit 1; }
grep -q '^refused: invalid_argument' <<<"$first" \
  || { echo "FAIL: the bad award was not refused"; exit 1; }
echo "consumer built against $prefix and ran"
