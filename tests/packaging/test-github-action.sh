#!/usr/bin/env bash
# The composite action's shell side (scripts/github-action.sh), run as GitHub runs it: outputs
# go to a $GITHUB_OUTPUT file, the log is stdout. The token is minted by the real program
# against the stand-in. Usage: test-github-action.sh SOURCE_DIR TOUCAN_TOKEN STANDIN
set -euo pipefail
source=$1 tool=$2 standin=$3
action=$source/scripts/github-action.sh
work=$(mktemp -d)
# shellcheck source=standin.bash
source "$source/tests/packaging/standin.bash"
trap 'stop_standin; rm -rf "$work"' EXIT
key=action-test-key-6a1f09c2
start_standin "$standin" --api-key "$key"
unset ALL_PROXY all_proxy HTTPS_PROXY https_proxy HTTP_PROXY http_proxy TOUCAN_BASE_URL
export PATH="$(dirname "$tool"):$PATH"
fail() { echo "FAIL: $*" >&2; exit 1; }

# The action.yml wiring: inputs and outputs as documented, the key not an input.
for input in distinct-id role attributes permissions schema base-url endpoint-path; do
  grep -q "^  $input:" "$source/action.yml" || fail "action.yml has no input $input"
  variable=INPUT_$(tr 'a-z-' 'A-Z_' <<<"$input")
  grep -q "$variable: \${{ inputs.$input }}" "$source/action.yml" || fail "action.yml does not pass $input as $variable"
done
grep -qiE '^  [a-z-]*key[a-z-]*:' "$source/action.yml" && fail "action.yml takes the key as an input"
grep -q 'value: ${{ steps.mint.outputs.token }}' "$source/action.yml" || fail "no token output"
grep -q 'value: ${{ steps.mint.outputs.expires-at }}' "$source/action.yml" || fail "no expires-at output"

# install: the program already on PATH is used, and nothing is added to GITHUB_PATH.
: >"$work/path"
GITHUB_PATH=$work/path "$action" install >"$work/install.out"
grep -q "^using .*toucan-token" "$work/install.out" || fail "install did not use the program on PATH"
[ ! -s "$work/path" ] || fail "install changed GITHUB_PATH although toucan-token was on PATH"

