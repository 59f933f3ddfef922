"""Reading tables as sites export them, and saying what was detected.

Sites export from spreadsheets and hospital systems: text files in UTF-8 (with or without
a byte-order mark), UTF-16 or Windows code page 1252 / latin-1, separated by commas,
semicolons, tabs or bars, with decimal commas where the semicolon is the separator;
Excel and OpenDocument workbooks; parquet. :func:`read_table` reads all of them without
guessing silently: the :class:`TableSource` it attaches (``frame.attrs["source"]``) says
what it detected, and locates data rows in the file (line or sheet row) for messages.

Nothing is coerced beyond what the file format itself says: a value that does not parse
as a number stays text, for the data contract to report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spinerisk.errors import ContractError, InputFileError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".tab")
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = ", ".join(TEXT_SUFFIXES + SHEET_SUFFIXES + PARQUET_SUFFIXES)
DELIMITERS = (",", ";", "\t", "|")
SNIFF_RECORDS = 200  # records looked at to choose the delimiter and decimal mark
_DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)")
_DECIMAL_POINT = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")
_WHOLE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class TableSource:
    """Where a table came from and how it was read.

    Parameters
    ----------
    path : str
        The file read.
    format : str
        ``csv`` (any delimited text), ``xlsx``, ``xls``, ``ods`` or ``parquet``.
    encoding : str, optional
        Text encoding detected (``utf-8``, ``utf-8-sig`` = UTF-8 with byte-order mark,
        ``utf-16``, ``cp1252``, ``latin-1``).
    delimiter, decimal : str, optional
        Field separator and decimal mark detected in a text file.
    sheet : str, optional
        Worksheet read from a workbook.
    sheets : tuple of str
        Every worksheet of the workbook.
    n_rows, n_columns : int
        Data rows and columns read.
    """

    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    n_rows: int = 0
    n_columns: int = 0

    def describe(self) -> str:
        """One line saying what was read and detected."""
        parts = [f"read {self.path}: {self.format}"]
        if self.encoding:
            parts.append(f"encoding {_ENCODING_NAMES.get(self.encoding, self.encoding)}")
        if self.delimiter:
            parts.append(f"delimiter {_DELIMITER_NAMES[self.delimiter]}")
        if self.decimal:
            parts.append(f"decimal mark {self.decimal!r}")
        if self.sheet is not None:
            others = f" of {len(self.sheets)}: {', '.join(self.sheets)}" if len(self.sheets) > 1 else ""
            parts.append(f"sheet {self.sheet!r}{others}")
        parts.append(f"{self.n_rows} rows x {self.n_columns} columns")
        return ", ".join(parts)

    def is_unusual(self) -> bool:
        """Whether anything beyond plain UTF-8 comma-separated text or parquet was detected
        (worth telling the user: an encoding, separator, decimal mark or sheet)."""
        plain = (None, "utf-8", ",", ".")
        return (self.encoding not in plain or self.delimiter not in plain
                or self.decimal not in plain or self.sheet is not None)

    def lines(self, positions: list[int]) -> str:
        """Where data rows (0-based positions in the frame) stand in the file, in words:
        ``file lines 18, 204`` or ``sheet rows 18, 204`` ("" for parquet).

        Text files are re-scanned (only when a message needs it), so quoted line breaks
        and blank lines that the reader skipped are counted exactly.
        """
        if self.format == "csv":
            starts = _record_lines(self)
            shown = [str(starts[p]) if p < len(starts) else "?" for p in positions]
            return f"file line{'s' * (len(shown) > 1)} {', '.join(shown)}"
        if self.format in ("xlsx", "xls", "ods"):  # sheet row 1 holds the header
            return f"sheet row{'s' * (len(positions) > 1)} {', '.join(str(p + 2) for p in positions)}"
        return ""


_ENCODING_NAMES = {"utf-8-sig": "UTF-8 with byte-order mark", "utf-8": "UTF-8",
                   "utf-16": "UTF-16", "cp1252": "Windows-1252 (latin-1 compatible)",
                   "latin-1": "latin-1 (ISO-8859-1)"}
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


def read_table(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a site's table (delimited text, workbook or parquet) as it is.

    Parameters
    ----------
    path : path
        The file. A workbook's sheet may also be named after ``#``: ``site.xlsx#cohort``.
    sheet : str or int, optional
        Worksheet name or 0-based position (default: the first; the report lists all).

    Returns
    -------
    DataFrame
        The rows and columns as the file holds them; ``frame.attrs["source"]`` is the
        :class:`TableSource` describing what was detected (also logged: at INFO when
        it is more than plain UTF-8 comma-separated text or parquet, else at DEBUG).

    Raises
    ------
    InputFileError
        When the file is absent, empty, has a header but no rows, is of an unknown type,
        or cannot be parsed (the message says where and what to do).
    """
    path, sheet = _split_sheet(Path(path), sheet)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputFileError(f"{path}: no such file", fix=f"give the path of a table ({SUPPORTED})")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty (0 bytes)",
                             fix="export the table again, with a header row and data rows")
    if suffix in SHEET_SUFFIXES:
        frame, source = _read_workbook(path, sheet)
    elif suffix in PARQUET_SUFFIXES:
        frame, source = _read_parquet(path)
    elif suffix in TEXT_SUFFIXES:
        frame, source = _read_text(path)
    else:
        raise InputFileError(f"{path}: unknown table type {path.suffix or '(no suffix)'!r}",
                             allowed=SUPPORTED, fix="export the table in one of these formats")
    if len(frame) == 0:
        raise InputFileError(f"{path}: the table has a header but no data rows",
                             fix="check the export (filters, the sheet chosen, the file path)")
    frame.attrs["source"] = source
    logger.log(logging.INFO if source.is_unusual() else logging.DEBUG, source.describe())
    return frame


