"""Regenerate the baseline model comparison: logistic (or Cox) vs XGBoost for each task.

Run from the repository root:  uv run python experiments/baseline-model-comparison/run.py

Every run goes through ``spinerisk.training.run_experiment`` (nested CV, MLflow in the
default store mlruns/, registration under the experiment's own registered-model alias
``candidate`` is switched off here so that the study does not replace the demo's models).
Writes results.csv and results.md beside this file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spinerisk.training import load_config, run_experiment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The comparison: the shipped configs, with the study's common design.
CONFIGS = {
    "response": ("response_logistic.yaml", "response_xgboost.yaml"),
    "residual_pain": ("response_logistic.yaml", "residual_pain_xgboost.yaml"),
    "reoperation": ("reoperation_cox.yaml", "reoperation_xgboost.yaml"),
}
DESIGN = {"data.simulate.n": 4000, "data.simulate.seed": 7, "cv.folds": 3,
          "search.n_trials": 8, "search.inner_folds": 3, "cv.bootstrap": 200,
          "tracking.experiment": "baseline-model-comparison", "tracking.register_model": False}


def overrides_for(task: str, config: str) -> dict:
    """The study design, plus the task when a binary baseline config is reused."""
    extra = dict(DESIGN)
    if config == "response_logistic.yaml" and task != "response":
        raw_predictors = load_config(ROOT / "configs" / CONFIGS[task][1]).predictors
        extra.update({"task": task, "predictors": list(raw_predictors),
                      "name": f"{task}_logistic"})
    return extra


def _ci(estimate) -> str:
    return f"{estimate.estimate:.3f} ({estimate.lower:.3f}-{estimate.upper:.3f})"


def summary_row(task: str, result) -> dict:
    """Discrimination, Brier, O/E and (binary) calibration slope with 95% CIs."""
    m = result.performance.metrics
    headline = "td_auc" if result.task.is_survival else "auc"
    return {"task": task, "learner": result.config.model.learner,
            "calibration": result.config.calibration.method,
            "n": result.data_summary["rows"], "events": result.data_summary["events"],
            "discrimination": "AUC(24 mo)" if result.task.is_survival else "AUC",
            "estimate (95% CI)": _ci(m[headline]), "Brier": _ci(m["brier"]),
            "O/E": _ci(m["oe_ratio"]),
            "cal. slope": _ci(m["cal_slope"]) if "cal_slope" in m else "",
            "mlflow_run": result.run_id}


def markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main() -> pd.DataFrame:
    rows = []
    for task, configs in CONFIGS.items():
        for config in configs:
            experiment = load_config(ROOT / "configs" / config, overrides_for(task, config))
            result = run_experiment(experiment)
            rows.append(summary_row(task, result))
    table = pd.DataFrame(rows)
    table.to_csv(HERE / "results.csv", index=False)
    (HERE / "results.md").write_text(markdown(table.drop(columns="mlflow_run")))
    return table


if __name__ == "__main__":
    print(main().to_string(index=False))
