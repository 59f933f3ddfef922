"""The HTTP API and the clinician web page.

``POST /v1/predict`` takes ``{"patient": {...}, "task": optional, "model": optional}``
and answers with the pathway summary, the calibrated risk, its interval, the
out-of-distribution check and the drivers -- the same object ``spinerisk predict --json``
prints, produced by the same :class:`spinerisk.explain.PatientService`.

* Every ``/v1`` request except ``/v1/schema`` needs the API key (header ``X-API-Key``,
  at least :data:`MIN_KEY_LENGTH` visible ASCII characters) configured through the
  environment variable ``SPINERISK_API_KEY``; otherwise 401, checked before the body is
  parsed.
* Bodies over ``max_body_bytes`` are refused with 413, bodies slower than
  ``body_timeout`` seconds with 408, before they are parsed.
* Every refusal uses one problem format (:mod:`spinerisk.serve.problems`): 400 for a body
  that is not UTF-8 JSON, 415 for another content type, 422 with one entry per problem
  (field, value, issue, allowed range or levels, fix -- the data contract's own messages,
  identical on the CLI) for a bad record, including non-finite numbers.
* Every response carries the security headers (:mod:`spinerisk.serve.middleware`).
* The models are loaded once, at start-up, from the MLflow registry aliases.
* Concurrent predictions are scored together in micro-batches
  (:mod:`spinerisk.serve.batching`), each answer equal to the patient's own; 503 with
  ``Retry-After`` when more requests wait than the worker accepts.
* Each request is logged with method, route, status, latency, model version and request
  id; an unexpected error with its class name only; never a field value.
* ``/`` is the clinician page and ``/docs`` a self-contained API reference (the machines
  are offline, so nothing is fetched from a CDN).
"""

from __future__ import annotations

import hmac
import secrets
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from spinerisk.errors import UsageError
from spinerisk.explain.service import Query
from spinerisk.schema import SchemaValidationError, validate_record
from spinerisk.serve import problems as pf
from spinerisk.serve.batching import DEFAULT_MAX_BATCH, Busy, MicroBatcher, batch_scorer
from spinerisk.serve.form import form_schema
from spinerisk.serve.middleware import BodyReader, RequestLog, SecurityHeaders

API_KEY_ENV = "SPINERISK_API_KEY"
MIN_KEY_LENGTH = 16
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_BODY_TIMEOUT = 10.0
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


def _error(description: str) -> dict[str, Any]:
    return {"model": pf.ErrorResponse, "description": description}


_ERRORS = {400: _error("Body is not UTF-8 JSON, or nested too deeply."),
           401: _error("Missing or wrong API key."),
           408: _error("Body not received in time."),
           413: _error("Request body too large."),
           415: _error("Content type is not application/json."),
           503: _error("Too many requests waiting; retry after the Retry-After seconds."),
           422: _error("Invalid request: one entry per problem with field, value, allowed "
                       "range and fix."),
           500: _error("Unexpected error (logged by class name and request id).")}
_PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}}


def check_api_key(key: str) -> None:
    """Refuse keys a client could not send or could guess.

    Raises
    ------
    UsageError
        Naming the environment variable, what is allowed and how to make a key.
    """
    if len(key) < MIN_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise UsageError(
            f"the API key in {API_KEY_ENV} is {len(key)} characters long or has spaces",
            allowed=f"at least {MIN_KEY_LENGTH} visible ASCII characters without spaces",
            fix=f"make one with `spinerisk serve --generate-key` and export it as {API_KEY_ENV}")


