#!/usr/bin/env bash
# Builds Cairn's Debian packages from the build tree (cpack -G DEB),
# installs them with apt-get, builds examples/consumer against the installed
# package and runs it, runs the installed tools, then removes the packages.
#
# Usage (from the repository root, after `cmake --build build`):
#   bash config/check-packages.sh [BUILD_DIR]
# Run as root (or with sudo available). .ci/run runs it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

rm -rf "$build/packages"
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/packages/*.deb)
[ ${#debs[@]} -eq 2 ] || { echo "FAIL: expected 2 packages: ${debs[*]}"; exit 1; }
for d in "${debs[@]}"; do
  echo "== $(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version)"
  dpkg-deb -f "$d" Depends
done

cleanup() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y -qq \
    libcairn-dev cairn-tools >/dev/null || true
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
  "$(realpath "${debs[0]}")" "$(realpath "${debs[1]}")" >/dev/null

for tool in cairn-journal cairn-bench cairn-node; do
  [ "$(command -v $tool)" = "/usr/bin/$tool" ] \
    || { echo "FAIL: $tool is not installed in /usr/bin"; exit 1; }
done
work=$(mktemp -d)
cairn-bench journal --quick --json >"$work/bench.json"
grep -q '"append_ratio"' "$work/bench.json" \
  || { echo "FAIL: the installed cairn-bench"; cat "$work/bench.json"; exit 1; }
cairn-journal verify "$work/none" >/dev/null 2>&1 \
  && { echo "FAIL: cairn-journal verify of a missing journal passed"; exit 1; }
rm -rf "$work"

bash tests/install/consumer_test.sh "$PWD" "$build" /usr
echo "packages: libcairn-dev and cairn-tools install and work"
