#!/usr/bin/env bash
# The manual page and the program agree on the options: every option in `toucan-token --help`
# and `toucan-token batch --help` has an entry in the page, and the page names no option the
# program lacks. Also: every exit status has an entry.
# Usage: check-manpage-options.sh TOUCAN_TOKEN PAGE.scd
set -euo pipefail
tool=$1 page=$2

help=$("$tool" --help; "$tool" batch --help)
page_text=$(grep -v '^;' "$page")  # scdoc comments are not part of the page

long_options() { grep -oE -- '(^|[^A-Za-z0-9_-])--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
tool_long=$(long_options <<<"$help")
page_long=$(long_options <<<"$page_text")
tool_short=$(grep -oE -- '^ +-[A-Za-z],' <<<"$help" | grep -oE -- '-[A-Za-z]' | sort -u)

failed=0
[ -n "$tool_long" ] || { echo "no long option found in --help" >&2; exit 1; }
for option in $tool_long; do
  # An entry is a definition line such as "*-u*, *--distinct-id* _ID_" or "*--dry-run*".
  if ! grep -qE -- "^(\*-[A-Za-z]\*, )?\*$option\*" <<<"$page_text"; then
    echo "--help lists $option, but the manual page has no entry for it" >&2
    failed=1
  fi
done
for option in $tool_short; do
  if ! grep -qE -- "^\*$option\*, \*--" <<<"$page_text"; then
    echo "--help lists $option, but no manual page entry starts with it" >&2
    failed=1
  fi
done
for option in $page_long; do
  if ! grep -qxF -- "$option" <<<"$tool_long"; then
    echo "the manual page names $option, which toucan-token --help does not list" >&2
    failed=1
  fi
done
exits=$(sed -n '/^# EXIT STATUS/,/^# /p' <<<"$page_text")
for code in 0 1 2 3 4 5 6 7 8 130 143; do
  grep -qE -- "^\*$code\*" <<<"$exits" || grep -qE -- "^\*[0-9]+\*, \*$code\*" <<<"$exits" || {
    echo "EXIT STATUS has no entry for $code" >&2
    failed=1
  }
done
[ "$failed" -eq 0 ] && echo "manual page: $(wc -w <<<"$tool_long") long options, all documented; none extra"
exit "$failed"
