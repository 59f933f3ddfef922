"""Scaling out: several worker processes share one Optuna study in PostgreSQL."""

import subprocess
import sys

import optuna

WORKER = """
import sys
from spinerisk.tuning import tune
def score(params, report):
    for step in range(2):
        report(step, (params["x"] - 1.0) ** 2)
    return (params["x"] - 1.0) ** 2
tune(score, {"x": {"low": -3.0, "high": 3.0}}, study_name="shared", n_trials=int(sys.argv[2]),
     seed=int(sys.argv[3]), storage=sys.argv[1], progress=False)
"""


def run_workers(script, url, target, seeds):
    workers = [subprocess.Popen([sys.executable, str(script), url, str(target), str(seed)])
               for seed in seeds]
    return [w.wait(timeout=180) for w in workers]


def finished(url):
    study = optuna.load_study(study_name="shared", storage=url)
    return {t.number: t.params for t in study.trials if t.state.is_finished()}, study.trials


def test_workers_share_a_postgres_study_and_resume(postgres_url, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    # one worker creates the schema and the study (creating it from two processes at
    # once races inside the database), then two workers at once resume and extend it
    assert run_workers(script, postgres_url, 2, [1]) == [0]
    first, _ = finished(postgres_url)
    assert len(first) == 2
    assert run_workers(script, postgres_url, 8, [2, 3]) == [0, 0]
    done, trials = finished(postgres_url)
    assert len(done) >= 8                                   # no trial lost between workers
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert {n: p for n, p in done.items() if n in first} == first
