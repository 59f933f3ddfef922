"""Clinical names for the codes of the patient record.

Codes (``tf_esi``, ``type1``) stay in JSON and files; everything a person reads (CLI text,
the clinician page, reports, explanations) shows the clinical name from here, so the
wording is defined once.
"""

from __future__ import annotations

#: Procedure codes and the names a clinician uses for them.
PROCEDURE_NAMES: dict[str, str] = {
    "tf_esi": "transforaminal epidural steroid injection",
    "il_esi": "interlaminar epidural steroid injection",
    "caudal_esi": "caudal epidural steroid injection",
    "drg_prf": "pulsed radiofrequency of the dorsal root ganglion",
    "facet_ia_steroid": "intra-articular facet steroid injection",
    "facet_rfa": "facet (medial branch) radiofrequency ablation",
    "sij_block": "sacroiliac joint block",
    "sij_rfa": "sacroiliac joint radiofrequency ablation",
    "bvna": "basivertebral nerve ablation",
    "mild": "minimally invasive lumbar decompression (MILD)",
    "pldd": "percutaneous laser disc decompression",
    "ozone": "intradiscal oxygen-ozone injection",
    "cooled_rf_disc": "cooled radiofrequency of the disc",
    "snrb": "selective nerve root block",
    "mbb": "medial branch block",
    "vertebroplasty": "vertebroplasty",
    "kyphoplasty": "kyphoplasty",
    "peld_transforaminal": "transforaminal endoscopic discectomy (PELD)",
    "peld_interlaminar": "interlaminar endoscopic discectomy (PELD)",
}

#: Care-pathway phenotype codes (``spinerisk.phenotype.PHENOTYPE_NAMES``) and their names.
PHENOTYPE_LABELS: dict[str, str] = {
    "radicular": "radicular pain",
    "facetogenic": "facetogenic pain",
    "discogenic": "discogenic pain",
    "vertebrogenic": "vertebrogenic pain",
    "sacroiliac": "sacroiliac joint pain",
    "lf_stenosis": "LF-driven lumbar stenosis",
    "osseous_red_flag": "osseous red-flag pain",
}

#: Clinical names of category levels, per field; levels absent here read as themselves.
LEVEL_NAMES: dict[str, dict[str, str]] = {
    "procedure": PROCEDURE_NAMES,
    "modic_type": {"none": "no Modic change", "type1": "Modic type 1", "type2": "Modic type 2",
                   "type3": "Modic type 3", "mixed12": "mixed Modic type 1/2"},
    "guidance": {"ct": "CT", "mri": "MRI"},
    "steroid": {"non_particulate": "non-particulate", "particulate": "particulate"},
    "bone_scan_uptake": {"not_performed": "no bone scan or SPECT/CT",
                         "absent": "no uptake", "present": "uptake"},
    "disc_endplate_enhancement": {"not_performed": "no contrast MRI",
                                  "absent": "no enhancement", "present": "enhancement"},
}


def level_name(field: str, code: object) -> str:
    """The clinical name of one level of a category field (the code itself when unnamed).

    Parameters
    ----------
    field : str
        The schema field, e.g. ``"procedure"``.
    code : object
        The recorded level, e.g. ``"tf_esi"``.

    Returns
    -------
    str
        e.g. ``"transforaminal epidural steroid injection"``.
    """
    text = str(code)
    return LEVEL_NAMES.get(field, {}).get(text, text.replace("_", " "))


def procedure_name(code: object) -> str:
    """The clinical name of a procedure code (``level_name("procedure", code)``)."""
    return level_name("procedure", code)


def phenotype_name(code: object) -> str:
    """The clinical name of a care-pathway phenotype code (``lf_stenosis`` ->
    ``LF-driven lumbar stenosis``)."""
    text = str(code)
    return PHENOTYPE_LABELS.get(text, text.replace("_", " "))
