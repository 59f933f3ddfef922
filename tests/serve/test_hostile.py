"""The API under hostile input, against the real server process (two workers):
unreadable numbers and bodies, wrong content types, no key, slow clients; the security
headers on every route; and no field value in the logs on any path."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

JSON = {"Content-Type": "application/json"}
DEEP = 5_000  # deeper than Python's recursion limit: the parser cannot read it
HUGE = "7" * 5_000  # digits; Python refuses to convert past 4,300


def _raw(patient_text: str) -> bytes:
    return ('{"patient": {"procedure": "peld_transforaminal", "age": 50, "sex": "male", '
            + patient_text + "}}").encode()


def _post(client, server, content: bytes, key=True, headers=JSON):
    sent = {**headers, **({"X-API-Key": server.key} if key else {})}
    return client.post("/v1/predict", content=content, headers=sent)


def _assert_problem_format(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "problems", "request_id"} and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    for p in body["problems"]:
        assert set(p) == {"field", "issue", "value", "allowed", "fix"} and p["fix"], p
    return body


@pytest.mark.parametrize(("text", "field", "echoed"), [
    ('"bmi": Infinity', "bmi", "Infinity"),
    ('"bmi": -Infinity', "bmi", "-Infinity"),
    ('"bmi": NaN', "bmi", "NaN"),
    ('"odi": 1e309', "odi", "1e309"),
    ('"diabetes": -1e400', "diabetes", "-1e400"),
    (f'"leg_pain_nrs": {HUGE}', "leg_pain_nrs", HUGE[:79] + "…"),
])
def test_unreadable_numbers_are_422_field_problems(client, server, text, field, echoed):
    body = _assert_problem_format(_post(client, server, _raw(text)), 422)
    assert body["problems"][0]["field"] == field
    assert body["problems"][0]["value"] == echoed
    assert "not a finite number" in body["problems"][0]["issue"]


def test_unreadable_numbers_are_reported_with_every_other_problem(client, server):
    body = _assert_problem_format(_post(client, server, _raw('"bmi": 1e999, "age": 130')),
                                  422)
    assert {p["field"] for p in body["problems"]} == {"bmi", "age"}


def test_a_large_but_readable_integer_is_out_of_range_not_an_error(client, server):
    body = _assert_problem_format(_post(client, server, _raw('"odi": 12345678901234567890')),
                                  422)
    assert body["problems"][0]["issue"] == "out of range"
    assert body["problems"][0]["value"] == "12345678901234567890"  # echoed as text


@pytest.mark.parametrize(("content", "headers", "status", "field"), [
    (b'{"patient": ' + b"[" * DEEP + b"]" * DEEP + b"}", JSON, 400, "<body>"),
    (b'{"patient": {"sex": "\xff\xfe"}}', JSON, 400, "<body>"),
    (b'{"patient": {"age": 6', JSON, 400, "<body>"),
    (b'{"patient": {}}', {"Content-Type": "text/plain"}, 415, "<content-type>"),
    (b'{"patient": {}}', {}, 415, "<content-type>"),
])
def test_unreadable_bodies_and_wrong_types_use_the_problem_format(client, server, content,
                                                                  headers, status, field):
    body = _assert_problem_format(_post(client, server, content, headers=headers), status)
    assert [p["field"] for p in body["problems"]] == [field]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/no-such-page", 404), ("PUT", "/v1/predict", 405), ("GET", "/v1/models", 401)])
def test_routing_errors_use_the_problem_format(client, method, path, status):
    _assert_problem_format(client.request(method, path), status)


def test_wrong_content_type_says_what_to_send(client, server):
    body = _post(client, server, b"age=61", headers={"Content-Type": "text/plain"}).json()
    assert body["problems"][0]["value"] == "text/plain"
    assert "Content-Type: application/json" in body["problems"][0]["fix"]


@pytest.mark.parametrize("content", [b'{"patient": {"age": 6', b'{"patient": {}}',
                                     b'{"patient": {"age": Infinity}}'])
def test_the_key_is_checked_before_the_body_is_read(client, server, content):
    _assert_problem_format(_post(client, server, content, key=False), 401)


ROUTES = [("GET", "/", None), ("GET", "/docs", None), ("GET", "/health", None),
          ("GET", "/v1/schema", None), ("GET", "/v1/models", None),
          ("GET", "/openapi.json", None), ("GET", "/static/app.js", None),
          ("GET", "/no-such-page", None), ("POST", "/v1/predict", b'{"patient": {}}'),
          ("POST", "/v1/predict", b"{"), ("PUT", "/v1/predict", b"{}")]


@pytest.mark.parametrize(("method", "path", "content"), ROUTES)
@pytest.mark.parametrize("key", [True, False])
def test_security_headers_on_every_route(client, server, method, path, content, key):
    headers = {**JSON, **({"X-API-Key": server.key} if key else {})}
    response = client.request(method, path, content=content, headers=headers)
    h = response.headers
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "script-src 'self';" in h["content-security-policy"]
    assert "unsafe-inline" not in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cache-control"] == ("no-cache" if path.startswith("/static/") else "no-store")
    assert len(h["x-request-id"]) == 16


def test_the_413_carries_the_headers_and_the_problem_format(client, server):
    response = _post(client, server, b'{"patient": {"x": "' + b"y" * server.max_body + b'"}}')
    _assert_problem_format(response, 413)
    assert response.headers["x-frame-options"] == "DENY"


# ------------------------------------------------------------------ logs

#: Marker values: none may appear in the server's log, whatever path the request took.
MARKERS = {"bmi_ok": "27.2541", "age_bad": "131.7182", "level": "zq-marker-level",
           "text": "zq-marker-text", "field": "zq_marker_field", "huge": "9" * 5000,
           "overflow": "4.4441e309", "deep": "63.6363", "utf8": "zq-marker-utf8"}


def _bad_inputs(key: str) -> list[tuple[bytes, dict]]:
    m, headers = MARKERS, {**JSON, "X-API-Key": key}
    return [
        (_raw(f'"bmi": {m["bmi_ok"]}'), headers),  # a valid request
        (_raw(f'"odi": {m["age_bad"]}'), headers),  # out of range
        (_raw(f'"modic_type": "{m["level"]}"'), headers),  # unknown level
        (_raw(f'"bmi": "{m["text"]}"'), headers),  # not a number
        (_raw(f'"{m["field"]}": 1'), headers),  # unknown field
        (_raw(f'"bmi": {m["huge"]}'), headers),  # huge integer
        (_raw(f'"bmi": {m["overflow"]}, "odi": Infinity, "age": NaN'), headers),  # non-finite
        (_raw(f'"bmi": [{m["deep"]}]'), headers),  # not a scalar
        (b'{"patient": {"bmi": ' + b"[" * DEEP + m["deep"].encode() + b"]" * DEEP + b"}}",
         headers),  # too deep
        (_raw(f'"sex": "{m["utf8"]}"').replace(b"utf8", b"utf8\xff"), headers),  # bad UTF-8
        (_raw(f'"bmi": "{m["text"]}"'), {"Content-Type": "text/plain", "X-API-Key": key}),
        (_raw(f'"bmi": "{m["text"]}"'), JSON),  # no key
        (_raw(f'"bmi": {m["bmi_ok"]}')[:-2], headers),  # truncated JSON
        (_raw(f'"bmi": {m["bmi_ok"]}, "task": "{m["level"]}"'), headers),  # no such task
        (_raw(f'"bmi": "{m["text"]}", "x": "' + "y" * 20_000 + '"'), headers),  # too large
    ]


def test_no_field_value_in_the_logs_on_any_path(client, server):
    statuses = [client.post("/v1/predict", content=content, headers=headers).status_code
                for content, headers in _bad_inputs(server.key)]
    assert statuses == [200, 422, 422, 422, 422, 422, 422, 422, 400, 400, 415, 401, 400, 422,
                        413]
    time.sleep(0.5)  # the workers' last lines
    log = server.log.read_text()
    assert "POST /v1/predict 200" in log and "model_version=1" in log
    assert "POST /v1/predict 0 " not in log and "Traceback" not in log
    found = [name for name, marker in MARKERS.items() if marker[:12] in log]
    assert found == [], found


def test_an_unexpected_error_is_a_500_logged_by_class_and_request_id(caplog):
    """In process, with a service that fails quoting the record: the client gets the
    problem format and the request id; the log gets the error class and that id only."""
    import asyncio

    import httpx

    from spinerisk.serve import create_app

    class Failing:
        def tasks(self):
            return {"reoperation"}

        def predict(self, record, task=None, alias=None):
            raise RuntimeError(f"age {record['age']} broke something")

    async def call(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://test") as client:
            return await client.post("/v1/predict", json={"patient": {"age": 55.5151}},
                                     headers={"X-API-Key": "k" * 16})

    with caplog.at_level("INFO"):
        response = asyncio.run(call(create_app(Failing(), api_key="k" * 16)))
    body = _assert_problem_format(response, 500)
    assert response.headers["x-frame-options"] == "DENY"
    assert f"unexpected RuntimeError request_id={body['request_id']}" in caplog.text
    assert "55.5151" not in caplog.text and "broke" not in caplog.text


# ------------------------------------------------------------------ slow clients

SLOW = 8  # connections of each kind


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket) -> bool:
    try:
        while sock.recv(4096):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.timeout(60)
def test_slow_clients_are_disconnected_after_the_read_timeout(server):
    """Silent, slow-header and slow-body connections (bounded: 3 x SLOW on 127.0.0.1),
    each trickling a byte every 0.25 s, are all closed by the server after its read
    timeout -- not before, and well within twice the timeout plus scheduling slack."""
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + server.key.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
    kinds = {"silent": b"", "slow header": b"GET /health HTTP/1.1\r\nX-Padding: ",
             "slow body": head + b'{"patient": {'}
    started = time.monotonic()
    open_ = {(kind, i): _connect(server.url) for kind in kinds for i in range(SLOW)}
    for (kind, _), sock in open_.items():
        sock.sendall(kinds[kind])
    closed_after: dict[tuple[str, int], float] = {}
    while open_ and time.monotonic() - started < 4 * server.read_timeout + 10:
        time.sleep(0.25)
        for name, sock in list(open_.items()):
            try:
                if name[0] != "silent":
                    sock.send(b"a")
            except OSError:
                pass
            if _closed(sock):
                closed_after[name] = time.monotonic() - started
                sock.close()
                del open_[name]
    for sock in open_.values():
        sock.close()
    assert not open_, f"still open: {sorted(open_)}"
    assert min(closed_after.values()) >= 0.9 * server.read_timeout, closed_after
    assert max(closed_after.values()) <= 2 * server.read_timeout + 5, closed_after


def test_a_slow_body_gets_a_408_before_the_connection_closes(server):
    sock = _connect(server.url)
    sock.setblocking(True)
    sock.settimeout(4 * server.read_timeout + 10)
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nX-API-Key: " + server.key.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert json.loads(payload)["detail"].startswith("the request body was not received")


# ------------------------------------------------------------------ workers

def _workers(parent: int) -> set[int]:
    """Child processes of ``parent`` (from /proc: field 4 of /proc/<pid>/stat)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.timeout(60)
def test_a_worker_that_dies_is_replaced_and_the_server_keeps_answering(server, patient):
    before = _workers(server.pid)
    assert len(before) == server.workers
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(server.pid)
        if len(now) == server.workers and victim not in now:
            break
        time.sleep(0.2)
    assert victim not in now and len(now) == server.workers, (before, now)
    with httpx.Client(base_url=server.url, timeout=30) as fresh:
        answers = [fresh.post("/v1/predict", json={"patient": patient},
                              headers={"X-API-Key": server.key}).status_code
                   for _ in range(2 * server.workers)]
    assert answers == [200] * (2 * server.workers)
    assert "exited (signal 9); starting another" in server.log.read_text()
