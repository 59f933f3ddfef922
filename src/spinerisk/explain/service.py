"""One patient, end to end: record -> contract -> pathway -> risk, interval, drivers.

:class:`PatientService` is the in-process path that ``spinerisk predict``, the HTTP API
and the benchmark all use, so their answers are identical. Models are loaded once;
each call is plain numpy after validation: one record encoding, xgboost's TreeSHAP (or
the closed-form linear SHAP), one matrix product to group by clinical variable, and the
bootstrap members' margins for the interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spinerisk import schema
from spinerisk.explain.jsonable import plain
from spinerisk.explain.local import explain_patient
from spinerisk.explain.model_explainer import ModelExplainer
from spinerisk.explain.support import check_support
from spinerisk.explain.uncertainty import ENSEMBLE_ATTRIBUTE
from spinerisk.explain.wording import outcome_noun

NOTICE = "Decision support for research use; not a substitute for clinical judgement."


@dataclass
class LoadedModel:
    """A fitted RiskModel with its registry identity and its explainer.

    Parameters
    ----------
    model : RiskModel
    name : str
        Registered model name (e.g. ``spinerisk-reoperation``).
    version : str
        Registry version.
    alias : str or None
        Alias it was loaded through (e.g. ``candidate``).
    uri : str
    """

    model: Any
    name: str
    version: str
    alias: str | None
    uri: str
    explainer: ModelExplainer = field(init=False)

    def __post_init__(self):
        from spinerisk.explain.imputed import explained_model

        self.explainer = ModelExplainer(explained_model(self.model))

    @property
    def task(self) -> str:
        """The model's task name."""
        return self.model.task_.name

    def describe(self) -> dict[str, Any]:
        """Identity and training aggregates (no patient-level values)."""
        profile = self.model.training_profile_
        return {"task": self.task, "name": self.name, "version": self.version,
                "alias": self.alias, "uri": self.uri, "learner": self.model.learner,
                "calibration": self.model.calibration, "n_train": profile["n"],
                "events_train": profile["events"], "horizon": self.model.horizon_,
                "interval": (getattr(self.model, ENSEMBLE_ATTRIBUTE, None)
                             or getattr(self.model, "within_", None)) is not None,
                "explainer": self.explainer.family}


