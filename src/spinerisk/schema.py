"""The patient data contract: one row is one procedure episode.

Every field has a kind, a unit, an allowed range or level set, a missing policy, the
tasks whose populations record it, and a one-line clinical description. The same
definitions drive table validation, the data dictionary and (later) preprocessing.

Validation never drops, clips, imputes or coerces a value: it reports *all* problems
at once, each naming the field, the rows, the offending values, what was allowed and
how to fix it.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from spinerisk.errors import ConfigError, ContractError

Kind = Literal["identifier", "numeric", "integer", "binary", "category"]
Role = Literal["identifier", "predictor", "procedure", "outcome"]

TASK_NAMES: tuple[str, ...] = ("response", "residual_pain", "reoperation")
ALL_TASKS = frozenset(TASK_NAMES)
AUGMENTATION = frozenset({"residual_pain"})
ENDOSCOPIC = frozenset({"reoperation"})


@dataclass(frozen=True)
class Field:
    """One column of the patient record.

    Parameters
    ----------
    name : str
        Canonical column name.
    kind : {"identifier", "numeric", "integer", "binary", "category"}
        Value type. Binary fields hold 0/1; integer fields hold whole numbers.
    group : str
        Section of the data dictionary (and of the clinician form).
    description : str
        One-line clinical description.
    role : {"identifier", "predictor", "procedure", "outcome"}
        What the field is used for.
    unit : str
        Unit of measurement ("" when unitless).
    low, high : float or None
        Inclusive allowed range for numeric and integer fields.
    levels : tuple of str or None
        Allowed levels for category fields, in clinical order.
    nullable : bool
        Whether a value may be missing in rows whose task records the field.
    tasks : frozenset of str
        Task populations in which the field is recorded; other rows may leave it empty.
    """

    name: str
    kind: Kind
    group: str
    description: str
    role: Role = "predictor"
    unit: str = ""
    low: float | None = None
    high: float | None = None
    levels: tuple[str, ...] | None = None
    nullable: bool = True
    tasks: frozenset[str] = ALL_TASKS

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and the dictionary."""
        if self.kind == "category":
            return "one of " + ", ".join(self.levels or ())
        if self.kind == "binary":
            return "0 (no) or 1 (yes)"
        if self.kind == "identifier":
            return "a non-empty pseudonymous identifier"
        span = f"{self.low:g}-{self.high:g}"
        whole = " (whole numbers)" if self.kind == "integer" else ""
        return f"{span} {self.unit}{whole}".replace("  ", " ").strip()


def _num(name, group, description, unit, low, high, **kw) -> Field:
    return Field(name, "numeric", group, description, unit=unit, low=low, high=high, **kw)


def _int(name, group, description, low, high, unit="grade", **kw) -> Field:
    return Field(name, "integer", group, description, unit=unit, low=low, high=high, **kw)


def _bin(name, group, description, **kw) -> Field:
    return Field(name, "binary", group, description, **kw)


def _cat(name, group, description, levels, **kw) -> Field:
    return Field(name, "category", group, description, levels=tuple(levels), **kw)


#: Procedures and the task population each belongs to.
PROCEDURES: dict[str, str] = {
    "tf_esi": "response",
    "il_esi": "response",
    "caudal_esi": "response",
    "drg_prf": "response",
    "facet_ia_steroid": "response",
    "facet_rfa": "response",
    "sij_block": "response",
    "sij_rfa": "response",
    "bvna": "response",
    "mild": "response",
    "pldd": "response",
    "ozone": "response",
    "cooled_rf_disc": "response",
    "snrb": "response",
    "mbb": "response",
    "vertebroplasty": "residual_pain",
    "kyphoplasty": "residual_pain",
    "peld_transforaminal": "reoperation",
    "peld_interlaminar": "reoperation",
}

MODIC_LEVELS = ("none", "type1", "type2", "type3", "mixed12")
DISC_LEVELS = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
#: Vertebral bodies a fracture or focal lesion may sit in (thoracolumbar junction to sacrum).
VERTEBRA_LEVELS = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
#: Levels of an optional examination that may not have been done (contrast MRI, bone scan).
EXAM_LEVELS = ("not_performed", "absent", "present")
RESPONSE = frozenset({"response"})

