"""CPU time per request of the in-process prediction path, step by step, by batch size.

Times each step of :meth:`spinerisk.explain.PatientService.predict_many` (validation,
pathway rules, encoding, the model's TreeSHAP and risk, the interval, the drivers' noise
over the bootstrap members, the waterfall and support check, the JSON-ready pathway) with
``time.process_time``, for batches of 1, 4 and 8 patients: the work a server worker does
per request at concurrency 1 and under load. Best of 5 passes over the records.

On a source tree without the batched path (``PYTHONPATH=<tree>/src``), the same steps are
timed one patient at a time (batch size 1 only), for a before/after comparison.

Run: ``uv run python benchmarks/bench_serve.py --folder /tmp/bench-serve`` first (it fits
the model and writes the records), then
``OMP_NUM_THREADS=1 uv run python benchmarks/bench_serve_cpu.py /tmp/bench-serve/ours``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder with model.joblib and records.json")
    parser.add_argument("--sizes", default="1,4,8", help="batch sizes")
    args = parser.parse_args()
    import joblib

    from spinerisk import phenotype
    from spinerisk.explain.service import LoadedModel, PatientService

    model = joblib.load(Path(args.folder) / "model.joblib")
    records = json.loads((Path(args.folder) / "records.json").read_text())
    loaded = LoadedModel(model, "spinerisk-reoperation", "1", "bench", "models:/bench")
    PatientService([loaded]).predict(records[0])  # warm
    batched = hasattr(phenotype, "assess_many")
    sizes = [int(s) for s in args.sizes.split(",")] if batched else [1]
    for size in sizes:
        steps, n = _best(loaded, records, size, batched)
        print(f"{'batched' if batched else 'one at a time'}, batch size {size}: "
              f"{1e3 * sum(steps.values()) / n:.3f} ms CPU a request")
        for name, seconds in steps.items():
            print(f"    {name:40s} {1e3 * seconds / n:.3f}")


def _best(loaded, records, size: int, batched: bool) -> tuple[dict[str, float], int]:
    best = None
    for _ in range(5):
        steps: dict[str, float] = {}
        n = 0
        for i in range(0, len(records), size):
            batch = [records[(i + j) % len(records)] for j in range(size)]
            _steps(loaded, batch, steps, batched)
            n += size
        if best is None or sum(steps.values()) < sum(best[0].values()):
            best = (steps, n)
    return best


def _steps(loaded, batch: list[dict], steps: dict[str, float], batched: bool) -> None:
    """One batch through the same calls as ``predict_many`` (one by one when not
    ``batched``), adding each step's CPU seconds to ``steps``."""
    from spinerisk import phenotype, schema
    from spinerisk.explain.jsonable import plain
    from spinerisk.explain.local import explain_patient
    from spinerisk.explain.service import pathway_feature_values
    from spinerisk.explain.support import check_support

    model, explainer, ensemble = loaded.model, loaded.explainer, loaded.model.bootstrap_
    clock = [time.process_time()]

    def tick(name: str) -> None:
        now = time.process_time()
        steps[name] = steps.get(name, 0.0) + now - clock[0]
        clock[0] = now

    cleans = [schema.validate_record(dict(r)) for r in batch]
    tick("validate the record")
    paths = (phenotype.assess_many(cleans) if batched
             else [phenotype.assess_validated(c) for c in cleans])
    tick("pathway rules")
    features = [pathway_feature_values(p) for p in paths]
    z = np.vstack([model.encode_record(c, f) for c, f in zip(cleans, features)])
    rows = [z[i:i + 1] for i in range(len(batch))]
    tick("encode")
    if batched:
        contributions = explainer.raw_encoded(z)
        risks = model.calibrator_(contributions.margin)
        grouped = [explainer.groups.group(contributions)] * len(batch)
        at = list(range(len(batch)))
        tick("drivers: TreeSHAP of the model, risk")
        spans = ensemble.intervals_of_rows(model, cleans, z, features)
        tick("interval")
        noises = ensemble.contribution_sds(cleans, z, features)
        tick("drivers' noise (SHAP of the members)")
    else:
        raw = [explainer.raw_encoded(r) for r in rows]
        grouped = [explainer.groups.group(c) for c in raw]
        risks = [float(model.calibrator_(c.margin)[0]) for c in raw]
        at = [0] * len(batch)
        tick("drivers: TreeSHAP of the model, risk")
        spans = [ensemble.interval_of_record(model, c, r, f)
                 for c, r, f in zip(cleans, rows, features)]
        tick("interval")
        noises = [ensemble.contribution_sd(c, r, f) for c, r, f in zip(cleans, rows, features)]
        tick("drivers' noise (SHAP of the members)")
    for i, (clean, feature) in enumerate(zip(cleans, features)):
        full = {**clean, **feature}
        explanation = explain_patient(
            grouped[i].row(at[i]), float(grouped[i].base[at[i]]), model.calibrator_, full,
            loaded.task, calibrated_risk=float(risks[i]), top=6,
            margin_scale=explainer.margin_scale, base_label=explainer.base_label,
            noise_sd=noises[i])
        plain(explanation)
        plain(check_support(full, model.training_profile_))
        plain(spans[i])
    tick("waterfall, support check, JSON-ready")
    for pathway in paths:
        plain(pathway)
    tick("pathway to JSON-ready")


if __name__ == "__main__":
    main()
