#!/usr/bin/env bash
# The fish completion, through fish's own `complete -C` (what fish does on <TAB>).
# Usage: fish-completion.sh COMPLETION_FILE
set -uo pipefail
completion=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/users.jsonl" "$work/attrs.json"
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
expect "toucan-token -o " "json token header env"
expect "toucan-token b" "batch"
expect "toucan-token batch --conc" "--concurrency"
expect "toucan-token batch us" "users.jsonl"
expect "toucan-token --attributes @at" "@attrs.json"
expect "toucan-token --cacert at" "attrs.json"
exit "$failed"
