#!/usr/bin/env bash
# The token cache's cost and gain, against the local stand-in server over loopback HTTP:
#   - a cache hit (toucan-token --cache, entry present) next to one mint by curl;
#   - what the cache adds to a miss: --cache with a margin no entry can meet (look up, mint,
#     write the entry with fsync and rename) next to --no-cache.
# Runs are interleaved, one of each per round, and medians printed. Wall time is measured with
# date +%s%N around each process, so each figure includes the same fork/exec of bash.
# Usage: bench/cache.sh [ROUNDS]   (default 50; builds the release preset first, or set
#        BUILD=dev to time an existing build/dev instead)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
build=${BUILD:-release}
[ "$build" = release ] && cmake --workflow --preset release >/dev/null
tool=$PWD/build/$build/toucan-token
standin=$PWD/build/$build/toucan-token-standin
work=$(mktemp -d)
trap 'kill $standin_pid 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 700 "$work"
"$standin" >"$work/standin.log" 2>&1 &
standin_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on' "$work/standin.log" && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$work/standin.log")
[ -n "$url" ] || { echo "cache.sh: the stand-in did not start" >&2; exit 1; }

unset ALL_PROXY all_proxy HTTPS_PROXY https_proxy HTTP_PROXY http_proxy TOUCAN_PROFILE TOUCAN_CONFIG
export HOME=$work XDG_CACHE_HOME=$work/cache XDG_CONFIG_HOME=$work/config TOUCAN_API_KEY=local-test-key
body='{"user":{"distinctId":"u1","role":"explorer","attributes":{"region":"EU"}}}'
hit=("$tool" --base-url "$url" -u u1 -a region=EU --cache)
miss=("$tool" --base-url "$url" -u u1 -a region=EU --cache --min-ttl 31536000)
plain=("$tool" --base-url "$url" -u u1 -a region=EU --no-cache)
curl_mint=(curl -sS --fail -o /dev/null -H "x-api-key: $TOUCAN_API_KEY"
           -H "Content-Type: application/json" -H "Accept: application/json" -d "$body"
           "$url/embed/generate-token")

"${hit[@]}" >/dev/null  # warm-up, and the entry the hits read
"${curl_mint[@]}"
"${plain[@]}" >/dev/null

# Microseconds of wall time one run of the command takes; its CPU time (user + system, which a
# loaded machine disturbs less) goes to the file named by $cpu_file.
micros() {
  local start end TIMEFORMAT='%3U %3S'
  start=$(date +%s%N)
  { time "$@" >/dev/null; } 2>>"$work/times"
  end=$(date +%s%N)
  tail -n 1 "$work/times" | awk '{ printf "%d\n", ($1 + $2) * 1000000 }' >>"$cpu_file"
  echo $(((end - start) / 1000))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for _ in $(seq 1 "$rounds"); do
  cpu_file=$work/hit.cpu micros "${hit[@]}" >>"$work/hit"
  cpu_file=$work/curl.cpu micros "${curl_mint[@]}" >>"$work/curl"
  cpu_file=$work/miss.cpu micros "${miss[@]}" >>"$work/miss"
  cpu_file=$work/plain.cpu micros "${plain[@]}" >>"$work/plain"
done
h=$(median <"$work/hit") c=$(median <"$work/curl") m=$(median <"$work/miss") p=$(median <"$work/plain")
hc=$(median <"$work/hit.cpu") cc=$(median <"$work/curl.cpu") mc=$(median <"$work/miss.cpu")
pc=$(median <"$work/plain.cpu")
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
echo "rounds: $rounds (medians)"
echo "| run | median wall | median CPU (user + sys) |"
echo "|---|---:|---:|"
echo "| toucan-token --cache, hit | $(ms "$h") | $(ms "$hc") |"
echo "| curl, one mint | $(ms "$c") | $(ms "$cc") |"
echo "| toucan-token --cache, miss (look up, mint, store) | $(ms "$m") | $(ms "$mc") |"
echo "| toucan-token --no-cache (mint) | $(ms "$p") | $(ms "$pc") |"
awk -v h="$h" -v c="$c" -v m="$m" -v p="$p" -v hc="$hc" -v cc="$cc" -v mc="$mc" -v pc="$pc" 'BEGIN {
  printf "hit / curl mint: %.2f× wall, %.2f× CPU; added to a miss: %.2f ms wall, %.2f ms CPU\n",
         h / c, hc / cc, (m - p) / 1000, (mc - pc) / 1000 }'
