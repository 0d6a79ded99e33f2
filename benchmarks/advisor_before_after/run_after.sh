#!/usr/bin/env bash
# Re-run the "after" side: profile each scenario's bundle with this nlpops and plan its checklist.
# Usage: benchmarks/advisor_before_after/run_after.sh BUNDLES_DIR   (bundles trained as in README.md)
# WORK=DIR keeps the profiles there; REUSE=1 plans again on profiles already in WORK without measuring again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
nlpops="${NLPOPS:-$here/../../.venv/bin/nlpops}"
bundles="$1"
work="${WORK:-$(mktemp -d)}"
for pair in nightly_batch:ticket-intent multilingual_online:helpdesk-topics transformer_no_gpu:intent-minilm; do
  scenario="${pair%%:*}"; bundle="${pair##*:}"
  cd "$here/$scenario"
  {
    if [ "${REUSE:-0}" != 1 ] || [ ! -e "$work/$scenario.profile.txt" ]; then
      { echo "\$ uptime"; uptime
        echo "\$ nlpops profile BUNDLE --out profile.json"
        "$nlpops" profile "$bundles/$bundle" --out "$work/$scenario.profile.json"; } > "$work/$scenario.profile.txt" 2>&1
    fi
    cat "$work/$scenario.profile.txt"
    echo
    echo "\$ nlpops plan --config nlpops.yaml --profile-file profile.json"
    "$nlpops" plan --config nlpops.yaml --profile-file "$work/$scenario.profile.json" --out "$work/$scenario-plan" \
      | sed "s#$work/$scenario-plan/#plan/#g"
    for variant in nlpops.*.yaml; do
      [ -e "$variant" ] || continue
      echo
      if grep -q "size_mb" "$variant"; then
        echo "\$ nlpops plan --config $variant            # before training: no profile"
        "$nlpops" plan --config "$variant" --out "$work/$scenario-${variant%.yaml}" | sed "s#$work/$scenario-${variant%.yaml}/#plan/#g"
      else
        echo "\$ nlpops plan --config $variant --profile-file profile.json"
        "$nlpops" plan --config "$variant" --profile-file "$work/$scenario.profile.json" --out "$work/$scenario-${variant%.yaml}" \
          | sed "s#$work/$scenario-${variant%.yaml}/#plan/#g"
      fi
    done
  } > after.txt 2>&1
done
echo "profiles and plans in $work"