# fetch-deb: the release's package for this runner, from a release laid out as release.yml
# publishes it (a .deb per distribution and SHA256SUMS), checksum verified.
mkdir "$work/release"
printf 'ID=ubuntu\nVERSION_ID="24.04"\n' >"$work/os-release"
version=$(sed -n 's/^project(toucan-token VERSION \([0-9.]*\).*/\1/p' "$source/CMakeLists.txt")
deb=toucan-token_${version}-1+ubuntu24.04_$(dpkg --print-architecture).deb
echo "package bytes" >"$work/release/$deb"
echo "other package" >"$work/release/toucan-token_${version}-1+deb12_amd64.deb"
(cd "$work/release" && sha256sum -- *.deb >SHA256SUMS)
fetch() { TOUCAN_OS_RELEASE=$work/os-release TOUCAN_RELEASE_URL=file://$work/release RUNNER_TEMP=$work "$action" fetch-deb; }
fetched=$(fetch 2>"$work/fetch.err") || fail "fetch-deb failed: $(cat "$work/fetch.err")"
[ "$(basename "$fetched")" = "$deb" ] || fail "fetch-deb chose $fetched, expected $deb"
cmp -s "$fetched" "$work/release/$deb" || fail "fetch-deb did not fetch the package"
echo "tampered" >"$work/release/$deb"
status=0
fetch >"$work/fetch.out" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "a package that does not match SHA256SUMS gave exit $status, expected 1"
grep -q '^::error.*does not match the SHA256SUMS' "$work/fetch.out" || fail "no error for a bad checksum"
rm "$work/release/$deb"
status=0
fetch >/dev/null 2>&1 || status=$?
[ "$status" -eq 3 ] || fail "no package for the runner gave exit $status, expected 3 (build instead)"

# mint: the mask line first, the token nowhere else in the log, both files written.
: >"$work/output"
: >"$work/env"
GITHUB_OUTPUT=$work/output GITHUB_ENV=$work/env TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=ci-bot \
  INPUT_ROLE=explorer INPUT_ATTRIBUTES='{"region":"EU","year":2024}' INPUT_BASE_URL=$STANDIN_URL \
  "$action" mint >"$work/log" 2>"$work/stderr" || fail "mint failed: $(cat "$work/stderr")"
first=$(head -n 1 "$work/log")
[[ $first == "::add-mask::"* ]] || fail "the first line of the log is not the mask: $first"
token=${first#::add-mask::}
[[ $token =~ ^[A-Za-z0-9._-]{20,}$ ]] || fail "the masked value is not a token: $token"
[ "$(grep -cF -- "$token" "$work/log")" -eq 1 ] || fail "the token appears in the log outside the mask line"
grep -qF -- "$token" "$work/stderr" && fail "the token appears on stderr"
grep -qxF "token=$token" "$work/output" || fail "GITHUB_OUTPUT has no token=: $(cat "$work/output")"
grep -qxE 'expires-at=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$work/output" ||
  fail "GITHUB_OUTPUT has no expires-at=<RFC 3339>"
[ "$(wc -l <"$work/output")" -eq 2 ] || fail "GITHUB_OUTPUT has other lines: $(cat "$work/output")"
grep -qxF "TOUCAN_TOKEN=$token" "$work/env" || fail "GITHUB_ENV has no TOUCAN_TOKEN=: $(cat "$work/env")"
grep -qxE 'TOUCAN_TOKEN_EXPIRES_AT=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z' "$work/env" ||
  fail "GITHUB_ENV has no TOUCAN_TOKEN_EXPIRES_AT=<RFC 3339>"
cat "$work/log" "$work/stderr" "$work/output" "$work/env" | grep -qF -- "$key" && fail "the API key was printed"
echo "mint: $(sed -n 2p "$work/log")"

# Every input reaches the program as its option (a recording shim in front of the real program).
mkdir "$work/shim"
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s"\nexec "%s" "$@"\n' "$work/args" "$tool" >"$work/shim/toucan-token"
chmod +x "$work/shim/toucan-token"
printf 'region = "string"\nyear = "integer"\n' >"$work/schema.toml"
: >"$work/output"
PATH=$work/shim:$PATH GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=-u2 \
  INPUT_ROLE=viewer INPUT_ATTRIBUTES='{"region":"EU"}' INPUT_PERMISSIONS='{"p":1}' \
  INPUT_SCHEMA=$work/schema.toml INPUT_BASE_URL=$STANDIN_URL INPUT_ENDPOINT_PATH=/embed/generate-token \
  "$action" mint >"$work/log" 2>"$work/stderr" || fail "mint with every input failed: $(cat "$work/stderr")"
for arg in --distinct-id=-u2 --output=github --role=viewer '--attributes={"region":"EU"}' \
  '--permissions={"p":1}' "--schema=$work/schema.toml" "--base-url=$STANDIN_URL" \
  --endpoint-path=/embed/generate-token; do
  grep -qxF -- "$arg" "$work/args" || fail "the program was not given $arg: $(cat "$work/args")"
done
# The schema is applied, and the endpoint path used: each failure is the program's own status.
status=0
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=ci-bot INPUT_ATTRIBUTES='{"regoin":"EU"}' \
  INPUT_SCHEMA=$work/schema.toml INPUT_BASE_URL=$STANDIN_URL "$action" mint >"$work/log" 2>"$work/stderr" || status=$?
[ "$status" -eq 2 ] || fail "an attribute the schema does not declare gave exit $status, expected 2"
grep -q "did you mean 'region'" "$work/stderr" || fail "no schema message: $(cat "$work/stderr")"
status=0
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=ci-bot INPUT_BASE_URL=$STANDIN_URL \
  INPUT_ENDPOINT_PATH=/api/generate-token "$action" mint >"$work/log" 2>"$work/stderr" || status=$?
[ "$status" -eq 4 ] || fail "an endpoint path the server does not serve gave exit $status, expected 4"

# A rejected key: the program's exit status, an error annotation, no mask, no outputs.
: >"$work/output"
status=0
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=wrong-key-1234567 INPUT_DISTINCT_ID=ci-bot \
  INPUT_BASE_URL=$STANDIN_URL "$action" mint >"$work/log" 2>"$work/stderr" || status=$?
[ "$status" -eq 3 ] || fail "a rejected key gave exit $status, expected 3"
grep -q '^::error' "$work/log" || fail "no error annotation for a rejected key"
grep -q 'add-mask' "$work/log" && fail "a mask line although no token was minted"
[ ! -s "$work/output" ] || fail "outputs written although no token was minted"

# A missing distinct-id is the action's own usage error.
status=0
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID= "$action" mint >"$work/log" 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "an empty distinct-id gave exit $status, expected 2"
echo "github action: mask first, outputs and environment written, every input passed, release package verified"
