"""The HTTP API and the clinician web page.

``POST /v1/predict`` takes ``{"patient": {...}, "task": optional, "model": optional}``
and answers with the pathway summary, the calibrated risk, its interval, the
out-of-distribution check and the drivers -- the same object ``spinerisk predict --json``
prints, produced by the same :class:`spinerisk.explain.PatientService`.

* Every ``/v1`` request needs the API key (header ``X-API-Key``) configured through the
  environment variable ``SPINERISK_API_KEY``; otherwise 401.
* Bodies over ``max_body_bytes`` are refused with 413 before they are parsed.
* A bad patient record is 422 with one entry per problem: field, value, issue, allowed
  range or levels and the fix -- the data contract's own messages, identical on the CLI.
* The models are loaded once, at start-up, from the MLflow registry aliases.
* Each request is logged with method, path, status, latency and model version; never a
  field value.
* ``/`` is the clinician page and ``/docs`` a self-contained API reference (the machines
  are offline, so nothing is fetched from a CDN).
"""

from __future__ import annotations

import hmac
import logging
import time
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from spinerisk.schema import SchemaValidationError

LOG = logging.getLogger("spinerisk.serve")
API_KEY_ENV = "SPINERISK_API_KEY"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
NOTICE = "Decision support for research use; not a substitute for clinical judgement."

Scalar = float | int | bool | str | None


class PredictRequest(BaseModel):
    """One patient and, optionally, which task and model alias to use."""

    model_config = ConfigDict(extra="forbid")

    patient: dict[str, Scalar] = Field(
        ..., description="The patient record: contract field -> value (absent or null = "
        "missing). See GET /v1/schema for fields, units and allowed ranges.",
        examples=[{"age": 61, "sex": "male", "procedure": "peld_transforaminal",
                   "modic_type": "type2", "index_level": "L4-L5"}])
    task: str | None = Field(None, description="Task; default: implied by the procedure.")
    model: str | None = Field(None, description="Registry alias (e.g. 'candidate'); default: "
                              "the alias the server loaded.")


class Problem(BaseModel):
    """One problem with the request, worded for the person who must fix it."""

    field: str
    issue: str
    value: Any = None
    allowed: str = ""
    fix: str = ""


class ErrorResponse(BaseModel):
    """Error body: a message and, for 422, every problem found."""

    detail: str
    problems: list[Problem] = []


_ERRORS = {401: {"model": ErrorResponse, "description": "Missing or wrong API key."},
           413: {"model": ErrorResponse, "description": "Request body too large."},
           422: {"model": ErrorResponse, "description": "Invalid request: one entry per "
                 "problem with field, value, allowed range and fix."}}


def create_app(service, api_key: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """Build the app around a loaded :class:`spinerisk.explain.PatientService`.

    Parameters
    ----------
    service : PatientService
        Models loaded once; answers ``predict(record, task, alias)`` and ``models()``.
    api_key : str
        The key every ``/v1`` request must present in ``X-API-Key``.
    max_body_bytes : int
        Largest accepted request body.
    """
    if not api_key:
        raise ValueError(f"no API key configured; set the environment variable {API_KEY_ENV}")
    app = FastAPI(title="spinerisk", version="1", docs_url=None, redoc_url=None,
                  description="Per-patient risk along the MRI-phenotype-to-intervention "
                  "pathway for low-back pain. " + NOTICE)
    app.state.service = service
    header = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description=f"API key (server env {API_KEY_ENV}).")

    def require_key(key: str | None = Depends(header)) -> None:
        if key is None or not hmac.compare_digest(key.encode(), api_key.encode()):
            raise _Refused(401, "missing or wrong API key; send it in the X-API-Key header")

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness and which tasks have a model loaded (no key needed)."""
        return {"status": "ok", "tasks": sorted(service.tasks())}

    @app.get("/v1/models", tags=["service"], dependencies=[Depends(require_key)],
             responses={401: _ERRORS[401]})
    def models() -> dict[str, Any]:
        """The models loaded from the registry: task, name, version, alias."""
        return {"models": service.models(), "notice": NOTICE}

    @app.get("/v1/schema", tags=["service"])
    def form_schema() -> dict[str, Any]:
        """The patient record's fields by group, with units and allowed ranges (no key)."""
        return service.form_schema()

    @app.post("/v1/predict", tags=["predict"], dependencies=[Depends(require_key)],
              responses=_ERRORS)
    def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
        """Pathway summary, calibrated risk, interval, out-of-distribution check and
        drivers for one patient."""
        result = service.predict(body.patient, task=body.task, alias=body.model)
        request.state.model_version = result["model"]["version"]
        return result

    _mount_pages(app)
    _install_handlers(app)
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(_AccessLog)  # added last = outermost, so refused bodies are logged too
    return app