def read_record(path: str | Path) -> dict[str, Any]:
    """Read one patient record from a JSON file holding one object.

    Raises
    ------
    InputFileError
        When the file is absent or not valid JSON (with the line and column).
    ContractError
        When the JSON is not one object (for example a list of patients).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file",
                             fix="give the path of a JSON patient record, e.g. examples/patient.json") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: cannot read the file ({err})", fix="save it as UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: cannot read a JSON patient record: not valid JSON at line "
                             f"{err.lineno}, column {err.colno} ({err.msg})",
                             fix="correct the JSON, see examples/patient.json") from None
    if not isinstance(record, dict):
        raise ContractError(f"{path}: a patient record must be one JSON object, got a JSON "
                            f"{_JSON_TYPES.get(type(record), type(record).__name__)}",
                            allowed='{"field": value, ...} with the fields of `spinerisk schema`',
                            fix="give one patient per file (an object, not a list)")
    return record


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


# --------------------------------------------------------------------------- formats

def _split_sheet(path: Path, sheet: str | int | None) -> tuple[Path, str | int | None]:
    """``book.xlsx#Sheet 2`` -> (``book.xlsx``, ``"Sheet 2"``), when no such file exists."""
    if sheet is None and "#" in path.name and not path.exists():
        name, _, wanted = str(path).rpartition("#")
        return Path(name), wanted
    return path, sheet


def _read_parquet(path: Path) -> tuple[pd.DataFrame, TableSource]:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise InputFileError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})",
                             fix="export it again as parquet, or as .csv/.xlsx") from None
    return frame, TableSource(str(path), "parquet", n_rows=len(frame), n_columns=frame.shape[1])


def _read_workbook(path: Path, sheet: str | int | None) -> tuple[pd.DataFrame, TableSource]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        names = tuple(CalamineWorkbook.from_path(str(path)).sheet_names)
    except (CalamineError, OSError) as err:  # a corrupt, encrypted or mislabelled workbook
        raise InputFileError(f"{path}: not a readable {path.suffix} workbook ({err})",
                             fix="open it in a spreadsheet program and save it again") from None
    chosen = _choose_sheet(path, names, sheet)
    frame = pd.read_excel(path, sheet_name=chosen, engine="calamine")
    frame.columns = [str(c) for c in frame.columns]
    return frame, TableSource(str(path), path.suffix.lower().lstrip(".").replace("xlsm", "xlsx"),
                              sheet=chosen, sheets=names, n_rows=len(frame),
                              n_columns=frame.shape[1])


