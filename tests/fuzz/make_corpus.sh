#!/bin/sh
# Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>
# from the targets' own encoders (see fuzz_support.hpp):
#   tests/fuzz/make_corpus.sh build/fuzz
set -eu
bin=${1:-build/fuzz}
here=$(cd "$(dirname "$0")" && pwd)
for fuzzer in "$bin"/fuzz_*; do
  target=$(basename "$fuzzer")
  target=${target#fuzz_}
  rm -rf "$here/corpus/$target"
  mkdir -p "$here/corpus/$target"
  CAIRN_FUZZ_WRITE_SEEDS="$here/corpus/$target" "$fuzzer"
  echo "$target: $(ls "$here/corpus/$target" | wc -l) seeds"
done
