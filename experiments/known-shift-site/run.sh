#!/usr/bin/env bash
# Regenerates experiments/known-shift-site/summary.md (about 2 minutes on 2 cores).
# Generated tables, reports and the MLflow store go under $OUT (git-ignored).
set -euo pipefail
OUT=${OUT:-experiments/known-shift-site/reports}
mkdir -p "$OUT"
export SPINERISK_TRACKING_URI=${SPINERISK_TRACKING_URI:-sqlite:///$OUT/mlflow.db}
uv run python experiments/known-shift-site/simulate_sites.py --out "$OUT"
uv run spinerisk validate --model models:/spinerisk-response@candidate --data "$OUT/NEW.parquet" \
  --site NEW --out "$OUT/NEW" --register-update
uv run spinerisk validate --model models:/spinerisk-response@candidate --data "$OUT/SAME.parquet" \
  --site SAME --out "$OUT/SAME"
uv run python experiments/known-shift-site/check_fresh.py --out "$OUT"
