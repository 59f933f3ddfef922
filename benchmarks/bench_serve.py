"""HTTP load on ``POST /v1/predict``: requests/s and p50/p99 latency at concurrency 1, 8, 32.

Client and server run side by side on this machine: the server in its own process (its
workers forked from it), the client here, on the loopback interface only, with a bounded
number of requests per level. Each client connection is an HTTP/1.1 keep-alive
connection driven by a small asyncio loop (a raw socket client, so the client's own cost
stays small next to the server's).

The same model and the same requests are served by two servers, back to back:

* ``baseline``: the serving code of another source tree (``--baseline-src``, e.g. the
  ``main`` branch exported with ``git archive main src | tar -x -C /tmp/base``), run the
  way its ``spinerisk serve`` ran it: one uvicorn process;
* ``ours``: this tree's ``spinerisk serve`` (:func:`spinerisk.serve.runner.run`) with
  ``--workers`` forked workers.

The model (reoperation, xgboost Cox, calibrated, with a bootstrap ensemble for the
interval) is fitted once and handed to both servers as a joblib file; no registry.

Besides requests/s and latency, each level reports the CPU time the server (its process
and workers) and the client spent per request: on a shared machine the rates swing with
the other jobs, the CPU per request much less.

Run: ``uv run python benchmarks/bench_serve.py --baseline-src /tmp/base/src`` (``--help``
for sizes; ``--folder DIR`` keeps the fitted models for the next run). Goal (issue 14):
on 2 cores, >= 2x the baseline's requests/s at concurrency 8 with p99 <= 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"  # loopback only: the load never leaves the machine
KEY = "bench-key-not-secret-0123456789"
LEVELS = (1, 8, 32)


# ------------------------------------------------------------------ the server side

def _fit(path: Path, n: int, trees: int, members: int, seed: int) -> list[dict]:
    """Fit the model, save it to ``path``, and return request records (simulated)."""
    import joblib
    import pandas as pd

    from spinerisk import schema
    from spinerisk.cohort import simulate
    from spinerisk.explain import fit_bootstrap_ensemble
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(n, tasks=("reoperation",), seed=seed).frame.drop(columns=["patient_id"])
    y = pd.DataFrame({"time": frame["reoperation_time_months"].to_numpy(float),
                      "event": frame["reoperation_event"].to_numpy(float)})
    model = RiskModel(spine_task("reoperation"), learner="xgboost_cox",
                      params={"n_estimators": trees, "max_depth": 3, "learning_rate": 0.1},
                      calibration="platt", calibration_folds=3, random_state=seed).fit(frame, y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=members, seed=seed)
    joblib.dump(model, path)
    keep = [c for c in frame.columns if schema.FIELD_BY_NAME.get(c) is not None
            and schema.FIELD_BY_NAME[c].role in ("predictor", "procedure")]
    rows = frame[keep].iloc[:64]
    rows = rows.astype(object).where(rows.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items() if v is not None}
            for r in rows.to_dict("records")]


def serve(model_path: str, port: int, workers: int, stub: bool = False) -> None:
    """Server process: load the model, build the app of whichever ``spinerisk`` is on the
    path, and serve it as that tree's ``spinerisk serve`` would. ``stub``: every request
    gets one answer computed at start (the HTTP layer's cost alone)."""
    import joblib
    import uvicorn

    from spinerisk.explain.service import LoadedModel, PatientService
    from spinerisk.serve import create_app

    loaded = LoadedModel(joblib.load(model_path), "spinerisk-reoperation", "1", "bench",
                         "models:/spinerisk-reoperation@bench")
    service = PatientService([loaded])
    if stub:
        records = json.loads((Path(model_path).parent / "records.json").read_text())
        answer = service.predict(records[0])
        service.predict_many = lambda queries, interval=True: [answer for _ in queries]
    app = create_app(service, api_key=KEY)
    try:
        from spinerisk.serve.runner import ServeOptions, run
    except ImportError:  # the baseline tree: one uvicorn process, as its CLI ran it
        uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)
        return
    run(app, ServeOptions(host=HOST, port=port, workers=workers))


def _fit_with(src: str, folder: Path, args) -> tuple[Path, list[dict]]:
    """Fit the model with the code of ``src`` (a baseline cannot unpickle a model of ours)
    and return its path and the request records that tree simulates."""
    model_path, records_path = folder / "model.joblib", folder / "records.json"
    if model_path.exists() and records_path.exists():  # --folder of an earlier run
        return model_path, json.loads(records_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--fit", str(model_path), "--n", str(args.n),
                    "--trees", str(args.trees), "--members", str(args.members),
                    "--seed", str(args.seed)],
                   env={**os.environ, "PYTHONPATH": src}, check=True)
    return model_path, json.loads(records_path.read_text())


