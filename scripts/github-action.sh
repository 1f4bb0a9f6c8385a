#!/usr/bin/env bash
# The shell side of the composite GitHub Action (action.yml), kept here so that it runs and is
# tested (tests/packaging/test-github-action.sh) outside GitHub.
#
#   github-action.sh install    put toucan-token on PATH: the one already there, else the
#                               release's .deb for this runner (checksum verified), else a
#                               packager's build from the action's own source
#   github-action.sh mint       mint one token from the INPUT_* variables with `-o github`: the
#                               `::add-mask::` line first, then TOUCAN_TOKEN and
#                               TOUCAN_TOKEN_EXPIRES_AT to $GITHUB_ENV, token and expires-at to
#                               $GITHUB_OUTPUT
#   github-action.sh fetch-deb  download and verify the release's .deb; print its path (exit 3:
#                               there is none for this runner)
set -euo pipefail

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's/^project(toucan-token VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")

# The names .github/workflows/release.yml gives: toucan-token_0.1.0-1+deb12_amd64.deb.
deb_name() {
  local distro
  # shellcheck disable=SC1090
  distro=$(. "${TOUCAN_OS_RELEASE:-/etc/os-release}" && case ${ID:-} in
    debian) echo "deb${VERSION_ID:-}" ;;
    ubuntu) echo "ubuntu${VERSION_ID:-}" ;;
  esac)
  [[ $distro =~ [0-9]$ ]] || return 1  # a release without a number (testing, sid) has no .deb
  echo "toucan-token_${version}-1+${distro}_$(dpkg --print-architecture).deb"
}

# The release of this action's version, from the repository the runner checked it out of
# (…/_actions/OWNER/REPO/REF); TOUCAN_RELEASE_URL replaces it in tests.
release_url() {
  if [ -n "${TOUCAN_RELEASE_URL:-}" ]; then
    echo "$TOUCAN_RELEASE_URL"
    return
  fi
  local repository=${GITHUB_ACTION_REPOSITORY:-}
  if [ -z "$repository" ] && [[ ${GITHUB_ACTION_PATH:-} =~ /_actions/([^/]+/[^/]+)/[^/]+$ ]]; then
    repository=${BASH_REMATCH[1]}
  fi
  [ -n "$repository" ] && echo "https://github.com/$repository/releases/download/v$version"
}

# Exit 3 when there is no package to fetch (the caller builds instead); 1 when the download does
# not match the release's SHA256SUMS: that is never installed, nor papered over by a build.
fetch_deb() {
  local name url dir
  name=$(deb_name) || exit 3
  url=$(release_url) || exit 3
  dir=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/toucan-token-deb.XXXXXX")
  if ! curl -fsSL --retry 3 -o "$dir/SHA256SUMS" "$url/SHA256SUMS" ||
    ! curl -fsSL --retry 3 -o "$dir/$name" "$url/$name"; then
    echo "no $name in $url" >&2
    exit 3
  fi
  local sums
  sums=$(awk -v name="$name" '$2 == name' "$dir/SHA256SUMS")
  if [ -z "$sums" ] || ! (cd "$dir" && sha256sum --check --strict --status <<<"$sums"); then
    echo "::error title=toucan-token::$name does not match the SHA256SUMS of $url; not installed" >&2
    exit 1
  fi
  echo "$dir/$name"
}

build_from_source() {
  local build=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/toucan-token-build
  echo "building toucan-token from $source_dir"
  "$source_dir/scripts/install-deps" --build
  cmake -S "$source_dir" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DTOUCAN_MANPAGE=OFF >/dev/null
  cmake --build "$build" --target toucan-token
  echo "$build" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
}

install_tool() {
  if command -v toucan-token >/dev/null 2>&1; then
    echo "using $(command -v toucan-token): $(toucan-token --version | head -n 1)"
    return
  fi
  local deb status=0
  deb=$(fetch_deb) || status=$?
  if [ "$status" -eq 3 ]; then
    build_from_source
    return
  fi
  [ "$status" -eq 0 ] || exit "$status"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  echo "installing $(basename "$deb") (SHA-256 verified)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "$deb" >/dev/null
  echo "using $(toucan-token --version | head -n 1)"
}

mint() {
  if [ -z "${INPUT_DISTINCT_ID:-}" ]; then
    echo "::error title=toucan-token::the distinct-id input is required"
    exit 2
  fi
  # --name=value keeps a value that starts with "-" a value.
  local args=("--distinct-id=$INPUT_DISTINCT_ID" --output=github) input flag
  for input in ROLE ATTRIBUTES PERMISSIONS BASE_URL ENDPOINT_PATH SCHEMA; do
    flag=$(tr 'A-Z_' 'a-z-' <<<"$input")
    local variable=INPUT_$input
    [ -z "${!variable:-}" ] || args+=("--$flag=${!variable}")
  done
  local status=0
  toucan-token "${args[@]}" || status=$?
  if [ "$status" -ne 0 ]; then
    # toucan-token has said why on stderr; this makes it an annotation on the run.
    echo "::error title=toucan-token::no token was minted (exit status $status)"
    exit "$status"
  fi
  echo "minted a token: outputs token and expires-at, and TOUCAN_TOKEN for the later steps"
}

case "${1:-}" in
  install) install_tool ;;
  mint) mint ;;
  fetch-deb) fetch_deb ;;
  *) echo "usage: github-action.sh install|mint|fetch-deb" >&2; exit 2 ;;
esac
