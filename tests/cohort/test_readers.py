"""Tables as sites export them: the same cohort read from every format gives the same frame,
and every reader says what it detected."""

from __future__ import annotations

import pandas as pd
import pytest

from spinerisk import schema
from spinerisk.cohort import load, simulate
from spinerisk.cohort.readers import read_record, read_table
from spinerisk.errors import ContractError, InputFileError


@pytest.fixture(scope="module")
def cohort(seed) -> pd.DataFrame:
    """A small contract-valid table with a non-ASCII site name and decimals everywhere."""
    frame = simulate(120, sites=2, seed=seed % 10_000, tasks=("response",)).frame
    frame["site_id"] = frame["site_id"].where(frame["site_id"] != frame["site_id"].iloc[0],
                                              "Zürich-Süd")
    return frame


@pytest.fixture(scope="module")
def clean(cohort, tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "clean.csv"
    cohort.to_csv(path, index=False)
    return load(path)


def _write(frame: pd.DataFrame, path, **kwargs):
    frame.to_csv(path, index=False, **kwargs)
    return path


EXPORTS = {
    "latin-1": (lambda f, p: _write(f, p / "site.csv", encoding="latin-1"), "cp1252"),
    "cp1252 with euro sign": (lambda f, p: _write(f.assign(site_id=f["site_id"].str.replace(
        "Zürich-Süd", "Zürich-Süd €")), p / "site.csv", encoding="cp1252"), "cp1252"),
    "utf-8 with BOM": (lambda f, p: _write(f, p / "site.csv", encoding="utf-8-sig"), "utf-8-sig"),
    "utf-16 tab (Excel 'Unicode text')": (
        lambda f, p: _write(f, p / "site.txt", encoding="utf-16", sep="\t"), "utf-16"),
    "semicolon, decimal comma": (
        lambda f, p: _write(f, p / "site.csv", sep=";", decimal=","), "utf-8"),
}


@pytest.mark.parametrize("kind", list(EXPORTS))
def test_text_exports_read_as_the_clean_file(kind, cohort, clean, tmp_path):
    write, encoding = EXPORTS[kind]
    path = write(cohort, tmp_path)
    got = load(path)
    if kind == "cp1252 with euro sign":
        got["site_id"] = got["site_id"].str.replace(" €", "")
    pd.testing.assert_frame_equal(got, clean)
    source = read_table(path).attrs["source"]
    assert source.encoding == encoding
    assert source.n_rows == len(cohort) and source.n_columns == cohort.shape[1]
    if "semicolon" in kind:
        assert (source.delimiter, source.decimal) == (";", ",")
        assert "delimiter semicolon, decimal mark ','" in source.describe()


def test_workbook_with_several_sheets_reads_the_chosen_one(cohort, clean, tmp_path):
    path = tmp_path / "site.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        pd.DataFrame({"note": ["exported 2026-11-30"]}).to_excel(book, sheet_name="about", index=False)
        cohort.to_excel(book, sheet_name="cohort", index=False)
    pd.testing.assert_frame_equal(load(f"{path}#cohort"), clean)
    pd.testing.assert_frame_equal(schema.validate(read_table(path, sheet=1)), clean)
    source = read_table(f"{path}#cohort").attrs["source"]
    assert "sheet 'cohort' of 2: about, cohort" in source.describe()
    with pytest.raises(InputFileError, match=r"no sheet 'cohrot'.*allowed: about, cohort"):
        read_table(f"{path}#cohrot")


def test_parquet_and_the_default_first_sheet(cohort, clean, tmp_path):
    cohort.to_parquet(tmp_path / "site.parquet", index=False)
    pd.testing.assert_frame_equal(load(tmp_path / "site.parquet"), clean)
    cohort.to_excel(tmp_path / "one.xlsx", index=False)
    assert read_table(tmp_path / "one.xlsx").attrs["source"].sheet == "Sheet1"


def test_rows_are_located_by_data_row_and_file_line(cohort, tmp_path):
    """Blank lines and quoted line breaks shift file lines; messages count them exactly."""
    bad = cohort.head(6).copy()
    bad["site_id"] = bad["site_id"].astype(object)
    bad.loc[1, "site_id"] = "two\nline site"
    bad.loc[4, "bmi"] = 412.0
    text = bad.to_csv(index=False).splitlines(keepends=True)
    path = tmp_path / "site.csv"
    path.write_text("".join(text[:4] + ["\n"] + text[4:]))  # a blank line before data row 4
    with pytest.raises(schema.SchemaValidationError) as caught:
        load(path)
    message = str(caught.value)
    # header line 1; data row 2 spans lines 3-4; the blank line 6; so data row 5 is line 8
    assert "bmi: out of range; values 412; in data row 5 (1 row; file line 8)" in message
    assert message.startswith(f"{path}: 1 problem(s)")
    cohort.head(6).assign(bmi=[20, 21, 22, 23, 412, 24]).to_excel(tmp_path / "s.xlsx", index=False)
    with pytest.raises(schema.SchemaValidationError, match=r"in data row 5 \(1 row; sheet row 6\)"):
        load(tmp_path / "s.xlsx")


@pytest.mark.parametrize("content, match", [
    ("", "the file is empty"),
    ("\n\n  \n", "only blank lines"),
    ("y,p\n", "a header but no data rows"),
    ("y;p;q\n1;0,4;1.5\n0;0,2;2.5\n", "mixed decimal marks: column 'p' uses a decimal comma and column 'q'"),
    ('y,p\n1,0.4\n0,0.2,7\n', "rows do not have the header's number of fields"),
])
def test_unreadable_text_tables_name_the_file_and_the_fix(content, match, tmp_path):
    path = tmp_path / "preds.csv"
    path.write_text(content)
    with pytest.raises(InputFileError, match=match) as caught:
        read_table(path)
    assert str(path) in str(caught.value) and "fix:" in str(caught.value)


def test_unknown_type_missing_file_and_corrupt_files(tmp_path):
    (tmp_path / "site.docx").write_text("x")
    with pytest.raises(InputFileError, match=r"unknown table type '\.docx'; allowed: .*\.xlsx"):
        read_table(tmp_path / "site.docx")
    with pytest.raises(InputFileError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    for name in ("bad.xlsx", "bad.parquet"):
        (tmp_path / name).write_text("not a binary table")
        with pytest.raises(InputFileError, match=f"{name}: not a readable"):
            read_table(tmp_path / name)


def test_patient_record_must_be_one_object(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[{"age": 46}]')
    with pytest.raises(ContractError, match="must be one JSON object, got a JSON array"):
        read_record(path)
    path.write_text('{"age": 46,}')
    with pytest.raises(InputFileError, match="not valid JSON at line 1, column 12"):
        read_record(path)
    path.write_text('\ufeff{"age": 46}')  # Notepad's UTF-8 with byte-order mark
    assert read_record(path) == {"age": 46}


def _write_ods(path, frame: pd.DataFrame, sheet: str) -> None:
    """A minimal OpenDocument spreadsheet (ODF 1.2: mimetype, manifest, content.xml),
    written by hand: no ODS writer is among the dependencies."""
    import zipfile
    from xml.sax.saxutils import escape

    def cell(value) -> str:
        if isinstance(value, str):
            return (f'<table:table-cell office:value-type="string"><text:p>{escape(value)}'
                    "</text:p></table:table-cell>")
        return (f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                f"<text:p>{value}</text:p></table:table-cell>")

    rows = [list(frame.columns)] + frame.astype(object).to_numpy().tolist()
    body = "".join("<table:table-row>" + "".join(map(cell, r)) + "</table:table-row>" for r in rows)
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               f'office:version="1.2"><office:body><office:spreadsheet><table:table '
               f'table:name="{sheet}">{body}</table:table></office:spreadsheet></office:body>'
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                      compress_type=zipfile.ZIP_STORED)
        book.writestr("content.xml", content)
        book.writestr("META-INF/manifest.xml", manifest)


def test_opendocument_spreadsheet_reads_as_the_csv(tmp_path):
    frame = pd.DataFrame({"y": [1, 0, 1], "p": [0.25, 0.125, 0.6], "site": ["Genève", "Malmö", "Zürich"]})
    _write_ods(tmp_path / "preds.ods", frame, "predictions")
    got = read_table(tmp_path / "preds.ods")
    pd.testing.assert_frame_equal(got, frame)
    assert got.attrs["source"].describe() == (
        f"read {tmp_path / 'preds.ods'}: ods, sheet 'predictions', 3 rows x 3 columns")


def test_the_detection_is_told_when_the_file_is_not_plain(cohort, tmp_path, caplog):
    cohort.head(5).to_csv(tmp_path / "plain.csv", index=False)
    cohort.head(5).to_csv(tmp_path / "semi.csv", index=False, sep=";", decimal=",")
    with caplog.at_level("INFO", logger="spinerisk.cohort.readers"):
        read_table(tmp_path / "plain.csv")
        read_table(tmp_path / "semi.csv")
    assert [r.getMessage() for r in caplog.records] == [
        (f"read {tmp_path / 'semi.csv'}: csv, encoding UTF-8, delimiter semicolon, "
        f"decimal mark ',', 5 rows x {cohort.shape[1]} columns")]
