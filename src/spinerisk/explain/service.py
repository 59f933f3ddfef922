"""One patient, end to end: record -> contract -> pathway -> risk, interval, drivers.

:class:`PatientService` is the in-process path that ``spinerisk predict``, the HTTP API
and the benchmark all use, so their answers are identical. Models are loaded once;
each call is plain numpy after validation: one record encoding, xgboost's TreeSHAP (or
the closed-form linear SHAP), one matrix product to group by clinical variable, and the
bootstrap members' margins for the interval. :meth:`PatientService.predict_many` answers
several patients at once (the server's micro-batches), each answer equal to the patient's
own :meth:`PatientService.predict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from spinerisk import schema
from spinerisk.explain.jsonable import plain
from spinerisk.explain.local import explain_patient
from spinerisk.explain.model_explainer import ModelExplainer
from spinerisk.explain.support import check_support
from spinerisk.explain.uncertainty import ENSEMBLE_ATTRIBUTE
from spinerisk.explain.wording import outcome_noun

NOTICE = "Decision support for research use; not a substitute for clinical judgement."


class Query(NamedTuple):
    """One patient to predict: the record, and optionally the task and registry alias
    (the arguments of :meth:`PatientService.predict`)."""

    record: Mapping[str, Any]
    task: str | None = None
    alias: str | None = None


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
        ensemble = getattr(self.model, ENSEMBLE_ATTRIBUTE, None)
        if ensemble is not None and hasattr(ensemble, "prepare"):
            ensemble.prepare()  # once, at load: a server's forked workers share it

    @property
    def task(self) -> str:
        """The model's task name."""
        return self.model.task_.name

    def identity(self) -> dict[str, Any]:
        """Which model answered: the part of :meth:`describe` each answer carries."""
        return {"name": self.name, "version": self.version, "alias": self.alias,
                "uri": self.uri, "learner": self.model.learner}

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
        # the care pathway's rule book, parsed once here rather than on the first patient:
        # a server's forked workers then share it, and no worker's first request waits
        # the 0.2-0.5 s of parsing it (with the requests batched behind it)
        from spinerisk.phenotype.rules import default_rules

        default_rules()

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
        (answer,) = self.predict_many([Query(record, task, alias)], interval=interval)
        if isinstance(answer, schema.SchemaValidationError):
            raise answer
        return answer

    def predict_many(self, queries: Sequence[Query], interval: bool = True
                     ) -> list[dict[str, Any] | schema.SchemaValidationError]:
        """:meth:`predict` for several patients at once (the server's micro-batches).

        The records are validated one by one, the care pathway runs over all of them as
        one table, and each model scores its patients together (one encoding matrix, one
        explainer call per ensemble member). Every answer equals that patient's own
        :meth:`predict` (which is this method with one query).

        Returns
        -------
        list
            Per query, in order: its answer, or the ``SchemaValidationError`` that
            :meth:`predict` would raise for it.
        """
        from spinerisk.phenotype import assess_many

        answers: list[Any] = [None] * len(queries)
        valid: list[tuple[int, dict[str, Any]]] = []
        for i, query in enumerate(queries):
            try:
                valid.append((i, schema.validate_record(dict(query.record))))
            except schema.SchemaValidationError as err:
                answers[i] = err
        pathways = assess_many([clean for _, clean in valid])
        by_model: dict[int, list[tuple[int, dict[str, Any], Any]]] = {}
        for (i, clean), pathway in zip(valid, pathways):
            try:
                chosen = self._choose(clean, queries[i].task, queries[i].alias)
            except schema.SchemaValidationError as err:
                answers[i] = err
                continue
            by_model.setdefault(self.loaded.index(chosen), []).append((i, clean, pathway))
        for index, group in by_model.items():
            scored = self.score_many(self.loaded[index], [clean for _, clean, _ in group],
                                     [pathway_feature_values(p) for _, _, p in group],
                                     interval=interval)
            for (i, _, pathway), out in zip(group, scored):
                out["pathway"] = plain(pathway)
                answers[i] = out
        return answers

    def score(self, chosen: LoadedModel, clean: Mapping[str, Any],
              pathway_features: Mapping[str, Any], interval: bool = True) -> dict[str, Any]:
        """Risk, interval, support check and drivers for a validated record."""
        return self.score_many(chosen, [clean], [pathway_features], interval=interval)[0]

    def score_many(self, chosen: LoadedModel, cleans: Sequence[Mapping[str, Any]],
                   pathway_features: Sequence[Mapping[str, Any]],
                   interval: bool = True) -> list[dict[str, Any]]:
        """:meth:`score` for several validated records of one model at once."""
        model = chosen.model
        if hasattr(model, "imputer_"):  # developed on multiply imputed data
            return [self._score_imputed(chosen, c, f, interval)
                    for c, f in zip(cleans, pathway_features)]
        z = np.vstack([model.encode_record(c, f) for c, f in zip(cleans, pathway_features)])
        contributions = chosen.explainer.raw_encoded(z)
        risks = model.calibrator_(contributions.margin).tolist()
        grouped = chosen.explainer.groups.group(contributions)
        ensemble = getattr(model, ENSEMBLE_ATTRIBUTE, None) if interval else None
        spans = (ensemble.intervals_of_rows(model, cleans, z, pathway_features)
                 if ensemble is not None else [None] * len(cleans))
        noises = (ensemble.contribution_sds(cleans, z, pathway_features)
                  if ensemble is not None else [None] * len(cleans))
        out = []
        for i, (clean, features) in enumerate(zip(cleans, pathway_features)):
            full = {**clean, **features}
            explanation = explain_patient(
                grouped.row(i), float(grouped.base[i]), model.calibrator_, full, chosen.task,
                calibrated_risk=risks[i], top=self.top,
                margin_scale=chosen.explainer.margin_scale,
                base_label=chosen.explainer.base_label, noise_sd=noises[i])
            out.append(self._answer(chosen, risks[i],
                                    None if spans[i] is None else plain(spans[i]), full,
                                    explanation))
        return out

    def _answer(self, chosen: LoadedModel, risk: float, span, full: Mapping[str, Any],
                explanation, **extra) -> dict[str, Any]:
        return {
            "task": chosen.task, "outcome": outcome_noun(chosen.task), "risk": risk,
            "interval": span, **extra,
            "out_of_distribution": plain(check_support(full, chosen.model.training_profile_)),
            "explanation": plain(explanation),
            "model": chosen.identity(),
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