def _mount_pages(app: FastAPI) -> None:
    static = resources.files("spinerisk.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(str(static / "docs.html"))


class _Refused(Exception):
    def __init__(self, status: int, detail: str, problems: list[dict] | None = None):
        self.status, self.detail, self.problems = status, detail, problems or []


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(_Refused)
    def refused(request: Request, exc: _Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "APIKey"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail, "problems": exc.problems}, exc.status,
                            headers=headers)

    @app.exception_handler(SchemaValidationError)
    def bad_record(request: Request, exc: SchemaValidationError) -> JSONResponse:
        problems = [{"field": p.field, "issue": p.issue,
                     "value": p.values[0] if len(p.values) == 1 else list(p.values),
                     "allowed": p.allowed, "fix": p.fix} for p in exc.problems]
        return JSONResponse({"detail": f"{len(problems)} problem(s) with the patient record",
                             "problems": problems}, 422)

    @app.exception_handler(RequestValidationError)
    def bad_envelope(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_envelope_problem(e) for e in exc.errors()]
        return JSONResponse({"detail": f"{len(problems)} problem(s) with the request",
                             "problems": problems}, 422)


def _envelope_problem(error: dict[str, Any]) -> dict[str, Any]:
    """A pydantic error in the contract's words (field, value, issue, allowed, fix)."""
    loc = [str(part) for part in error.get("loc", ()) if part != "body"]
    # union members appear as extra loc parts; the field is the first key under patient
    if error.get("type") == "json_invalid":
        field, allowed = "<body>", "a JSON object"
    elif loc[:1] == ["patient"] and len(loc) > 1:
        field, allowed = loc[1], "a number, true/false, a text level or null"
    else:
        field, allowed = ".".join(loc[:1]) or "<body>", ""
    value = error.get("input")
    if not isinstance(value, (str, int, float, bool, type(None))):
        value = type(value).__name__
    fix = ("send a JSON object {\"patient\": {...}, \"task\": ..., \"model\": ...}"
           if field in ("<body>", "patient") else "send one scalar value per field")
    return {"field": field, "issue": error.get("msg", "invalid"), "value": value,
            "allowed": allowed, "fix": fix}


class _BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, by header or while streaming."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _too_large(self.max_bytes, send)
        body, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body.append(message.get("body", b""))
            more = message.get("more_body", False)
            if sum(map(len, body)) > self.max_bytes:
                return await _too_large(self.max_bytes, send)
        replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]

        async def replayed():
            return replay.pop() if replay else await receive()

        return await self.app(scope, replayed, send)


async def _too_large(max_bytes: int, send) -> None:
    response = JSONResponse({"detail": f"request body larger than {max_bytes} bytes",
                             "problems": []}, 413)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(k, v) for k, v in response.raw_headers]})
    await send({"type": "http.response.body", "body": response.body})


class _AccessLog:
    """One log line per request: method, path, status, latency, model version."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def record_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            version = scope.get("state", {}).get("model_version", "-")
            LOG.info("%s %s %d %.1fms model_version=%s", scope["method"], scope["path"],
                     status[0], 1e3 * (time.perf_counter() - started), version)
