#!/usr/bin/env bash
# Installs a built netqueue into a temporary prefix, then configures, builds and
# runs the consumer project next to this script against it with
# find_package(netqueue), and builds and runs the same program by hand with
# `pkg-config --cflags --libs netqueue`. Registered as the ctest test
# consumer_find_package.
#
#   check.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 BUILD_DIR CONSUMER_SOURCE_DIR" >&2
  exit 2
fi
build_dir=$1
source_dir=$2
cache=$build_dir/CMakeCache.txt
[[ -f $cache ]] || { echo "check.sh: $build_dir is not a CMake build directory" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/netqueue-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }

# Build the consumer with the library's compiler, and with its sanitizers: a
# static libnetqueue built with -fsanitize needs the sanitizer runtimes at link.
args=(-DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$(cache_value CMAKE_CXX_COMPILER)")
if [[ $(cache_value NETQUEUE_SANITIZE) == ON ]]; then
  args+=("-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
fi
if command -v ninja >/dev/null; then args+=(-G Ninja); fi

cmake --install "$build_dir" --prefix "$tmp/prefix"
cmake -S "$source_dir" -B "$tmp/build" "${args[@]}"
cmake --build "$tmp/build"
"$tmp/build/consumer"
"$tmp/build/consumer_json"

# The same program built by hand with pkg-config.
pc_dir=$(dirname "$(find "$tmp/prefix" -name netqueue.pc | head -n 1)")
[[ -f $pc_dir/netqueue.pc ]] || { echo "check.sh: no netqueue.pc installed" >&2; exit 1; }
flags=()
if [[ $(cache_value NETQUEUE_SANITIZE) == ON ]]; then flags+=(-fsanitize=address,undefined); fi
# shellcheck disable=SC2046  # pkg-config's output is words on purpose
"$(cache_value CMAKE_CXX_COMPILER)" "${flags[@]}" "$source_dir/main.cpp" -o "$tmp/consumer_pc" \
  $(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs netqueue)
"$tmp/consumer_pc"
