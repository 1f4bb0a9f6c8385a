#!/usr/bin/env bash
# libcurl is linked, not loaded by hand, so that ldd and dpkg-shlibdeps see it.
# Usage: links-libcurl.sh TOUCAN_TOKEN
set -euo pipefail
needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "NEEDED: $(xargs <<<"$needed")"
grep -q '^libcurl' <<<"$needed" || { echo "toucan-token does not link libcurl" >&2; exit 1; }