def _start(src: str, model_path: Path, workers: int, log: Path,
           stub: bool = False) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--serve", str(model_path), "--port", str(port),
               "--workers", str(workers), *(["--stub"] if stub else [])]
    with open(log, "w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


# ------------------------------------------------------------------ the client side

def _request(record: dict) -> bytes:
    body = json.dumps({"patient": record}).encode()
    return (f"POST /v1/predict HTTP/1.1\r\nHost: {HOST}\r\nX-API-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def _connection(port: int, requests: list[bytes], latencies: list[float],
                      statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(int(head.split(b" ", 2)[1]))
    finally:
        writer.close()


def _cpu_seconds(server) -> float:
    """CPU time (user + system) of the server process and its workers so far."""
    import psutil

    processes = [server, *server.children(recursive=True)]
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _level(port: int, bodies: list[bytes], concurrency: int, total: int,
                 server=None) -> dict:
    per = max(1, total // concurrency)
    latencies: list[float] = []
    statuses: list[int] = []
    server_cpu = _cpu_seconds(server) if server is not None else 0.0
    client_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(
        _connection(port, [bodies[(c * per + i) % len(bodies)] for i in range(per)],
                    latencies, statuses) for c in range(concurrency)))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    server_cpu = _cpu_seconds(server) - server_cpu if server is not None else float("nan")
    ms = 1e3 * np.asarray(latencies)
    return {"concurrency": concurrency, "requests": len(ms), "rps": len(ms) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "server_cpu_ms": 1e3 * server_cpu / len(ms),
            "client_cpu_ms": 1e3 * client_cpu / len(ms),
            "non_200": sum(s != 200 for s in statuses)}


def _measure(port: int, bodies: list[bytes], total: int, pid: int) -> list[dict]:
    import psutil

    server = psutil.Process(pid)
    asyncio.run(_level(port, bodies, 8, min(total, 64)))  # warm-up, not reported
    return [asyncio.run(_level(port, bodies, c, total, server)) for c in LEVELS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-src", help="src/ folder of the baseline tree")
    parser.add_argument("--workers", type=int, default=2, help="our server's workers")
    parser.add_argument("--requests", type=int, default=800, help="requests per level")
    parser.add_argument("--rounds", type=int, default=1, help="baseline/ours alternations")
    parser.add_argument("--n", type=int, default=1500, help="training rows")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--members", type=int, default=10, help="bootstrap refits")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", help="keep the fitted models here and reuse them when "
                        "present (same sizes and source trees only); default: a new "
                        "temporary folder")
    parser.add_argument("--stub", action="store_true", help="ours answers every request "
                        "with one precomputed answer: the cost of the HTTP layer alone")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--fit", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers, args.stub)
        return
    if args.fit:
        records = _fit(Path(args.fit), args.n, args.trees, args.members, args.seed)
        (Path(args.fit).parent / "records.json").write_text(json.dumps(records))
        return
    ours = str(Path(__file__).resolve().parents[1] / "src")
    servers = [("ours", ours, args.workers)]
    if args.baseline_src:
        servers.insert(0, ("baseline", str(Path(args.baseline_src).resolve()), 1))
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="bench-serve-"))
    started = time.perf_counter()
    fitted = {name: _fit_with(src, folder / name, args) for name, src, _ in servers}
    # the baseline's records (its fields are a subset of ours) so that both servers
    # answer every request with a prediction, not a contract error
    bodies = [_request(r) for r in fitted[servers[0][0]][1]]
    print(f"model: reoperation xgboost Cox, {args.trees} trees, {args.members} bootstrap "
          f"members, {args.n} rows (fitted in {time.perf_counter() - started:.0f} s); "
          f"{len(bodies)} distinct requests; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} at start")
    results: dict[str, list[list[dict]]] = {name: [] for name, _, _ in servers}
    for _ in range(args.rounds):
        for name, src, workers in servers:
            process, port = _start(src, fitted[name][0], workers, folder / f"{name}.log",
                                   stub=args.stub and name == "ours")
            try:
                results[name].append(_measure(port, bodies, args.requests, process.pid))
            finally:
                process.terminate()
                process.wait(timeout=30)
    _report(results, args)


def _report(results: dict[str, list[list[dict]]], args) -> None:
    print(f"\n{args.requests} requests per level, {args.rounds} round(s); median over rounds")
    print(f"{'server':9s} {'conc':>4s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'server CPU ms/req':>18s} {'client CPU ms/req':>18s} {'non-200':>8s}")
    medians: dict[str, dict[int, dict]] = {}
    for name, rounds in results.items():
        medians[name] = {}
        for i, c in enumerate(LEVELS):
            rows = [r[i] for r in rounds]
            m = {k: float(np.median([r[k] for r in rows]))
                 for k in ("rps", "p50_ms", "p99_ms", "server_cpu_ms", "client_cpu_ms")}
            m["non_200"] = sum(r["non_200"] for r in rows)
            medians[name][c] = m
            print(f"{name:9s} {c:4d} {m['rps']:8.1f} {m['p50_ms']:8.1f} {m['p99_ms']:8.1f} "
                  f"{m['server_cpu_ms']:18.2f} {m['client_cpu_ms']:18.2f} {m['non_200']:8d}")
    if "baseline" in medians:
        print("\nratio ours/baseline (req/s): " + ", ".join(
            f"c={c}: {medians['ours'][c]['rps'] / medians['baseline'][c]['rps']:.2f}x"
            for c in LEVELS))
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