FIELDS: tuple[Field, ...] = (
    # identifiers
    Field("patient_id", "identifier", "identifiers", "Pseudonymous patient identifier.",
          role="identifier", nullable=False),
    Field("episode_id", "identifier", "identifiers",
          "Procedure episode identifier, unique within a patient.", role="identifier",
          nullable=False),
    Field("site_id", "identifier", "identifiers", "Treating site (hospital) identifier.",
          role="identifier", nullable=False),
    _int("procedure_year", "identifiers", "Calendar year of the procedure.", 1990, 2035,
         unit="year", role="identifier", nullable=False),
    # demographics and history
    _num("age", "demographics", "Age at the procedure.", "years", 18, 100, nullable=False),
    _cat("sex", "demographics", "Sex recorded at birth.", ("female", "male"), nullable=False),
    _num("bmi", "demographics", "Body-mass index.", "kg/m2", 12, 70),
    _cat("smoking", "demographics", "Tobacco smoking status.", ("never", "former", "current")),
    _cat("employment", "demographics", "Employment status.",
         ("employed", "unemployed", "retired", "disabled")),
    _bin("manual_labour", "demographics", "Occupation involves heavy manual labour."),
    _bin("regular_exercise", "demographics", "Exercises regularly (>= 2 sessions a week)."),
    _bin("diabetes", "history", "Diabetes mellitus (type 1 or 2)."),
    _bin("depression_anxiety", "history", "Diagnosed depression or anxiety disorder."),
    _bin("baseline_opioid", "history", "Regular opioid use before the procedure."),
    _bin("anticoagulation", "history", "On anticoagulant or antiplatelet therapy."),
    _bin("prior_surgery_index_level", "history", "Prior spine surgery at the index level."),
    _cat("prior_surgery_type", "history",
         "Type of the most extensive prior lumbar surgery (any level); none when never operated.",
         ("none", "discectomy", "decompression", "fusion", "other")),
    _bin("coagulopathy", "history",
         "Coagulopathy (bleeding disorder or uncorrected abnormal clotting tests)."),
    _bin("pregnancy", "history", "Currently pregnant (0 for male patients)."),
    _bin("failed_conservative_care", "history",
         "Structured conservative care for this episode was tried and failed (review 2.4, 5.5, 6)."),
    _num("conservative_care_weeks", "history",
         "Duration of conservative care tried for this episode.", "weeks", 0, 1040),
    _cat("conservative_care_type", "history", "Conservative care tried for this episode.",
         ("none", "medication", "physiotherapy", "multimodal")),
    _num("bmd_t_score", "history", "Lowest DXA bone-mineral-density T-score.", "SD", -6, 4,
         tasks=AUGMENTATION),
    _bin("sarcopenia", "history", "Sarcopenia by EWGSOP2 criteria.", tasks=AUGMENTATION),
    # symptoms and examination
    _num("symptom_duration_weeks", "symptoms", "Duration of the current pain episode.",
         "weeks", 0, 1040, nullable=False),
    _num("pain_days_fraction_6m", "symptoms",
         "Share of days with pain over the prior 6 months (BACPAC chronicity).", "fraction", 0, 1),
    _cat("pain_pattern", "symptoms", "Predominant pain pattern.",
         ("axial", "radicular", "buttock", "claudication"), nullable=False),
    _num("back_pain_nrs", "symptoms", "Back pain intensity at baseline.", "NRS 0-10", 0, 10,
         nullable=False),
    _num("leg_pain_nrs", "symptoms", "Leg pain intensity at baseline.", "NRS 0-10", 0, 10),
    _num("odi", "symptoms", "Oswestry Disability Index at baseline.", "points", 0, 100),
    _bin("motor_deficit", "symptoms", "Objective motor deficit in a root distribution."),
    _bin("sensory_deficit", "symptoms", "Objective sensory deficit in a dermatome."),
    _bin("dermatomal_concordance", "symptoms",
         "Leg pain distribution matches the imaged root (level and side)."),
    _bin("pain_on_extension_rotation", "symptoms", "Axial pain worse on extension/rotation."),
    _bin("paraspinal_tenderness", "symptoms", "Paraspinal tenderness over the facets."),
    _int("sij_provocation_positive", "symptoms", "Positive sacroiliac provocation tests.", 0, 5,
         unit="tests"),
    _bin("fortin_finger_test", "symptoms",
         "Fortin finger test positive (pain pointed to just inferomedial to the PSIS)."),
    _bin("night_pain", "symptoms", "Non-mechanical pain at night or at rest."),
    _int("n_plausible_levels", "symptoms",
         "Number of levels that could explain the radicular symptoms.", 0, 5, unit="levels"),
    # red flags
    _bin("red_flag_fever", "red flags", "Fever or suspected spinal infection."),
    _bin("red_flag_weight_loss", "red flags", "Unexplained weight loss."),
    _bin("red_flag_cancer_history", "red flags", "History of cancer (possible malignancy)."),
    _bin("red_flag_trauma", "red flags", "Significant (high-energy) trauma before onset."),
    _bin("low_energy_trauma", "red flags",
         "Low-energy trauma (fall from standing height, lifting) before onset."),
    _bin("red_flag_cauda_equina", "red flags", "Saddle anaesthesia or sphincter disturbance."),
    _bin("progressive_deficit", "red flags", "Progressive neurological deficit."),
    _num("crp_mg_l", "red flags", "C-reactive protein; missing when not measured.", "mg/L", 0, 500),
    # MRI markers at the index level
    _cat("index_level", "MRI", "Index (treated) disc level.", DISC_LEVELS,
         tasks=frozenset({"response", "reoperation"})),
    _cat("side", "MRI", "Side of the index pathology.", ("left", "right", "bilateral", "central")),
    _int("n_affected_levels", "MRI",
         "Number of lumbar levels with disc-root conflict or canal/foraminal stenosis on MRI.",
         0, 6, unit="levels"),
    _cat("modic_type", "MRI", "Modic endplate change at the index level.", MODIC_LEVELS),
    _bin("modic_extent_gt50", "MRI", "Endplate marrow change covers > 50% of the endplate."),
    _int("pfirrmann_grade", "MRI", "Disc degeneration (Pfirrmann).", 1, 5),
    _num("disc_height_index", "MRI", "Disc height index (disc / vertebral body height).",
         "ratio", 0.05, 0.8),
    _bin("hiz", "MRI", "High-intensity zone or annular fissure."),
    _cat("herniation_type", "MRI", "Disc herniation morphology.",
         ("none", "bulge", "protrusion", "extrusion", "sequestration")),
    _bin("herniation_contained", "MRI", "Herniation contained by the outer annulus/PLL."),
    _cat("herniation_location", "MRI", "Herniation location in the axial plane.",
         ("none", "central", "subarticular", "foraminal", "extraforaminal")),
    _bin("herniation_calcified", "MRI", "Calcified herniation."),
    _int("root_compression_grade", "MRI", "Nerve-root compression grade.", 0, 3),
    _cat("central_stenosis_schizas", "MRI", "Central canal stenosis (Schizas).",
         ("A", "B", "C", "D")),
    _num("dural_sac_csa_mm2", "MRI", "Dural sac cross-sectional area.", "mm2", 10, 300),
    _int("foraminal_stenosis_grade", "MRI", "Foraminal stenosis grade.", 0, 3),
    _num("lf_thickness_mm", "MRI", "Ligamentum flavum thickness.", "mm", 0.5, 12),
    _int("facet_arthropathy_grade", "MRI", "Facet arthropathy (Weishaupt).", 0, 3),
    _bin("facet_effusion", "MRI", "Facet joint effusion."),
    _num("facet_orientation_deg", "MRI", "Facet joint orientation to the sagittal plane.",
         "degrees", 0, 90),
    _num("facet_tropism_deg", "MRI", "Left-right facet angle difference.", "degrees", 0, 45),
    _num("segmental_rom_deg", "MRI", "Segmental sagittal range of motion.", "degrees", 0, 30),
    _int("spondylolisthesis_grade", "MRI", "Spondylolisthesis (Meyerding).", 0, 4),
    _bin("dynamic_instability", "MRI", "Dynamic instability on flexion-extension imaging."),
    _int("goutallier_grade", "MRI", "Paraspinal fatty infiltration (Goutallier).", 0, 4),
    _num("multifidus_csa_cm2", "MRI", "Multifidus cross-sectional area.", "cm2", 1, 20),
    _bin("sij_oedema", "MRI", "Periarticular sacroiliac marrow oedema (STIR)."),
    _bin("sij_sclerosis", "MRI", "Sacroiliac subchondral sclerosis."),
    _bin("vertebral_marrow_oedema", "MRI",
         "Vertebral body marrow oedema (STIR) at a fracture or focal lesion; endplate oedema of "
         "a Modic type 1 change is recorded in modic_type, not here."),
    _bin("vertebral_fracture", "MRI",
         "Vertebral compression fracture present (its grade, when known, in "
         "fracture_genant_grade)."),
    _int("fracture_genant_grade", "MRI", "Vertebral compression fracture grade (Genant).", 0, 3,
         tasks=AUGMENTATION),
    _cat("lesion_vertebra", "MRI", "Vertebral body of the (index) fracture or focal lesion.",
         VERTEBRA_LEVELS, tasks=AUGMENTATION),
    _cat("bone_scan_uptake", "MRI",
         "Tracer uptake at the lesion on bone scan or SPECT/CT (activity marker).", EXAM_LEVELS),
    _bin("endplate_destruction", "MRI", "Endplate destruction or erosion (T1/STIR)."),
    _cat("disc_endplate_enhancement", "MRI",
         "Disc and endplate enhancement on contrast-enhanced MRI.", EXAM_LEVELS),
    _bin("marrow_replacement", "MRI",
         "Marrow replacement or a suspicious focal vertebral lesion (T1 hypointense)."),
    _int("n_fractures", "MRI", "Number of vertebral compression fractures.", 0, 10,
         unit="fractures", tasks=AUGMENTATION),
    _bin("intravertebral_cleft", "MRI", "Intravertebral vacuum cleft.", tasks=AUGMENTATION),
    _bin("tlf_injury", "MRI", "Thoracolumbar fascia injury or oedema.", tasks=AUGMENTATION),
    # procedure
    _cat("procedure", "procedure", "Image-guided procedure performed.", tuple(PROCEDURES),
         role="procedure", nullable=False),
    _cat("guidance", "procedure", "Imaging guidance.", ("fluoroscopy", "ct", "ultrasound", "mri"),
         role="procedure"),
    _cat("steroid", "procedure", "Steroid injected.", ("none", "non_particulate", "particulate"),
         role="procedure"),
    _int("diagnostic_blocks_positive", "procedure",
         "Positive prior diagnostic blocks (0, 1, or 2 = comparative).", 0, 2, unit="blocks",
         role="procedure"),
    _int("mbb_positive", "procedure", "Positive prior medial branch blocks (2 = controlled).",
         0, 2, unit="blocks", role="procedure", tasks=RESPONSE),
    _int("sij_block_positive", "procedure",
         "Positive prior sacroiliac joint (intra-articular or lateral-branch) blocks.", 0, 2,
         unit="blocks", role="procedure", tasks=RESPONSE),
    _int("snrb_positive", "procedure", "Positive prior selective nerve root blocks.", 0, 2,
         unit="blocks", role="procedure", tasks=RESPONSE),
    _num("cement_volume_ml", "procedure", "Injected cement volume.", "mL", 0, 20,
         role="procedure", tasks=AUGMENTATION),
    _bin("cement_maldistribution", "procedure",
         "Cement distribution inadequate (not contacting both endplates).", role="procedure",
         tasks=AUGMENTATION),
    _bin("operator_experienced", "procedure",
         "Operator past the learning curve (> 50 cases of this procedure).", role="procedure"),
    # outcomes
    _bin("response_50", "outcome", ">= 50% NRS reduction at follow-up (IMMPACT substantial).",
         role="outcome", tasks=frozenset({"response"})),
    _bin("response_30", "outcome", ">= 30% NRS reduction at follow-up (MCID variant).",
         role="outcome", tasks=frozenset({"response"})),
    _bin("residual_pain", "outcome", "Back VAS >= 4 one month after augmentation.",
         role="outcome", tasks=AUGMENTATION),
    _bin("reoperation_event", "outcome", "Same-level reoperation observed (1) or censored (0).",
         role="outcome", nullable=False, tasks=ENDOSCOPIC),
    _num("reoperation_time_months", "outcome", "Time to reoperation or censoring.", "months",
         0, 240, role="outcome", nullable=False, tasks=ENDOSCOPIC),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
IDENTIFIERS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.role == "identifier")
EPISODE_KEY: tuple[str, str] = ("patient_id", "episode_id")


