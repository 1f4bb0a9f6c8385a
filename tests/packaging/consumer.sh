#!/usr/bin/env bash
# A program outside this tree finds the installed library with find_package(toucan-token),
# links toucan-token::toucan-token (and so libcurl, through the package's dependencies), and
# mints a token against the stand-in. Usage: consumer.sh BUILD_DIR SOURCE_DIR STANDIN
set -euo pipefail
build=$1 source=$2 standin=$3
work=$(mktemp -d)
# shellcheck source=standin.bash
source "$source/tests/packaging/standin.bash"
trap 'stop_standin; rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" --component development >/dev/null
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# The same compiler and flags as the tree it consumes (a sanitizer build's library needs the
# sanitizer runtime at link time too).
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cmake -S "$source/tests/consumer" -B "$work/build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$(cache_value CMAKE_CXX_COMPILER)" \
  -DCMAKE_CXX_FLAGS="$(cache_value CMAKE_CXX_FLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(cache_value CMAKE_EXE_LINKER_FLAGS)" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }

start_standin "$standin" --api-key consumer-key
unset ALL_PROXY all_proxy HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
TOUCAN_API_KEY=consumer-key "$work/build/consumer" "$STANDIN_URL"
# The same program, a wrong key: the library's error kind reaches the caller (3).
status=0
TOUCAN_API_KEY=wrong-key "$work/build/consumer" "$STANDIN_URL" 2>/dev/null || status=$?
[ "$status" -eq 3 ] || { echo "a rejected key gave exit $status, expected 3" >&2; exit 1; }
