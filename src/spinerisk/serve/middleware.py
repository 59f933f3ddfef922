"""What wraps every request: security headers, request id, access log, error guard, and
the bounded reading of the body (size and time).

Order (outermost first): :class:`SecurityHeaders`, :class:`RequestLog`, :class:`BodyReader`,
then the app -- so even the guard's 500 and the reader's 408/413 carry the headers and
are logged.

Log lines hold the method, the route, status, latency, model version and request id;
an unexpected error adds its class name only. Never a field value: exception messages
and tracebacks can quote the record, so neither is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterable

from spinerisk.serve.problems import body as problem_body

LOG = logging.getLogger("spinerisk.serve")

#: No inline script or style, nothing from elsewhere, never framed.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


async def send_problem(send, status: int, detail: str, request_id: str,
                       problems: list | None = None, close: bool = False) -> None:
    """Answer with a problem-format JSON body straight from ASGI middleware."""
    payload = json.dumps(problem_body(detail, problems or [], request_id)).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """Add the security headers to every response; ``no-store`` on all but static files."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cache = b"no-cache" if scope["path"].startswith("/static/") else b"no-store"

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() != b"cache-control"]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS,
                                                  (b"cache-control", cache)]}
            await send(message)

        await self.app(scope, receive, with_headers)


class RequestLog:
    """Give each request an id (``X-Request-ID``), log one line for it, and turn any
    unexpected exception into a 500 in the problem format, logged by class name only.

    Parameters
    ----------
    app : ASGI app
    routes : iterable of str
        Paths logged as themselves; any other path is logged as ``<other>`` (a path is
        client-chosen text).
    """

    def __init__(self, app, routes: Iterable[str]):
        self.app, self.routes = app, frozenset(routes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, request_id = time.perf_counter(), [0], uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id

        async def record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, record)
        except Exception as exc:  # noqa: BLE001 -- the boundary: nothing escapes unlogged
            LOG.error("unexpected %s request_id=%s", type(exc).__name__, request_id)
            if status[0] == 0:
                await send_problem(record, 500, "unexpected server error; quote the "
                                   "request id when reporting it", request_id, close=True)
        finally:
            path = scope["path"]
            shown = path if path in self.routes or path.startswith("/static/") else "<other>"
            LOG.info("%s %s %d %.1fms model_version=%s request_id=%s", scope["method"],
                     shown, status[0], 1e3 * (time.perf_counter() - started),
                     scope["state"].get("model_version", "-"), request_id)


class BodyReader:
    """Read the whole body before the app sees it: 413 past ``max_bytes`` (by header or
    while streaming), 408 and close when it takes longer than ``timeout`` seconds."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = scope["state"]["request_id"]
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(send, request_id)
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.timeout):
                more = True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None  # the client went away: nothing to answer
                    chunks.append(message.get("body", b""))
                    more = message.get("more_body", False)
                    if sum(map(len, chunks)) > self.max_bytes:
                        return await self._too_large(send, request_id)
        except TimeoutError:
            return await send_problem(
                send, 408, f"the request body was not received within {self.timeout:g} s; "
                "send it in one go", request_id, close=True)
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed():
            return replay.pop() if replay else await receive()

        return await self.app(scope, replayed, send)

    async def _too_large(self, send, request_id: str) -> None:
        await send_problem(send, 413, f"request body larger than {self.max_bytes} bytes",
                           request_id, close=True)
