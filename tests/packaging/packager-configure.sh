#!/usr/bin/env bash
# A packager's configure, -DBUILD_TESTING=OFF, with GoogleTest and cpp-httplib hidden: it must
# succeed, and leave the tests and the stand-in out. Usage: packager-configure.sh SOURCE_DIR
set -euo pipefail
source=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pkg-config that knows every module but cpp-httplib.
real_pkg_config=$(command -v pkg-config)
cat >"$work/pkg-config" <<WRAPPER
#!/bin/sh
for arg in "\$@"; do
  case "\$arg" in *cpp-httplib*) exit 1 ;; esac
done
exec "$real_pkg_config" "\$@"
WRAPPER
chmod +x "$work/pkg-config"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if ! PKG_CONFIG="$work/pkg-config" cmake -S "$source" -B "$work/build" "${generator[@]}" \
       -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON \
       >"$work/log" 2>&1; then
  cat "$work/log" >&2
  echo "a packager's configure failed with GoogleTest and cpp-httplib hidden" >&2
  exit 1
fi
targets=$(cmake --build "$work/build" --target help)
if grep -qE 'unit_tests|integration_tests|toucan-token-standin' <<<"$targets"; then
  echo "a packager's build still has test or stand-in targets" >&2
  exit 1
fi
# The program and the manual page are there to build (-n: a dry run, nothing compiled).
cmake --build "$work/build" --target toucan-token -- -n >/dev/null ||
  { echo "a packager's build has no toucan-token target" >&2; exit 1; }
echo "packager's configure: OK without GoogleTest and cpp-httplib"
