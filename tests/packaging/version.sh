#!/usr/bin/env bash
# `toucan-token --version` as the manual page says: the first line
# `toucan-token <version>`, then the libcurl version, its TLS backend and whether HTTP/2 is
# available. Usage: version.sh TOUCAN_TOKEN EXPECTED_VERSION
set -euo pipefail
tool=$1 expected=$2
out=$("$tool" --version)
echo "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(head -n 1 <<<"$out")" = "toucan-token $expected" ] || fail "first line is not 'toucan-token $expected'"
rest=$(tail -n +2 <<<"$out")
grep -qiE 'libcurl[ /][0-9]+\.[0-9]+' <<<"$rest" || fail "no libcurl version line"
grep -qiE 'openssl|gnutls|nss|wolfssl|mbedtls|schannel|rustls|boringssl|libressl' <<<"$rest" ||
  fail "no TLS backend named"
grep -qiE 'http/?2' <<<"$rest" || fail "HTTP/2 availability not stated"
