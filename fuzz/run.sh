#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each one for SECONDS (default 600), one after the other.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#   (targets: attribute expiry response redact batch_line config schema)
# New inputs go to build/fuzz/fuzz-corpus/<target>; crashes to build/fuzz/fuzz-artifacts-*.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(attribute expiry response redact batch_line config schema)
scripts/install-deps --fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in "${targets[@]}"; do
  mkdir -p "build/fuzz/fuzz-corpus/$target"
  echo "== fuzz_$target for $seconds s" >&2
  "build/fuzz/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -max_len=1048576 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="build/fuzz/fuzz-artifacts-" \
    "build/fuzz/fuzz-corpus/$target" "fuzz/corpus/$target" 2>&1 |
    grep -E '^(stat::|==|SUMMARY|artifact_prefix|Test unit)|ERROR' || true
done
