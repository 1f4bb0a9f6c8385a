#!/usr/bin/env bash
# `cmake --install` puts each file where packagers and shells look for it, in the right
# component: runtime (program, manual page, completions, copyright, changelog) and development (headers,
# library, CMake package). Usage: install-layout.sh SOURCE_DIR BUILD_DIR MANPAGE_BUILT(ON|OFF)
set -euo pipefail
source=$1 build=$2 manpage=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for component in runtime development; do
  cmake --install "$build" --prefix "$work/$component" --component "$component" >/dev/null
done
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")

runtime=(bin/toucan-token
         share/bash-completion/completions/toucan-token
         share/zsh/vendor-completions/_toucan-token
         share/fish/vendor_completions.d/toucan-token.fish
         share/doc/toucan-token/copyright
         share/doc/toucan-token/changelog.gz)
[ "$manpage" = ON ] && runtime+=(share/man/man1/toucan-token.1.gz)
# Every public header of the source tree, and the generated version.hpp.
mapfile -t headers < <(cd "$source" && find include/toucan -type f -name '*.hpp')
development=("${headers[@]}" include/toucan/version.hpp
             "$libdir/libtoucan.a"
             "$libdir/cmake/toucan-token/toucan-token-config.cmake"
             "$libdir/cmake/toucan-token/toucan-token-config-version.cmake"
             "$libdir/cmake/toucan-token/toucan-token-targets.cmake")

failed=0
check_exactly() {  # component, expected files...
  local component=$1
  shift
  local expected actual
  expected=$(printf '%s\n' "$@" | sort)
  actual=$(cd "$work/$component" && find . -type f -printf '%P\n' |
           grep -v '^'"$libdir"'/cmake/toucan-token/toucan-token-targets-' | sort)
  if [ "$expected" != "$actual" ]; then
    echo "the $component component differs from the expected layout (- expected, + installed):" >&2
    diff <(echo "$expected") <(echo "$actual") | grep '^[<>]' | sed 's/^</-/; s/^>/+/' >&2
    failed=1
  fi
}
check_exactly runtime "${runtime[@]}"
check_exactly development "${development[@]}"

version=$("$work/runtime/bin/toucan-token" --version) || version=
grep -qx "toucan-token [0-9][0-9.]*" <<<"${version%%$'\n'*}" ||
  { echo "the installed program does not print its version" >&2; failed=1; }
if [ "$manpage" = ON ]; then
  [[ $(MANPATH="$work/runtime/share/man" man -w toucan-token) == "$work/runtime"* ]] ||
    { echo "man -w does not find the installed page" >&2; failed=1; }
fi
# The exported package must not hand our warning flags to a consumer.
if grep -rq -- 'toucan_warnings\|-Wconversion' "$work/development/$libdir/cmake"; then
  echo "the CMake package exports the project's warning flags" >&2
  failed=1
fi
[ "$failed" -eq 0 ] && echo "install layout: runtime ${#runtime[@]} files, development ${#development[@]} files, as expected"
exit "$failed"