def _choose_sheet(path: Path, names: tuple[str, ...], sheet: str | int | None) -> str:
    if not names:
        raise InputFileError(f"{path}: the workbook has no sheets", fix="check the export")
    if sheet is None:
        return names[0]
    if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
        position = int(sheet)
        if 0 <= position < len(names):
            return names[position]
    elif sheet in names:
        return sheet
    raise InputFileError(f"{path}: no sheet {sheet!r}", allowed=", ".join(names),
                         fix=f"name one of these sheets after '#', e.g. {path.name}#{names[0]}")


def _read_text(path: Path) -> tuple[pd.DataFrame, TableSource]:
    raw = path.read_bytes()
    encoding = _detect_encoding(raw)
    text = raw.decode(encoding)
    if not text.strip():
        raise InputFileError(f"{path}: the file holds only blank lines",
                             fix="export the table again, with a header row and data rows")
    delimiter = _detect_delimiter(text)
    decimal = _detect_decimal(path, text, delimiter)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, decimal=decimal, keep_default_na=True,
                            float_precision="round_trip")  # the default parser is off by an ulp
    except pd.errors.ParserError as err:
        raise InputFileError(
            f"{path}: rows do not have the header's number of fields ({err}); read as "
            f"{_DELIMITER_NAMES[delimiter]}-separated",
            fix="quote fields that contain the separator, or export with one separator") from None
    source = TableSource(str(path), "csv", encoding=encoding, delimiter=delimiter,
                         decimal=decimal, n_rows=len(frame), n_columns=frame.shape[1])
    return frame, source


def _detect_encoding(raw: bytes) -> str:
    """UTF-16 or UTF-8 by byte-order mark, else strict UTF-8, else cp1252, else latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"  # decodes any byte; cp1252 leaves five bytes undefined


def _head_records(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text[:1 << 16]), delimiter=delimiter)
    records = [r for _, r in zip(range(SNIFF_RECORDS), reader) if r]
    # the last record may be cut by the 64 kB window
    return records[:-1] if len(records) > 2 and len(text) > 1 << 16 else records


def _detect_delimiter(text: str) -> str:
    """The separator giving the header's (>1) field count on every sniffed record."""
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        records = _head_records(text, delimiter)
        width = len(records[0])
        if width > best_width and all(len(r) == width for r in records):
            best, best_width = delimiter, width
    return best


def _detect_decimal(path: Path, text: str, delimiter: str) -> str:
    """``,`` when some columns hold decimal-comma numbers and none decimal-point ones."""
    if delimiter == ",":
        return "."
    head = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, nrows=SNIFF_RECORDS)
    comma, point = [], []
    for name, values in head.items():
        cells = values.dropna().str.strip()
        if cells.empty:
            continue
        whole = cells.str.fullmatch(_WHOLE)
        if (is_comma := cells.str.fullmatch(_DECIMAL_COMMA)).any() and (is_comma | whole).all():
            comma.append(name)
        if (is_point := cells.str.fullmatch(_DECIMAL_POINT)).any() and (is_point | whole).all():
            point.append(name)
    if comma and point:
        raise InputFileError(
            f"{path}: mixed decimal marks: column {comma[0]!r} uses a decimal comma and "
            f"column {point[0]!r} a decimal point",
            fix="export all numbers with one decimal mark (the spreadsheet's regional setting)")
    return "," if comma else "."


def _record_lines(source: TableSource) -> list[int]:
    """File line (1-based) where each data record starts, as pandas counted records."""
    text = Path(source.path).read_bytes().decode(source.encoding or "utf-8")
    reader = csv.reader(io.StringIO(text), delimiter=source.delimiter or ",")
    starts, line = [], 1
    for record in reader:
        if record:  # pandas skips blank lines
            starts.append(line)
        line = reader.line_num + 1
    return starts[1:]  # the first record is the header
