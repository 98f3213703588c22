#!/bin/sh
# The compiler launcher of Cairn's builds when ccache is installed
# (CAIRN_CCACHE, CMakeLists.txt): paths under the source tree are hashed
# relative to it, so that another checkout of the same sources (a CI clone)
# reuses what an earlier build compiled.
CCACHE_BASEDIR=$(cd "$(dirname "$0")/.." && pwd)
CCACHE_NOHASHDIR=true
: "${CCACHE_MAXSIZE:=12G}"
export CCACHE_BASEDIR CCACHE_NOHASHDIR CCACHE_MAXSIZE
exec ccache "$@"
