#!/usr/bin/env bash
# Lints openapi.yaml with Redocly CLI and Spectral (pinned in tests/lint/package.json), using the
# rulesets at the repository root (redocly.yaml, .spectral.yaml). Any finding fails.
#
#   tests/lint/lint.sh            # installs the linters on first use (npm ci), then lints
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# Reinstall only when the lock file changed (npm ci always starts from scratch).
stamp="$here/node_modules/.ci-stamp"
lock_hash=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" >"$stamp"
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
cd "$root"
status=0
echo "== redocly lint (redocly.yaml)"
# The banner about Node 20's end of life goes to stderr and is not a finding.
"$here/node_modules/.bin/redocly" lint openapi.yaml --config redocly.yaml --format stylish 2> >(grep -v -E '^\s*(║|╔|╚)' >&2) || status=1
echo "== spectral lint (.spectral.yaml)"
"$here/node_modules/.bin/spectral" lint openapi.yaml --ruleset .spectral.yaml --fail-severity=hint --format stylish || status=1
exit $status
