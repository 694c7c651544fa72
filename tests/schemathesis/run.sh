#!/usr/bin/env bash
# Runs schemathesis against a live sequence-server.
#
#   tests/schemathesis/run.sh <base-url> <api-key> [extra schemathesis args...]
#   e.g. tests/schemathesis/run.sh http://127.0.0.1:8080/api/v1 "$KEY"
#
# The server must run with --sandbox (or --demo) so the /sandbox operations exist, and the key
# must carry every scope (the --demo key does).
#
# Environment:
#   ST_REPORT_DIR    where reports go (default target/schemathesis)
#   ST_REPORT_NAME   report file prefix (default schemathesis; CI uses sqlite / postgres)
#   ST_MAX_EXAMPLES  examples per operation and phase (default from schemathesis.toml)
#   SCHEMATHESIS     a schemathesis binary to use instead of target/ci-tools/venv/bin/schemathesis
#                    (which this script installs from requirements.txt on first use)
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 <base-url> <api-key> [extra schemathesis args...]" >&2
    exit 2
fi
base_url=$1
key=$2
shift 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$root/target/ci-tools/venv"
schemathesis=${SCHEMATHESIS:-}
if [[ -z $schemathesis ]]; then
    # The pinned set in requirements.txt, (re)installed when the file changes.
    stamp="$venv/.requirements.sha256"
    want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
    if [[ ! -x $venv/bin/schemathesis || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        echo "installing schemathesis (tests/schemathesis/requirements.txt) into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
        echo "$want" >"$stamp"
    fi
    schemathesis=$venv/bin/schemathesis
fi

report_dir=${ST_REPORT_DIR:-$root/target/schemathesis}
# Distinguishes reports of several runs (CI runs once over SQLite and once over PostgreSQL).
report_name=${ST_REPORT_NAME:-schemathesis}
mkdir -p "$report_dir"

args=(
    --config-file "$here/schemathesis.toml"
    --no-color
    run "$root/openapi.yaml"
    --url "$base_url"
    -H "Authorization: ApiKey $key"
    --report "junit,ndjson,html"
    --report-junit-path "$report_dir/$report_name.junit.xml"
    --report-ndjson-path "$report_dir/$report_name.ndjson"
    --report-html-path "$report_dir/$report_name-html"
)
if [[ -n ${ST_MAX_EXAMPLES:-} ]]; then
    args+=(--max-examples "$ST_MAX_EXAMPLES")
fi

export SCHEMATHESIS_HOOKS="$here/hooks.py"
# hooks.py looks up the demo accounts (see its docstring) with these.
export SEQUENCE_ST_BASE_URL="$base_url" SEQUENCE_ST_API_KEY="$key"
# Schemathesis masks Authorization in its output and reports.
status=0
"$schemathesis" "${args[@]}" "$@" || status=$?

# What the run reached, per operation (informational).
if [[ -f $report_dir/$report_name.ndjson ]]; then
    echo
    echo "Responses per operation ($report_dir/$report_name.ndjson):"
    python3 "$here/summary.py" "$report_dir/$report_name.ndjson" || true
fi
exit $status
