#!/usr/bin/env bash
# Regenerates experiments/multisite-pooling/{summary.md,pooled.json,figures/} (about 2 minutes
# on 2 cores): four simulated sites validated separately, then pooled from their reports.
# Site tables, site reports and the model go under $OUT (git-ignored).
set -euo pipefail
HERE=experiments/multisite-pooling
OUT=${OUT:-$HERE/reports}
RUN=${RUN:-python3 -m uv run}
$RUN python $HERE/simulate_sites.py --out "$OUT"
for SITE in A B C D; do
  $RUN spinerisk validate --model "$OUT/model.joblib" --data "$OUT/$SITE.parquet" --site "$SITE" \
    --out "$OUT/$SITE" --no-log
done
$RUN spinerisk pool "$OUT"/{A,B,C,D}/report.json --out "$OUT/pooled"
$RUN python $HERE/summarise.py --out "$OUT"
