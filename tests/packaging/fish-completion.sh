#!/usr/bin/env bash
# The fish completion, through fish's own `complete -C` (what fish does on <TAB>).
# Usage: fish-completion.sh COMPLETION_FILE [TOUCAN_TOKEN]
# With TOUCAN_TOKEN, "--<TAB>" must offer exactly the long options its --help lists.
set -uo pipefail
completion=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/users.jsonl" "$work/attrs.json"
tool=${2:-}
[ -n "$tool" ] && tool=$(realpath "$tool")
cd "$work"
failed=0
expect() {
  local line=$1 want=$2 got
  got=$(fish --no-config -c "source '$completion'; complete -C '$line'" | cut -f1 | sort | xargs)
  want=$(tr ' ' '\n' <<<"$want" | sort | xargs)
  if [ "$got" == "$want" ]; then
    echo "ok   '$line<TAB>' -> $got"
  else
    echo "FAIL '$line<TAB>' -> '$got', expected '$want'" >&2
    failed=1
  fi
}
expect "toucan-token --dis" "--distinct-id"
expect "toucan-token -o " "json token header env shell github"
expect "toucan-token b" "batch"
expect "toucan-token completion " "bash zsh fish"
expect "toucan-token completion bash " ""
expect "toucan-token c" "cache completion config"
expect "toucan-token config --dis" "--distinct-id"
# `complete -C` sorts and filters the candidates as the pager does, so it lists what a user is
# offered. fish 4 also matches options fuzzily (the letters in order, not only as a prefix):
# there "--conc" offers --connect-timeout too, while "--concur" is --concurrency alone in both.
fish_major=$(fish --version | sed -n 's/^fish, version \([0-9]*\).*/\1/p')
if [ "${fish_major:-0}" -ge 4 ]; then
  expect "toucan-token batch --conc" "--concurrency --connect-timeout"
else
  expect "toucan-token batch --conc" "--concurrency"
fi
expect "toucan-token batch --concur" "--concurrency"
expect "toucan-token batch --dis" ""
expect "toucan-token batch us" "users.jsonl"
expect "toucan-token --attributes @at" "@attrs.json"
expect "toucan-token --cacert at" "attrs.json"
if [ -n "$tool" ]; then
  long_options() { grep -oE -- '^ +(-[A-Za-z], ?)?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | xargs; }
  expect "toucan-token --" "$("$tool" --help | long_options)"
  in_batch=$({ "$tool" --help; "$tool" batch --help; } | long_options | tr ' ' '\n' |
             grep -vxE -- '--(distinct-id|output|version|cache)' | xargs)
  expect "toucan-token batch --" "$in_batch"
fi
exit "$failed"
