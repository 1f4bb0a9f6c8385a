#!/usr/bin/env bash
# Drives the bash completion as bash does on <TAB>: fills COMP_WORDS/COMP_CWORD, calls the
# function `complete -p toucan-token` names, and compares COMPREPLY.
# Usage: bash-completion.sh COMPLETION_FILE [BASH_COMPLETION_SCRIPT|""] [TOUCAN_TOKEN]
# With the second argument, bash-completion's helpers are loaded first (as on a desktop);
# without it the file must work on its own. With the third, "--<TAB>" must offer exactly the
# long options that program's --help lists (and "batch --<TAB>" those batch accepts).
set -uo pipefail
completion=$1
tool=${3:-}
case $tool in
  */*) tool=$(realpath "$tool") ;;       # a path: absolute, since the test changes folder
  ?*) tool=$(command -v "$tool") ;;      # a name on PATH
esac
if [ -n "${2:-}" ]; then
  # shellcheck disable=SC1090
  source "$2" || { echo "cannot load $2" >&2; exit 1; }
fi
# shellcheck disable=SC1090
source "$completion"
spec=$(complete -p toucan-token 2>/dev/null) || { echo "no completion registered for toucan-token" >&2; exit 1; }
function=$(sed -n 's/.*-F \([^ ]*\) .*/\1/p' <<<"$spec")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/certs"
touch "$work/users.jsonl" "$work/users-2.jsonl" "$work/ca.pem" "$work/attrs.json"
cd "$work"

failed=0
# expect "COMMAND LINE" "EXPECTED WORDS": the line ends where the cursor is.
expect() {
  local line=$1 want=$2
  COMP_LINE=$line
  COMP_POINT=${#line}
  # Split as readline does with the default COMP_WORDBREAKS: "=" and ":" are words of their
  # own, and so is "@" while hostcomplete is on (bash's default; bash-completion turns it off).
  local words breaks='=:'
  shopt -q hostcomplete && breaks='=:@'
  words=$(sed -E "s/([$breaks])/ \\1 /g" <<<"$line")
  read -ra COMP_WORDS <<<"$words"
  [[ $line == *[[:space:]] ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  "$function" toucan-token "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  local got
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
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
expect "toucan-token --output " "json token header env shell github"
expect "toucan-token --output=" "json token header env shell github"
expect "toucan-token -u u1 -o t" "token"
expect "toucan-token --ver" "--verbose --version"
expect "toucan-token b" "batch"
expect "toucan-token completion " "bash zsh fish"
expect "toucan-token completion z" "zsh"
expect "toucan-token completion bash " ""
expect "toucan-token c" "cache completion config"
expect "toucan-token config --dis" "--distinct-id"
expect "toucan-token -r " "explorer"
expect "toucan-token --cacert c" "ca.pem certs"
expect "toucan-token --api-key-file ca" "ca.pem"
# After "@", files (readline replaces the whole "@…" word, even where it split it at "@").
at=@
expect "toucan-token --attributes @at" "${at}attrs.json"
expect "toucan-token --permissions @c" "${at}ca.pem ${at}certs/"
expect "toucan-token --permissions @" "${at}attrs.json ${at}ca.pem ${at}certs/ ${at}users.jsonl ${at}users-2.jsonl"
expect "toucan-token batch --conc" "--concurrency"
expect "toucan-token batch --dis" ""          # -u is a usage error in batch mode
expect "toucan-token batch -o" ""
expect "toucan-token batch us" "users.jsonl users-2.jsonl"
expect "toucan-token -u u1 -a region=" ""     # a value: nothing to offer
expect "toucan-token -u u1 -a year:=" ""
expect "toucan-token -a region=E" ""
expect "toucan-token --conc" ""               # --concurrency belongs to batch
if [ -n "$tool" ]; then
  long_options() { grep -oE -- '^ +(-[A-Za-z], ?)?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | xargs; }
  single=$("$tool" --help | long_options)
  batch_all=$("$tool" batch --help | long_options)
  # In batch mode -u, -o and --cache are usage errors and --version is not offered.
  in_batch=$(tr ' ' '\n' <<<"$single $batch_all" | grep -vxE -- '--(distinct-id|output|version|cache)' | sort -u | xargs)
  [ -n "$single" ] || { echo "FAIL no long option found in $tool --help" >&2; exit 1; }
  expect "toucan-token --" "$single"
  expect "toucan-token batch --" "$in_batch"
fi
exit "$failed"
