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
for input in distinct-id role attributes base-url; do
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

# mint: the mask line first, the token nowhere else in the log, both outputs written.
: >"$work/output"
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=ci-bot INPUT_ROLE=explorer \
  INPUT_ATTRIBUTES='{"region":"EU","year":2024}' INPUT_BASE_URL=$STANDIN_URL \
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
cat "$work/log" "$work/stderr" "$work/output" | grep -qF -- "$key" && fail "the API key was printed"
echo "mint: $(sed -n 2p "$work/log")"

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
# A distinct id that looks like an option stays a value.
GITHUB_OUTPUT=$work/output TOUCAN_API_KEY=$key INPUT_DISTINCT_ID=--help INPUT_BASE_URL=$STANDIN_URL \
  "$action" mint >"$work/log" 2>&1 || fail "a distinct id starting with -- was taken as an option"
echo "github action: mask first, outputs written, failures reported"
