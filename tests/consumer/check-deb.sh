#!/usr/bin/env bash
# Checks the Debian package made by scripts/package the way a user of it
# would see it, without installing it: unpacks it into a temporary root, then
#   - its Depends name the runtime packages of the transports (no -dev one);
#   - libnetqueue.so has a SONAME from the version and exports the public API
#     only (every dynamic symbol it defines is netqueue's);
#   - the consumer project next to this script configures against it with
#     find_package(netqueue COMPONENTS json) while OpenSSL, gRPC and Paho
#     cannot be found, builds, and runs; no header of theirs (nor Asio's) is
#     included by the public headers; the same program builds with pkg-config;
#   - its netqueue-iops runs a small TCP round trip.
#
#   check-deb.sh DEB CONSUMER_SOURCE_DIR
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 DEB CONSUMER_SOURCE_DIR" >&2
  exit 2
fi
deb=$(realpath "$1")
source_dir=$(realpath "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/netqueue-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "check-deb.sh: $*" >&2
  exit 1
}

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for runtime in libssl3 libgrpc++1.51 libpaho-mqttpp3-1; do
  [[ $depends == *"$runtime "* ]] || fail "Depends lacks $runtime"
done
[[ $depends != *-dev* ]] || fail "Depends names a development package"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
lib=$(find "$root/usr/lib" -name 'libnetqueue.so.*.*.*' | head -n 1)
[[ -n $lib ]] || fail "no libnetqueue.so.X.Y.Z in the package"
libdir=$(dirname "$lib")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libnetqueue.so.0 ]] || fail "SONAME is '$soname', not libnetqueue.so.0"
[[ -e $libdir/$soname && -e $libdir/libnetqueue.so ]] || fail "the $soname and libnetqueue.so links are missing"
foreign=$(nm -D --defined-only -C "$lib" | cut -d' ' -f3- | grep -v 'netqueue::' || true)
[[ -z $foreign ]] || fail "libnetqueue.so exports more than netqueue's API:"$'\n'"$foreign"
echo "libnetqueue: SONAME $soname, $(nm -D --defined-only "$lib" | wc -l) symbols, all netqueue's"

# The consumer, with the transports' packages made unfindable: a shared
# libnetqueue must not need them.
args=(--no-warn-unused-cli -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON -DCMAKE_DISABLE_FIND_PACKAGE_gRPC=ON
  -DCMAKE_DISABLE_FIND_PACKAGE_PahoMqttCpp=ON -DCMAKE_DISABLE_FIND_PACKAGE_protobuf=ON)
if command -v ninja >/dev/null; then args+=(-G Ninja); fi
cmake -S "$source_dir" -B "$tmp/build" "${args[@]}"
cmake --build "$tmp/build"
LD_LIBRARY_PATH=$libdir "$tmp/build/consumer"
LD_LIBRARY_PATH=$libdir "$tmp/build/consumer_json"
readelf -d "$tmp/build/consumer" | grep -q "NEEDED.*\[$soname\]" || fail "the consumer does not link $soname"

# What the public headers pull in: the standard library and netqueue only.
c++ -std=c++20 -I"$root/usr/include" -M "$source_dir/main.cpp" >"$tmp/deps"
if grep -Eo '/[^ ]*/(openssl|grpc|grpcpp|asio|mqtt|google)/[^ ]*' "$tmp/deps"; then
  fail "the public headers include the headers above"
fi

pc_dir=$(dirname "$(find "$root" -name netqueue.pc | head -n 1)")
# shellcheck disable=SC2046  # pkg-config's output is words on purpose
c++ "$source_dir/main.cpp" -o "$tmp/consumer_pc" $(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs netqueue)
LD_LIBRARY_PATH=$libdir "$tmp/consumer_pc"

LD_LIBRARY_PATH=$libdir "$root/usr/bin/netqueue-iops" tcp both sync --port 0 --max-size 16 --reps 2
echo "check-deb.sh: $(basename "$deb") is complete"