@dataclass(frozen=True)
class Task:
    """A prediction task: its population, outcome and (for time-to-event) horizon."""

    name: str
    description: str
    outcome: str
    time: str | None = None
    horizon: float | None = None

    @property
    def procedures(self) -> tuple[str, ...]:
        """Procedures whose episodes form the task's population."""
        return tuple(p for p, t in PROCEDURES.items() if t == self.name)

    def predictors(self) -> tuple[str, ...]:
        """Predictor and procedure fields recorded in this task's population."""
        return tuple(
            f.name for f in FIELDS if f.role in ("predictor", "procedure") and self.name in f.tasks
        )


TASKS: dict[str, Task] = {
    "response": Task("response", "Response to an image-guided intervention (>= 50% NRS drop).",
                     outcome="response_50"),
    "residual_pain": Task("residual_pain", "Residual back pain (VAS >= 4) at 1 month after "
                          "vertebral augmentation.", outcome="residual_pain"),
    "reoperation": Task("reoperation", "Same-level reoperation within 24 months of endoscopic "
                        "discectomy.", outcome="reoperation_event",
                        time="reoperation_time_months", horizon=24.0),
}


# --------------------------------------------------------------------------- problems

@dataclass(frozen=True)
class Problem:
    """One problem found in a table, worded for the person who must fix it."""

    field: str
    issue: str
    rows: tuple[Any, ...] = ()
    n_rows: int = 0
    values: tuple[Any, ...] = ()
    allowed: str = ""
    fix: str = ""

    def message(self, source: Any = None) -> str:
        """Render the problem as one sentence a data manager can act on.

        ``rows`` are 0-based positions in the table; they are shown as data rows counted
        from 1 (the first row under the header), with the file lines or sheet rows when
        ``source`` (a :class:`spinerisk.cohort.readers.TableSource`) says where they stand.
        """
        parts = [f"{self.field}: {self.issue}"]
        if self.values:
            parts.append("values " + ", ".join(_fmt(v) for v in self.values))
        if self.n_rows:
            parts.append(self._where(source))
        if self.allowed:
            parts.append(f"allowed: {self.allowed}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "; ".join(parts)

    def _where(self, source: Any) -> str:
        shown = ", ".join(str(r + 1) for r in self.rows)
        count = f"{self.n_rows} row{'s' * (self.n_rows > 1)}"
        more = ", ..." if self.n_rows > len(self.rows) else ""
        in_file = source.lines(list(self.rows)) if source is not None else ""
        return (f"in data row{'s' * (self.n_rows > 1)} {shown}{more} ({count}"
                + (f"; {in_file}{more}" if in_file else "") + ")")


class SchemaValidationError(ContractError):
    """Raised when a table breaks the data contract; ``problems`` lists every finding.

    ``source`` (the table's :class:`~spinerisk.cohort.readers.TableSource`, when it was
    read from a file) names the file and turns row positions into file lines.
    """

    def __init__(self, problems: list[Problem], source: Any = None):
        self.problems = problems
        self.source = source
        where = f"{source.path}: " if source is not None else ""
        lines = [f"{where}{len(problems)} problem(s) with the data:"]
        lines += [f"  - {p.message(source)}" for p in problems]
        super().__init__("\n".join(lines))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _rows_problem(field_name: str, issue: str, mask: pd.Series, values: pd.Series,
                  allowed: str, fix: str, max_shown: int = 5) -> Problem:
    """Summarise the rows where ``mask`` holds: first row ids, count and distinct values."""
    index = mask.index[mask.to_numpy()]
    distinct = pd.unique(values[mask].astype(object))[:max_shown]
    return Problem(field_name, issue, rows=tuple(index[:max_shown]), n_rows=len(index),
                   values=tuple(distinct), allowed=allowed, fix=fix)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (case-insensitive, containment counts), or None."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    key = name.lower()
    contains = [c for low, c in lowered.items() if key in low or low in key]
    if contains:
        return min(contains, key=len)
    hit = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[hit[0]] if hit else None


# --------------------------------------------------------------------------- mapping

@dataclass(frozen=True)
class ColumnMapping:
    """How a site's own table maps onto the contract (read from configs/mappings/*.yaml).

    Parameters
    ----------
    columns : dict
        Source column name -> schema field name.
    levels : dict
        Schema field -> {source level -> schema level}; declares site-specific codes
        (e.g. ``{"index_level": {"L4/5": "L4-L5"}}``, ``{"diabetes": {"Y": 1, "N": 0}}``).
    ignore : tuple of str
        Source columns the site keeps but the contract does not use.
    """

    columns: dict[str, str] = field(default_factory=dict)
    levels: dict[str, dict[Any, Any]] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_yaml(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping file; unknown keys and fields are a :class:`ConfigError`."""
        from spinerisk.yamlfile import read_yaml_mapping

        raw = read_yaml_mapping(path, "mapping file")
        unknown = set(raw) - {"columns", "levels", "ignore"}
        if unknown:
            raise ConfigError(f"mapping file {path}: unknown keys {sorted(unknown)}",
                              allowed="columns, levels, ignore",
                              fix="rename or remove those keys (see configs/mappings/example.yaml)")
        try:
            mapping = cls(columns=dict(raw.get("columns") or {}),
                          levels={k: dict(v) for k, v in (raw.get("levels") or {}).items()},
                          ignore=tuple(raw.get("ignore") or ()))
            mapping.check()
        except (TypeError, ValueError) as err:
            raise ConfigError(f"mapping file {path}: {err}",
                              fix="see configs/mappings/example.yaml for the layout") from None
        return mapping

    def check(self) -> None:
        """Refuse mappings that point at fields the contract does not have."""
        targets = list(self.columns.values()) + list(self.levels)
        bad = [t for t in targets if t not in FIELD_BY_NAME]
        if bad:
            hints = {b: closest(b, FIELD_BY_NAME) for b in bad}
            raise ConfigError("mapping names fields the contract does not have: "
                              + ", ".join(f"{b} (did you mean {h}?)" if h else b
                                          for b, h in hints.items()),
                              allowed="a field listed by `spinerisk schema`")

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        """Rename columns, drop declared-ignored ones and recode declared levels."""
        out = table.drop(columns=[c for c in self.ignore if c in table.columns])
        out = out.rename(columns=self.columns)
        for name, recode in self.levels.items():
            if name in out.columns:
                out[name] = out[name].map(lambda v, r=recode: r.get(v, v))
        return out


# --------------------------------------------------------------------------- validation

def required_columns(tasks: Iterable[str]) -> list[str]:
    """Columns a table for ``tasks`` must carry: identifiers, the procedure, and every
    predictor and outcome field that any of those task populations records."""
    wanted = set(tasks)
    unknown = wanted - ALL_TASKS
    if unknown:
        raise ValueError(f"unknown task(s) {sorted(unknown)}; allowed: {', '.join(TASK_NAMES)}")
    return [f.name for f in FIELDS if f.role in ("identifier", "procedure") or f.tasks & wanted]


def task_of(procedures: pd.Series) -> pd.Series:
    """Task population of each episode, from its procedure (NaN for unknown procedures)."""
    return procedures.map(PROCEDURES)


def validate(table: pd.DataFrame, *, tasks: Iterable[str] | None = None,
             mapping: ColumnMapping | None = None,
             allow_extra_columns: bool = False) -> pd.DataFrame:
    """Check a table against the contract and return it with canonical dtypes.

    Parameters
    ----------
    table : DataFrame
        One row per procedure episode.
    tasks : iterable of str, optional
        Task populations the table is meant for; default: those its procedures imply.
    mapping : ColumnMapping, optional
        Site column names and level codes (applied first).
    allow_extra_columns : bool
        Keep unexpected columns instead of reporting them (they are never used).

    Returns
    -------
    DataFrame
        The same rows and values, with category fields as pandas categoricals of the
        contract's levels, binary and integer fields as nullable ``Int64`` and numeric
        fields as float.

    Raises
    ------
    SchemaValidationError
        Listing every problem found, each with field, rows, values, allowed and fix.
    """
    source = table.attrs.get("source")  # set by cohort.readers for a table read from a file
    if mapping is not None:
        table = mapping.apply(table)
    if len(table) == 0:
        raise SchemaValidationError([Problem("<table>", "the table has no rows",
                                             fix="check the file path and export")], source)
    table = table.reset_index(drop=True)
    problems: list[Problem] = []
    if tasks is None:
        tasks = _implied_tasks(table)
    expected = required_columns(tasks)
    problems += _column_problems(table, expected, allow_extra_columns)
    episode_task = task_of(table["procedure"]) if "procedure" in table else None
    for name in expected:
        if name in table.columns:
            problems += _field_problems(FIELD_BY_NAME[name], table[name], episode_task)
    problems += _duplicate_problems(table)
    if problems:
        raise SchemaValidationError(problems, source)
    return _canonical(table)


def _implied_tasks(table: pd.DataFrame) -> set[str]:
    if "procedure" not in table.columns:
        return set(TASK_NAMES)
    implied = set(task_of(table["procedure"]).dropna())
    return implied or set(TASK_NAMES)


def _column_problems(table: pd.DataFrame, expected: list[str], allow_extra: bool) -> list[Problem]:
    present = list(table.columns)
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in FIELD_BY_NAME]
    problems = []
    if missing:
        hints = [f"{m} (closest present: {h})" if (h := closest(m, extra)) else m
                 for m in missing]
        problems.append(Problem(
            "<columns>", "expected columns are missing: " + ", ".join(hints),
            fix="rename your columns in a mapping file (configs/mappings/*.yaml, key 'columns')"
                " or add the column (empty cells are allowed where the field may be missing)"))
    if extra and not allow_extra:
        problems.append(Problem(
            "<columns>", "unexpected columns: " + ", ".join(extra),
            fix="map them to contract fields under 'columns', or list them under 'ignore' in "
                "the mapping file"))
    return problems


def _field_problems(spec: Field, values: pd.Series, episode_task: pd.Series | None) -> list[Problem]:
    """All problems with one column: missing policy, all-missing, type, range and levels."""
    recorded = (episode_task.isin(spec.tasks) if episode_task is not None
                else pd.Series(True, index=values.index))
    missing = values.isna()
    problems = []
    if recorded.any() and missing[recorded].all():
        problems.append(Problem(spec.name, f"all {int(recorded.sum())} values are missing",
                                fix="export the column's values, or check the column mapping"))
    elif not spec.nullable and (missing & recorded).any():
        problems.append(_rows_problem(
            spec.name, "missing values where the field is required", missing & recorded,
            values, "a value in every row", "fill the value from the source record"))
    problem = _value_problem(spec, values, ~missing)
    return problems + ([problem] if problem else [])


def _value_problem(spec: Field, values: pd.Series, present: pd.Series) -> Problem | None:
    """The first failing value check of the field's kind, over all rows at once."""
    for issue, bad, fix in _value_checks(spec, values, present):
        if bad.any():
            return _rows_problem(spec.name, issue, bad, values, spec.allowed(), fix)
    return None


def _value_checks(spec: Field, values: pd.Series, present: pd.Series):
    """Yield (issue, offending rows, fix) checks lazily, the most basic first."""
    if spec.kind == "identifier":
        blank_values = [v for v in pd.unique(values[present]) if not str(v).strip()]
        yield ("blank identifiers", present & values.isin(blank_values),
               "give every episode its identifier")
    elif spec.kind == "category":
        codes = pd.Categorical(values.astype(object), categories=list(spec.levels)).codes
        yield ("unknown levels", present & (codes == -1),
               f"declare a recode under 'levels: {spec.name}:' in the mapping file")
    elif spec.kind == "binary":
        as_number = pd.to_numeric(values, errors="coerce")
        yield ("not a 0/1 value", present & ~as_number.isin([0, 1]),
               f"recode yes/no values under 'levels: {spec.name}:' in the mapping")
    else:
        as_number = pd.to_numeric(values, errors="coerce")
        yield ("not a number", present & as_number.isna(),
               "remove text from the column (leave missing cells empty)")
        yield ("out of range", present & ((as_number < spec.low) | (as_number > spec.high)),
               f"check units ({spec.unit}) and data entry")
        if spec.kind == "integer":
            yield ("not a whole number", present & (as_number % 1 != 0),
                   "record the grade as a whole number")


def _duplicate_problems(table: pd.DataFrame) -> list[Problem]:
    if not set(EPISODE_KEY) <= set(table.columns):
        return []
    duplicated = table.duplicated(list(EPISODE_KEY), keep=False)
    if not duplicated.any():
        return []
    keys = table.loc[duplicated, list(EPISODE_KEY)].astype(str).agg("/".join, axis=1)
    return [_rows_problem("patient_id/episode_id", "duplicate patient-episode ids", duplicated,
                          keys, "each (patient_id, episode_id) once",
                          "remove repeated exports of the same episode or renumber episodes")]


def _canonical(table: pd.DataFrame) -> pd.DataFrame:
    """Give each contract column its canonical dtype; values were checked to fit exactly."""
    out = table.copy()
    for name in out.columns.intersection(list(FIELD_BY_NAME)):
        out[name] = to_canonical_dtype(FIELD_BY_NAME[name], out[name])
    return out


def to_canonical_dtype(spec: Field, values: pd.Series) -> pd.Series:
    """Cast one validated column to its contract dtype."""
    if spec.kind == "identifier":
        return values.astype(object).where(values.notna(), None).map(
            lambda v: v if v is None else str(v))
    if spec.kind == "category":
        return pd.Categorical(values.astype(object), categories=list(spec.levels))
    if spec.kind in ("binary", "integer"):
        return pd.to_numeric(values).astype("Int64")
    return pd.to_numeric(values).astype(float)


def empty_frame(n: int = 0) -> pd.DataFrame:
    """A frame with every contract column in canonical dtype (all values missing)."""
    return pd.DataFrame({f.name: to_canonical_dtype(f, pd.Series([np.nan] * n, dtype=object))
                         for f in FIELDS})


# --------------------------------------------------------------------------- dictionary

def data_dictionary() -> pd.DataFrame:
    """The data dictionary as a table, one row per field, built from the same definitions."""
    rows = []
    for f in FIELDS:
        tasks = "all" if f.tasks == ALL_TASKS else ", ".join(sorted(f.tasks))
        rows.append({"field": f.name, "group": f.group, "role": f.role, "type": f.kind,
                     "unit": f.unit, "allowed": f.allowed(),
                     "missing": "allowed" if f.nullable else "not allowed",
                     "recorded_for": tasks, "description": f.description})
    return pd.DataFrame(rows)


def data_dictionary_markdown() -> str:
    """The data dictionary as Markdown, grouped by section."""
    table = data_dictionary()
    lines = ["# spinerisk data dictionary", "",
             ("One row of a cohort table is one procedure episode. Decision support for research "
             "use."), ""]
    for group, part in table.groupby("group", sort=False):
        lines += [f"## {group}", "", ("| field | type | unit | allowed | missing | recorded for |"
                  " description |"), "|---|---|---|---|---|---|---|"]
        lines += [f"| `{r.field}` | {r.type} | {r.unit} | {r.allowed} | {r.missing} | "
                  f"{r.recorded_for} | {r.description} |" for r in part.itertuples()]
        lines.append("")
    return "\n".join(lines)


def field_groups() -> dict[str, list[Field]]:
    """Fields by dictionary group, in contract order (used by forms and reports)."""
    groups: dict[str, list[Field]] = {}
    for f in FIELDS:
        groups.setdefault(f.group, []).append(f)
    return groups



# --------------------------------------------------------------------------- one record
# A clinical record is often incomplete, so an absent or null field is simply missing;
# every present field must have the contract's JSON type, range or level. Nothing is
# coerced beyond exact representations (JSON true/false for a binary field, 2.0 for 2).

def validate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check one patient record and return its present fields in canonical Python types.

    Parameters
    ----------
    record : mapping
        Contract field name -> value. Absent keys and ``None``/NaN values are missing.

    Returns
    -------
    dict
        Present fields only: ``str`` for identifiers and categories, ``int`` for binary
        and integer fields, ``float`` for numeric fields.

    Raises
    ------
    SchemaValidationError
        Listing every problem (unknown field, wrong type, out of range, unknown level).
    """
    if not isinstance(record, Mapping):
        raise SchemaValidationError([Problem(
            "<record>", f"a patient record must be a JSON object, got {type(record).__name__}",
            fix="send one object mapping contract field names to values")])
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in record.items():
        spec = FIELD_BY_NAME.get(name)
        if spec is None:
            problems.append(_unknown_field(str(name), value))
            continue
        if _is_missing(value):
            continue
        canonical, issue = _CHECKS[spec.kind](spec, value)
        if issue:
            problems.append(Problem(spec.name, issue, values=(value,), allowed=spec.allowed(),
                                    fix=_fix(spec)))
        else:
            clean[name] = canonical
    if problems:
        raise SchemaValidationError(problems)
    return clean


def _unknown_field(name: str, value: Any) -> Problem:
    close = [f for f in FIELD_BY_NAME if f.startswith(name)][:3] or (
        [hint] if (hint := closest(name, FIELD_BY_NAME)) else [])
    fix = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
           else "remove it or map it to a contract field")
    return Problem(name, "not a field of the data contract", values=(value,),
                   allowed="a field listed by `spinerisk schema`", fix=fix)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fix(spec: Field) -> str:
    if spec.kind == "category":
        return "use one of the listed levels exactly, or null when unknown"
    return "correct the value (check the unit), or use null when unknown"


def _check_record_identifier(spec: Field, value: Any) -> tuple[Any, str]:
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        return None, "not an identifier (text or whole number)"
    text = str(value).strip()
    return (text, "") if text else (None, "blank identifier")


def _check_category(spec: Field, value: Any) -> tuple[Any, str]:
    if isinstance(value, str) and value in spec.levels:
        return value, ""
    return None, "unknown level"


def _check_binary(spec: Field, value: Any) -> tuple[Any, str]:
    if isinstance(value, bool):
        return int(value), ""
    if isinstance(value, numbers.Real) and value in (0, 1):
        return int(value), ""
    return None, "not a 0/1 value"


def _check_number(spec: Field, value: Any) -> tuple[Any, str]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, "not a number"
    number = float(value)
    if not math.isfinite(number) or not spec.low <= number <= spec.high:
        return None, "out of range"
    if spec.kind == "integer":
        return (int(number), "") if number.is_integer() else (None, "not a whole number")
    return number, ""


_CHECKS = {"identifier": _check_record_identifier, "category": _check_category,
           "binary": _check_binary, "integer": _check_number, "numeric": _check_number}
