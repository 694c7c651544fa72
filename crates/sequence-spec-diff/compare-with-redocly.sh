#!/usr/bin/env bash
# Reproduces the table in COMPARISON.md: for every fixture pair under
# tests/fixtures/<case>/{old,new}.yaml, compares this crate's overall verdict
# with `redocly diff` (and, with --with-optic, Optic's breaking-change check).
#
# Usage: crates/sequence-spec-diff/compare-with-redocly.sh [--with-optic]
#
# Needs cargo, node and npm. The tools are installed into a temporary prefix
# that is deleted on exit; nothing global is touched. Pin other versions with
# REDOCLY_VERSION / OPTIC_VERSION. Exit status is 0 even when verdicts differ:
# disagreements are expected and explained in COMPARISON.md.
#
# How a verdict is read from each tool:
#   ours    exit status of `cargo run --example spec-diff` (1 = breaking)
#   redocly `bump` in `redocly diff --format json`: "major" = breaking
#   optic   exit status of `optic diff --check` (1 = breaking), with
#           skip_when_major_version_changes turned off: by default Optic skips
#           its breaking-change rules whenever info.version gets a major bump,
#           and several fixtures bump it.
set -euo pipefail

with_optic=false
case "${1:-}" in
  --with-optic) with_optic=true ;;
  "") ;;
  *) echo "usage: $0 [--with-optic]" >&2; exit 2 ;;
esac

crate_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fixtures="$crate_dir/tests/fixtures"
redocly_version="${REDOCLY_VERSION:-2.77.0}"
optic_version="${OPTIC_VERSION:-1.0.9}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true OPTIC_TELEMETRY_DISABLED=true

echo "Installing @redocly/cli@$redocly_version into $work/redocly ..." >&2
npm install -g --prefix "$work/redocly" --no-audit --no-fund --loglevel=error \
  "@redocly/cli@$redocly_version" >&2
redocly="$work/redocly/bin/redocly"

if $with_optic; then
  echo "Installing @useoptic/optic@$optic_version into $work/optic ..." >&2
  mkdir "$work/optic"
  # The plain install crashes at startup (ajv-errors/ajv mismatch); pinning
  # ajv through an override is the known workaround (tooling.md §4).
  cat >"$work/optic/package.json" <<EOF
{"name": "optic-check", "private": true,
 "dependencies": {"@useoptic/optic": "$optic_version"},
 "overrides": {"ajv": "8.17.1"}}
EOF
  (cd "$work/optic" && npm install --no-audit --no-fund --loglevel=error >&2)
  optic="$work/optic/node_modules/.bin/optic"
  cat >"$work/optic/optic.dev.yml" <<'EOF'
ruleset:
  - breaking-changes:
      skip_when_major_version_changes: false
EOF
fi

echo "Building the spec-diff example ..." >&2
cargo build --quiet --manifest-path "$crate_dir/Cargo.toml" --example spec-diff >&2

# Prints "breaking", "non-breaking" or "no change" for our library.
ours() {
  local output status=0
  output="$(cargo run --quiet --manifest-path "$crate_dir/Cargo.toml" --example spec-diff -- "$1" "$2")" || status=$?
  case "$status" in
    0) if grep -q '^No changes to the API' <<<"$output"; then echo "no change"; else echo "non-breaking"; fi ;;
    1) echo "breaking" ;;
    *) echo "error" ;;
  esac
}

# Prints "<bump>|<rule ids of major changes>" for redocly.
redocly_verdict() {
  local json
  if ! json="$("$redocly" diff "$1" "$2" --format json --fail-on none 2>>"$work/redocly.log")"; then
    echo "error|"
    return
  fi
  node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const report = JSON.parse(text);
      const rules = new Set();
      for (const change of report.changes) {
        for (const v of change.verdicts || []) if (v.impact === "major") rules.add(v.ruleId);
      }
      console.log(`${report.bump || "none"}|${[...rules].join(", ")}`);
    });' <<<"$json"
}

# Prints "<breaking|non-breaking>|<failed rule names>" for Optic.
optic_verdict() {
  local output status=0
  output="$(cd "$work/optic" && "$optic" diff "$1" "$2" --check --standard "$work/optic/optic.dev.yml" 2>&1)" || status=$?
  local rules
  rules="$(sed 's/\x1b\[[0-9;]*m//g' <<<"$output" | grep -oE '^\s*x \[[^]]*\]' | sed -E 's/^\s*x \[(.*)\]/\1/' | sort -u | paste -sd ';' - | sed 's/;/; /g')"
  case "$status" in
    0) echo "non-breaking|$rules" ;;
    1) echo "breaking|$rules" ;;
    *) echo "error|$rules" ;;
  esac
}

is_breaking() { [[ "$1" == "breaking" ]]; }

if $with_optic; then
  echo "| Case | Ours | redocly bump (major rules) | Optic (failed rules) | Agree |"
  echo "|---|---|---|---|---|"
else
  echo "| Case | Ours | redocly bump (major rules) | Agree |"
  echo "|---|---|---|---|"
fi

total=0
agreed=0
redocly_agreed=0
optic_agreed=0
for dir in "$fixtures"/*/; do
  case_name="$(basename "$dir")"
  old="$dir/old.yaml"
  new="$dir/new.yaml"
  [[ -f "$old" && -f "$new" ]] || continue
  total=$((total + 1))

  our="$(ours "$old" "$new")"
  IFS='|' read -r bump redocly_rules <<<"$(redocly_verdict "$old" "$new")"
  redocly_breaking=non-breaking
  [[ "$bump" == major ]] && redocly_breaking=breaking
  redocly_cell="$bump${redocly_rules:+ ($redocly_rules)}"

  agree=yes
  if { is_breaking "$our" && ! is_breaking "$redocly_breaking"; } ||
     { ! is_breaking "$our" && is_breaking "$redocly_breaking"; }; then
    agree="no (redocly)"
  else
    redocly_agreed=$((redocly_agreed + 1))
  fi

  if $with_optic; then
    IFS='|' read -r optic_breaking optic_rules <<<"$(optic_verdict "$old" "$new")"
    optic_cell="$optic_breaking${optic_rules:+ ($optic_rules)}"
    if { is_breaking "$our" && ! is_breaking "$optic_breaking"; } ||
       { ! is_breaking "$our" && is_breaking "$optic_breaking"; }; then
      if [[ "$agree" == yes ]]; then agree="no (Optic)"; else agree="no (both)"; fi
    else
      optic_agreed=$((optic_agreed + 1))
    fi
    echo "| \`$case_name\` | $our | $redocly_cell | $optic_cell | $agree |"
  else
    echo "| \`$case_name\` | $our | $redocly_cell | $agree |"
  fi
  if [[ "$agree" == yes ]]; then agreed=$((agreed + 1)); fi
done

echo
echo "redocly agrees with us on $redocly_agreed of $total cases."
if $with_optic; then
  echo "Optic agrees with us on $optic_agreed of $total cases; all three agree on $agreed."
fi
