#!/usr/bin/env bash
# The rendered manual page formats without a groff warning at 80 columns, and shows its main
# sections. Usage: check-manpage-render.sh PAGE.1
set -euo pipefail
page=$1
warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
if [ -n "$warnings" ]; then
  echo "groff warnings while formatting $page:" >&2
  echo "$warnings" >&2
  exit 1
fi
text=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
for section in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT BATCH "EXIT STATUS" ENVIRONMENT FILES \
               SECURITY LIMITS EXAMPLES; do
  grep -qx "$section" <<<"$text" || { echo "the page has no $section section" >&2; exit 1; }
done
echo "manual page renders cleanly: $(wc -l <<<"$text") lines"
