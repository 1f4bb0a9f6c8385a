#!/usr/bin/env bash
# The README and doc/ link only to files of this repository, and every such link resolves.
# Usage: check-doc-links.sh SOURCE_DIR
set -euo pipefail
cd "$1"
failed=0
for document in README.md doc/*.md; do
  # Markdown links and images: ](target)
  while IFS= read -r target; do
    target=${target%%#*}
    [ -n "$target" ] || continue
    case $target in
      *://* | mailto:*)
        echo "$document links outside the repository: $target" >&2
        failed=1 ;;
      *)
        resolved=$(realpath -m "$(dirname "$document")/$target")
        if [[ $resolved != "$PWD"/* ]]; then
          echo "$document links outside the repository: $target" >&2
          failed=1
        elif [ ! -e "$resolved" ]; then
          echo "$document links to a missing file: $target" >&2
          failed=1
        fi ;;
    esac
  done < <(grep -oE '\]\([^) ]+\)' "$document" | sed -E 's/^\]\((.*)\)$/\1/')
done
[ "$failed" -eq 0 ] && echo "documentation links: all inside the repository and present"
exit "$failed"
