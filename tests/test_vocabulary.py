"""Every procedure of the record has a clinical name; unnamed levels read as themselves."""

from spinerisk.schema import PROCEDURES
from spinerisk.vocabulary import level_name, phenotype_name, procedure_name


def test_every_procedure_has_a_clinical_name():
    for code in PROCEDURES:
        assert procedure_name(code) != code.replace("_", " ") or code in {"vertebroplasty",
                                                                          "kyphoplasty"}


def test_unnamed_levels_read_as_themselves():
    assert level_name("herniation_type", "extrusion") == "extrusion"
    assert level_name("modic_type", "type1") == "Modic type 1"


def test_every_pathway_phenotype_has_a_clinical_name():
    from spinerisk.phenotype import PHENOTYPE_NAMES

    for code in PHENOTYPE_NAMES:
        assert phenotype_name(code) != code.replace("_", " ")
        assert phenotype_name(code).endswith(("pain", "stenosis"))
    assert level_name("bone_scan_uptake", "not_performed") == "no bone scan or SPECT/CT"