def new_api_key() -> str:
    """A fresh random key (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def create_app(service, api_key: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               body_timeout: float = DEFAULT_BODY_TIMEOUT,
               max_batch: int = DEFAULT_MAX_BATCH) -> FastAPI:
    """Build the app around a loaded :class:`spinerisk.explain.PatientService`.

    Parameters
    ----------
    service : PatientService
        Models loaded once; answers ``predict(record, task, alias)`` and ``models()``.
    api_key : str
        The key every ``/v1`` request must present in ``X-API-Key`` (see
        :func:`check_api_key`).
    max_body_bytes : int
        Largest accepted request body.
    body_timeout : float
        Seconds allowed for receiving a whole request body.
    max_batch : int
        Most concurrent predictions scored as one batch (see
        :mod:`spinerisk.serve.batching`; 1 = one at a time).
    """
    check_api_key(api_key)
    app = FastAPI(title="spinerisk", version="1", docs_url=None, redoc_url=None,
                  description="Per-patient risk along the MRI-phenotype-to-intervention "
                  "pathway for low-back pain. " + NOTICE)
    app.state.service = service
    header = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description=f"API key (server env {API_KEY_ENV}).")
    form = form_schema(service.tasks(), NOTICE)
    batcher = MicroBatcher(batch_scorer(service), max_batch=max_batch)
    app.state.batcher = batcher

    async def require_key(key: str | None = Depends(header)) -> None:
        # async: a plain function would be run in the thread pool, a thread hop per request
        if key is None or not hmac.compare_digest(key.encode(), api_key.encode()):
            raise pf.Refused(401, "missing or wrong API key; send it in the X-API-Key header",
                             headers={"WWW-Authenticate": "APIKey"})

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
    def schema_for_form() -> dict[str, Any]:
        """The patient record's fields by group, with clinical labels, units, allowed
        ranges and level names; the outcomes; example patients (no key)."""
        return form

    @app.post("/v1/predict", tags=["predict"], dependencies=[Depends(require_key)],
              responses=_ERRORS, openapi_extra=_PREDICT_BODY)
    async def predict(request: Request) -> JSONResponse:
        """Pathway summary, calibrated risk, interval, out-of-distribution check and
        drivers for one patient."""
        body = _envelope(pf.read_json(await request.body(),
                                      request.headers.get("content-type")))
        try:  # scored with the requests waiting alongside it (spinerisk.serve.batching)
            result = await batcher.submit(Query(body.patient, body.task, body.model))
        except Busy:
            raise pf.Refused(503, "the server is busy; retry in a moment",
                             headers={"Retry-After": "1"}) from None
        if isinstance(result, SchemaValidationError):
            raise result
        request.scope["state"]["model_version"] = result["model"]["version"]
        return JSONResponse(result)  # already plain JSON types: no re-encoding pass

    _mount_pages(app)
    _install_handlers(app)
    app.add_middleware(BodyReader, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(RequestLog, routes=[r.path for r in app.routes])
    app.add_middleware(SecurityHeaders)  # added last = outermost: on every response
    return app


def _envelope(payload: Any) -> PredictRequest:
    """The request envelope, with unreadable numbers reported next to the contract's own
    problems with the rest of the record (every problem at once)."""
    patient = payload.get("patient") if isinstance(payload, dict) else None
    unreadable = pf.unreadable_fields(patient) if isinstance(patient, dict) else []
    if unreadable:
        bad = {p["field"] for p in unreadable}
        rest = {k: v for k, v in patient.items() if k not in bad}
        try:
            validate_record(rest)
        except SchemaValidationError as err:
            unreadable += pf.contract_problems(err)
        raise pf.Refused(422, f"{len(unreadable)} problem(s) with the patient record",
                         unreadable)
    try:
        return PredictRequest.model_validate(payload)
    except ValidationError as err:
        found = pf.envelope_problems(err)
        raise pf.Refused(422, f"{len(found)} problem(s) with the request", found) from None


def _mount_pages(app: FastAPI) -> None:
    static = resources.files("spinerisk.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(str(static / "docs.html"))


def _install_handlers(app: FastAPI) -> None:
    def respond(request: Request, status: int, detail: str, problems: list,
                headers: dict | None = None) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id", "")
        return JSONResponse(pf.body(detail, problems, request_id), status, headers=headers)

    @app.exception_handler(pf.Refused)
    def refused(request: Request, exc: pf.Refused) -> JSONResponse:
        return respond(request, exc.status, exc.detail, exc.problems, exc.headers)

    @app.exception_handler(SchemaValidationError)
    def bad_record(request: Request, exc: SchemaValidationError) -> JSONResponse:
        found = pf.contract_problems(exc)
        return respond(request, 422, f"{len(found)} problem(s) with the patient record", found)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return respond(request, exc.status_code, str(exc.detail), [], exc.headers)
