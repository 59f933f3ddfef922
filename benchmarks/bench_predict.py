"""Per-patient risk + grouped explanation: spinerisk's in-process path vs the plain stack.

Ours: :class:`spinerisk.explain.PatientService` -- the exact code path behind
``POST /v1/predict`` and ``spinerisk predict``. Timed twice: ``score`` (risk + grouped
explanation of a validated record with its pathway features: numpy encoding, xgboost
``pred_contribs``, grouping by clinical variable, probability waterfall and sentences,
out-of-distribution check; optionally the bootstrap interval), and ``predict``, the
whole request (plus contract validation and the care-pathway summary). Baseline: a one-row pandas DataFrame with categorical dtypes through
``Pipeline(one-hot + XGBClassifier).predict_proba`` plus ``shap.TreeExplainer`` on the
transformed row (no pathway, no grouping, no sentences: the baseline does less work).

Also: batch scoring with contributions (risk + grouped SHAP for every row), rows/minute.

Run: ``uv run python benchmarks/bench_predict.py`` (``--help`` for sizes).
Targets (issue 6): p99 <= 5 ms and >= 5x faster than the baseline without the interval;
p99 <= 20 ms with it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _train(n: int, members: int, seed: int):
    from spinerisk.cohort import simulate
    from spinerisk.explain import fit_bootstrap_ensemble
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(n, tasks=("response",), seed=seed).frame
    frame = frame[frame["response_50"].notna()].reset_index(drop=True)
    y = frame["response_50"].to_numpy(int)
    started = time.perf_counter()
    model = RiskModel(spine_task("response"), learner="xgboost", calibration="platt",
                      calibration_folds=3, random_state=seed).fit(frame, y)
    print(f"trained xgboost (300 trees, depth 3) on {len(frame)} rows in "
          f"{time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=members, seed=seed,
                                              progress=True)
    print(f"bootstrap ensemble ({members} refits) in {time.perf_counter() - started:.1f} s")
    return model, frame, y


def _records(frame: pd.DataFrame, k: int) -> list[dict]:
    from spinerisk import schema

    keep = [c for c in frame.columns if schema.FIELD_BY_NAME[c].role in ("predictor",
                                                                           "procedure")]
    rows = frame[keep].iloc[:k].astype(object).where(frame[keep].iloc[:k].notna(), None)
    return [{k_: v for k_, v in r.items() if v is not None} for r in rows.to_dict("records")]


def _prepare(record: dict) -> tuple[dict, dict]:
    """The contract-validated record and its care-pathway features (the inputs of
    ``PatientService.score``)."""
    from spinerisk import schema
    from spinerisk.explain import pathway_feature_values
    from spinerisk.phenotype import assess_patient

    clean = schema.validate_record(record)
    return clean, pathway_feature_values(assess_patient(clean))


def _time(fn, inputs, calls: int) -> np.ndarray:
    for x in inputs[:20]:  # warm-up
        fn(x)
    out = np.empty(calls)
    for i in range(calls):
        x = inputs[i % len(inputs)]
        started = time.perf_counter()
        fn(x)
        out[i] = time.perf_counter() - started
    return out * 1e3


def _baseline(frame: pd.DataFrame, y: np.ndarray, predictors: list[str], seed: int):
    """Pipeline(one-hot + XGBClassifier) and shap.TreeExplainer: the plain stack."""
    import shap
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    categorical = [c for c in predictors if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in predictors if c not in categorical]
    X = frame[predictors].copy()
    X[numeric] = X[numeric].astype(float)
    pipe = Pipeline([
        ("encode", ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore",
                                                               sparse_output=False),
                                       categorical)], remainder="passthrough")),
        ("model", xgb.XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05,
                                    n_jobs=1, random_state=seed))]).fit(X, y)
    explainer = shap.TreeExplainer(pipe.named_steps["model"])
    dtypes = X.dtypes

    def one(record: dict):
        row = pd.DataFrame([{c: record.get(c, np.nan) for c in predictors}]).astype(dtypes)
        risk = pipe.predict_proba(row)[0, 1]
        values = explainer.shap_values(pipe.named_steps["encode"].transform(row))
        return risk, values

    return one


def _summary(name: str, ms: np.ndarray) -> tuple[float, float]:
    median, p99 = np.median(ms), np.percentile(ms, 99)
    print(f"{name:<48} median {median:7.2f} ms   p99 {p99:7.2f} ms   ({len(ms)} calls)")
    return median, p99


def _batch(model, frame: pd.DataFrame, rows: int) -> None:
    from spinerisk.explain import ModelExplainer

    explainer = ModelExplainer(model)
    reps = int(np.ceil(rows / len(frame)))
    big = pd.concat([frame] * reps, ignore_index=True).iloc[:rows]
    started = time.perf_counter()
    Z = np.vstack([explainer.encode_frame(big.iloc[i:i + 100_000])
                   for i in range(0, rows, 100_000)])
    encoded = time.perf_counter() - started
    grouped = explainer.explain_batch(Z)
    risk = model.risk_of_encoded(Z)
    total = time.perf_counter() - started
    assert risk.shape == (rows,) and grouped.values.shape[0] == rows
    print(f"batch risk + grouped contributions, {rows:,} rows: {total:.1f} s "
          f"({rows / total * 60:,.0f} rows/min; encoding {encoded:.1f} s, "
          f"risk, TreeSHAP tables + grouping {total - encoded:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6000, help="training rows")
    parser.add_argument("--members", type=int, default=20, help="bootstrap refits")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls (ours)")
    parser.add_argument("--baseline-calls", type=int, default=300, help="timed calls (baseline)")
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="batch scoring rows")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from spinerisk.explain import LoadedModel, PatientService

    model, frame, y = _train(args.n, args.members, args.seed)
    service = PatientService([LoadedModel(model, "spinerisk-response", "bench", "candidate",
                                          "in-process")])
    records = _records(frame, 500)
    prepared = [_prepare(r) for r in records]
    chosen = service.loaded[0]
    ours = _time(lambda p: service.score(chosen, *p, interval=False), prepared, args.calls)
    with_interval = _time(lambda p: service.score(chosen, *p, interval=True), prepared,
                          args.calls)
    full = _time(lambda r: service.predict(r, interval=False), records, args.calls)
    full_interval = _time(lambda r: service.predict(r, interval=True), records, args.calls)
    predictors = [v.name for v in model.task_.variables if v.source != "pathway"]
    baseline = _time(_baseline(frame, y, predictors, args.seed), records, args.baseline_calls)

    print()
    m_ours, p_ours = _summary("risk + grouped explanation (validated record)", ours)
    _, p_int = _summary(f"  ... + interval ({args.members} members)", with_interval)
    m_full, p_full = _summary("full API path (+ contract, pathway summary)", full)
    _summary(f"  ... + interval ({args.members} members)", full_interval)
    m_base, p_base = _summary("baseline: Pipeline.predict_proba + TreeExplainer", baseline)
    print(f"speed-up, risk + explanation: median {m_base / m_ours:.1f}x, p99 "
          f"{p_base / p_ours:.1f}x; full API path: median {m_base / m_full:.1f}x, p99 "
          f"{p_base / p_full:.1f}x (target >= 5x)")
    print(f"targets: p99 {p_ours:.2f} <= 5 ms: {p_ours <= 5}; with interval p99 "
          f"{p_int:.2f} <= 20 ms: {p_int <= 20}")
    if args.batch_rows:
        _batch(model, frame, args.batch_rows)


if __name__ == "__main__":
    main()