class PatientService:
    """Answer per-patient questions from a set of loaded models.

    Parameters
    ----------
    models : iterable of LoadedModel
        At most one per (task, alias).
    top : int
        Drivers shown individually in the waterfall.
    """

    def __init__(self, models: Iterable[LoadedModel], top: int = 6):
        self.loaded = list(models)
        if not self.loaded:
            raise ValueError("no model loaded; register one (spinerisk train) and give its "
                             "models:/<name>@<alias> URI")
        self.top = top

    @classmethod
    def from_uris(cls, uris: Iterable[str], top: int = 6,
                  skip_missing: bool = False) -> PatientService:
        """Load models once from MLflow registry URIs (``models:/<name>@<alias>``).

        Parameters
        ----------
        uris : iterable of str
        top : int
        skip_missing : bool
            Skip URIs that the registry does not resolve (used for the default list of
            every task's candidate alias); explicit URIs must all load.
        """
        from spinerisk.tracking.local import load_registered

        loaded, skipped = [], []
        for uri in uris:
            try:
                found = load_registered(uri)  # without mlflow where the store is local
            except LookupError:
                if not skip_missing:
                    raise
                skipped.append(uri)
                continue
            loaded.append(LoadedModel(found.model, found.name, found.version, found.alias,
                                      uri))
        if not loaded:
            from spinerisk.tracking.resolve import not_registered

            raise not_registered(skipped)  # names the store and lists what it holds
        return cls(loaded, top=top)

    def tasks(self) -> set[str]:
        """Tasks with a loaded model."""
        return {m.task for m in self.loaded}

    def models(self) -> list[dict[str, Any]]:
        """What is loaded."""
        return [m.describe() for m in self.loaded]

    # ------------------------------------------------------------------ predict
    def predict(self, record: Mapping[str, Any], task: str | None = None,
                alias: str | None = None, interval: bool = True) -> dict[str, Any]:
        """Pathway summary, calibrated risk, interval, support check and drivers.

        Parameters
        ----------
        record : mapping
            The patient record (absent or null = missing).
        task : str, optional
            Default: the task the planned procedure implies.
        alias : str, optional
            Registry alias; default: the one loaded for the task.
        interval : bool
            Compute the bootstrap interval when the model carries an ensemble.

        Raises
        ------
        spinerisk.schema.SchemaValidationError
            For a bad record, or a task/alias with no loaded model (field, value,
            allowed and fix, as everywhere else).
        """
        from spinerisk.phenotype import assess_validated

        clean = schema.validate_record(dict(record))
        pathway = assess_validated(clean)
        chosen = self._choose(clean, task, alias)
        features = pathway_feature_values(pathway)
        out = self.score(chosen, clean, features, interval=interval)
        out["pathway"] = plain(pathway)
        return out

    def score(self, chosen: LoadedModel, clean: Mapping[str, Any],
              pathway_features: Mapping[str, Any], interval: bool = True) -> dict[str, Any]:
        """Risk, interval, support check and drivers for a validated record."""
        model = chosen.model
        if hasattr(model, "imputer_"):  # developed on multiply imputed data
            return self._score_imputed(chosen, clean, pathway_features, interval)
        z = model.encode_record(clean, pathway_features)
        contributions = chosen.explainer.raw_encoded(z)
        margin = contributions.margin
        risk = float(model.calibrator_(margin)[0])
        grouped = chosen.explainer.groups.group(contributions)
        full = {**clean, **pathway_features}
        ensemble = getattr(model, ENSEMBLE_ATTRIBUTE, None) if interval else None
        span = (ensemble.interval_of_record(model, clean, z, pathway_features)
                if ensemble is not None else None)
        noise = (ensemble.contribution_sd(clean, z, pathway_features)
                 if ensemble is not None else None)
        explanation = explain_patient(
            grouped.row(0), float(grouped.base[0]), model.calibrator_, full, chosen.task,
            calibrated_risk=risk, top=self.top, margin_scale=chosen.explainer.margin_scale,
            base_label=chosen.explainer.base_label, noise_sd=noise)
        return self._answer(chosen, risk, None if span is None else plain(span), full,
                            explanation)

    def _answer(self, chosen: LoadedModel, risk: float, span, full: Mapping[str, Any],
                explanation, **extra) -> dict[str, Any]:
        return {
            "task": chosen.task, "outcome": outcome_noun(chosen.task), "risk": risk,
            "interval": span, **extra,
            "out_of_distribution": plain(check_support(full, chosen.model.training_profile_)),
            "explanation": plain(explanation),
            "model": {k: v for k, v in chosen.describe().items()
                      if k in ("name", "version", "alias", "uri", "learner")},
            "notice": NOTICE,
        }

    def _score_imputed(self, chosen: LoadedModel, clean: Mapping[str, Any],
                       pathway_features: Mapping[str, Any], interval: bool) -> dict[str, Any]:
        """A model developed on multiply imputed data (:mod:`spinerisk.explain.imputed`):
        the answer also lists the findings that were imputed."""
        from spinerisk.explain.imputed import score_imputed

        out = score_imputed(chosen.model, chosen.explainer, clean, pathway_features,
                            chosen.task, self.top, interval)
        return self._answer(chosen, out["risk"], plain(out["interval"]),
                            {**clean, **pathway_features}, out["explanation"],
                            imputed=out["imputed"])

    def _choose(self, clean: Mapping[str, Any], task: str | None,
                alias: str | None) -> LoadedModel:
        if task is None:
            procedure = clean.get("procedure")
            if procedure is None:
                raise schema.SchemaValidationError([schema.Problem(
                    "procedure", "missing; the planned procedure decides which risk to predict",
                    allowed=schema.FIELD_BY_NAME["procedure"].allowed(),
                    fix="record the planned procedure, or name the task in the request")])
            task = schema.PROCEDURES[procedure]
        matches = [m for m in self.loaded if m.task == task
                   and (alias is None or m.alias == alias)]
        if not matches:
            loaded = ", ".join(sorted(f"{m.name}@{m.alias or m.version} (procedures: "
                                      f"{', '.join(schema.TASKS[m.task].procedures)})"
                                      if m.task in schema.TASKS else f"{m.name}@{m.alias}"
                                      for m in self.loaded))
            implied = (f"the planned procedure {clean.get('procedure')!r} implies the "
                       f"{task} task, but " if clean.get("procedure") else "")
            raise schema.SchemaValidationError([schema.Problem(
                "model" if alias else "task", implied + f"no model for the {task} task"
                + (f" with alias {alias!r}" if alias else "") + " is loaded",
                allowed=f"loaded: {loaded}",
                fix=f"load models:/spinerisk-{task}@candidate (--model), or give a patient "
                    "whose planned procedure one of the loaded models predicts")])
        return matches[0]


def pathway_feature_values(result) -> dict[str, Any]:
    """The care-pathway model features of one patient, read from its PathwayResult.

    Equal to :func:`spinerisk.phenotype.pathway_features` on the same record (a test
    checks this), without building a one-row DataFrame.
    """
    values: dict[str, Any] = {f"phenotype_{p.name}": int(p.status == "supported")
                              for p in result.phenotypes}
    values["red_flag_any"] = int(bool(result.red_flags))
    values["concordance"] = result.concordance.label
    return values
