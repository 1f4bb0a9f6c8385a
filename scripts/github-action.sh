#!/usr/bin/env bash
# The shell side of the composite GitHub Action (action.yml), kept here so that it runs and is
# tested (tests/packaging/test-github-action.sh) outside GitHub.
#
#   github-action.sh install   put toucan-token on PATH: the one already there (from the .deb,
#                              say), or a packager's build from the action's own source
#   github-action.sh mint      mint one token from the INPUT_* variables and TOUCAN_API_KEY;
#                              write the outputs `token` and `expires-at` to $GITHUB_OUTPUT
#
# mint prints the token exactly once, in the `::add-mask::` line, which comes before anything
# else it prints; from then on GitHub shows it as *** in every log.
set -euo pipefail

install_tool() {
  if command -v toucan-token >/dev/null 2>&1; then
    echo "using $(command -v toucan-token): $(toucan-token --version | head -n 1)"
    return
  fi
  local source build
  source=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  build=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/toucan-token-build
  echo "toucan-token is not on PATH: building it from $source"
  "$source/scripts/install-deps" --build
  cmake -S "$source" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DTOUCAN_MANPAGE=OFF >/dev/null
  cmake --build "$build" --target toucan-token
  echo "$build" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
}

mint() {
  : "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
  if [ -z "${INPUT_DISTINCT_ID:-}" ]; then
    echo "::error title=toucan-token::the distinct-id input is required"
    exit 2
  fi
  # --name=value keeps a value that starts with "-" a value.
  local args=("--distinct-id=$INPUT_DISTINCT_ID" --output=env)
  [ -n "${INPUT_ROLE:-}" ] && args+=("--role=$INPUT_ROLE")
  [ -n "${INPUT_ATTRIBUTES:-}" ] && args+=("--attributes=$INPUT_ATTRIBUTES")
  [ -n "${INPUT_BASE_URL:-}" ] && args+=("--base-url=$INPUT_BASE_URL")

  local result status=0
  result=$(toucan-token "${args[@]}") || status=$?
  if [ "$status" -ne 0 ]; then
    # toucan-token has said why on stderr; this makes it an annotation on the run.
    echo "::error title=toucan-token::no token was minted (exit status $status)"
    exit "$status"
  fi
  local line token="" expires_at=""
  while IFS= read -r line; do
    case $line in
      TOUCAN_TOKEN=*) token=${line#TOUCAN_TOKEN=} ;;
      TOUCAN_TOKEN_EXPIRES_AT=*) expires_at=${line#TOUCAN_TOKEN_EXPIRES_AT=} ;;
    esac
  done <<<"$result"
  if [ -z "$token" ]; then
    echo "::error title=toucan-token::toucan-token printed no token"
    exit 7
  fi
  echo "::add-mask::$token"
  # toucan-token only prints tokens of printable ASCII without spaces, so one line each is safe.
  {
    echo "token=$token"
    echo "expires-at=$expires_at"
  } >>"$GITHUB_OUTPUT"
  echo "minted a token; it expires at ${expires_at:-an unknown time}"
}

case "${1:-}" in
  install) install_tool ;;
  mint) mint ;;
  *) echo "usage: github-action.sh install|mint" >&2; exit 2 ;;
esac
