"""The API's one problem format, and the strict reading of a JSON request body.

Every refusal -- a bad key, an unreadable body, a wrong content type, a bad field, an
unexpected error -- answers ``{"detail", "problems": [{field, issue, value, allowed, fix}],
"request_id"}``. A value is echoed only when JSON can carry it back unchanged (finite
numbers, short text); anything else is echoed as its literal text or not at all, so an
error response can never fail to encode.

The body is read with Python's JSON parser made strict: ``NaN``, ``Infinity`` and numbers
that overflow a double (``1e309``, a 5,000-digit integer) become :class:`Unreadable`
markers, reported as field problems (422) rather than crashing the encoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from spinerisk import schema

#: Longest text echoed back in a problem (longer values are cut, with an ellipsis).
ECHO_CHARS = 80
#: Integers with more digits than this exceed every field's range; they are not converted
#: (Python refuses beyond 4,300 digits, and nothing good comes of the work before that).
MAX_INT_DIGITS = 30


class ProblemModel(BaseModel):
    """One problem with the request, worded for the person who must fix it."""

    field: str
    issue: str
    value: Any = None
    allowed: str = ""
    fix: str = ""


class ErrorResponse(BaseModel):
    """Error body: a message, every problem found, and the request id of the log line."""

    detail: str
    problems: list[ProblemModel] = []
    request_id: str = ""


class Refused(Exception):
    """A request refused with ``status``; rendered in the problem format."""

    def __init__(self, status: int, detail: str, problems: list[dict] | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.problems, self.headers = problems or [], dict(headers or {})


class Unreadable:
    """A JSON number that no double can hold (NaN, Infinity, an overflowing literal)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = echo(text)


def echo(value: Any) -> Any:
    """``value`` as JSON can carry it back: finite numbers and short text unchanged."""
    if isinstance(value, Unreadable):
        return value.text
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10 ** 15 else echo(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS - 1] + "…"
    return None


def problem(field: str, issue: str, value: Any = None, allowed: str = "",
            fix: str = "") -> dict[str, Any]:
    """One problem entry, with the value made safe to encode."""
    return {"field": field, "issue": issue, "value": echo(value), "allowed": allowed,
            "fix": fix}


def body(detail: str, problems: list[dict], request_id: str) -> dict[str, Any]:
    """The problem-format response body."""
    return {"detail": detail, "problems": problems, "request_id": request_id}


# --------------------------------------------------------------------------- reading JSON

def _float(text: str) -> float | Unreadable:
    number = float(text)
    return number if math.isfinite(number) else Unreadable(text)


def _int(text: str) -> int | Unreadable:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else Unreadable(text)


def read_json(raw: bytes, content_type: str | None) -> Any:
    """Parse a request body as strict JSON.

    Raises
    ------
    Refused
        415 for a content type other than ``application/json``; 400 for a body that is
        not UTF-8, not JSON, or nested too deeply to parse.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise Refused(415, "the request body must be JSON", [problem(
            "<content-type>", "not application/json", media or "(none)",
            "application/json", "send the header Content-Type: application/json")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(400, "the request body is not UTF-8 text", [problem(
            "<body>", f"invalid UTF-8 at byte {err.start}", allowed="UTF-8 encoded JSON",
            fix="encode the JSON body as UTF-8")]) from None
    try:
        return json.loads(text, parse_float=_float, parse_int=_int,
                          parse_constant=Unreadable)
    except json.JSONDecodeError as err:
        raise Refused(400, "the request body is not valid JSON", [problem(
            "<body>", f"{err.msg} at line {err.lineno}, column {err.colno}",
            allowed="a JSON object", fix=ENVELOPE_FIX)]) from None
    except RecursionError:
        raise Refused(400, "the request body is nested too deeply", [problem(
            "<body>", "nested too deeply to read", allowed="a JSON object of scalar "
            "fields", fix=ENVELOPE_FIX)]) from None


ENVELOPE_FIX = 'send a JSON object {"patient": {...}, "task": ..., "model": ...}'


# --------------------------------------------------------------------------- field problems

def unreadable_fields(patient: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A 422 problem for every patient field holding an :class:`Unreadable` number."""
    out = []
    for name, value in patient.items():
        if isinstance(value, Unreadable):
            spec = schema.FIELD_BY_NAME.get(name)
            out.append(problem(
                name, "not a finite number (NaN, Infinity or beyond ±1.8e308)", value,
                spec.allowed() if spec else "a finite number",
                "send a finite number in the allowed range, or leave the field out"))
    return out


def contract_problems(error: schema.SchemaValidationError) -> list[dict[str, Any]]:
    """The data contract's problems in the API's format (the same words as the CLI)."""
    return [problem(p.field, p.issue, p.values[0] if len(p.values) == 1 else
                    [echo(v) for v in p.values] or None, p.allowed, p.fix)
            for p in error.problems]


def envelope_problems(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's findings on the request envelope in the contract's words."""
    return [_envelope_problem(e) for e in error.errors()]


def _envelope_problem(error: Mapping[str, Any]) -> dict[str, Any]:
    # union members appear as extra loc parts; the field is the first key under patient
    loc = [str(part) for part in error.get("loc", ())]
    if loc[:1] == ["patient"] and len(loc) > 1:
        field, allowed = loc[1], "a number, true/false, a text level or null"
    else:
        field, allowed = ".".join(loc[:1]) or "<body>", ""
    value = error.get("input")
    if not isinstance(value, (str, int, float, bool, type(None), Unreadable)):
        value = type(value).__name__
    fix = ENVELOPE_FIX if field in ("<body>", "patient") else "send one scalar value per field"
    return problem(field, error.get("msg", "invalid"), value, allowed, fix)
