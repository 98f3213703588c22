#!/usr/bin/env bash
# Installs Cairn's build and test dependencies from Debian bookworm packages.
# Idempotent: runs `apt-get update` and `apt-get install` only when a package
# is missing. Run as root (or with sudo available).
#
#   bash config/install-deps.sh          everything: build, tests, CI
#   bash config/install-deps.sh --demo   only what building the demo needs
set -euo pipefail

demo_only=0
case "${1:-}" in
  --demo) demo_only=1 ;;
  "") ;;
  *) echo "install-deps.sh: unknown option '$1' (use --demo or nothing)" >&2
     exit 2 ;;
esac

packages=(
  build-essential cmake pkg-config
  ccache              # reuses objects across checkouts (CAIRN_CCACHE)
  libcaf-dev          # CAF 0.17.6: caf_core, caf_io
  liblmdb-dev lmdb-utils
  libcereal-dev
  catch2              # Catch2 2.13
  libcpp-httplib-dev nlohmann-json3-dev  # the invoicing example's HTTP server
  prometheus-cpp-dev        # the optional metrics endpoint (metrics.port)
  libjemalloc-dev           # the allocator of Cairn's programs (CAIRN_WITH_JEMALLOC)
)
test_packages=(
  clang libclang-rt-14-dev  # libFuzzer targets (tests/fuzz)
  curl ca-certificates      # metrics scrape test; CAF source for the TSan preset
  chromium                  # the invoicing web page's browser test
  gnuplot-nox               # cairn-bench --plot
  file                      # cpack -G DEB (dpkg-shlibdeps)
)
if [ "$demo_only" -eq 0 ]; then
  packages+=("${test_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "cairn: all dependencies are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "cairn: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
