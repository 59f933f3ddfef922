# spinerisk: set-up, main job and tests. `make demo` and `make test` work on a fresh machine.
UV ?= python3 -m uv
UV_VERSION ?= 0.13.8
COHORT ?= data/demo-cohort.parquet
# byte-compile the environment once at install: a cold `spinerisk` start skips compiling
export UV_COMPILE_BYTECODE := 1

.PHONY: setup system-deps demo test test-quick bench lint notebook experiments

setup: .venv/.synced system-deps

.venv/.synced: pyproject.toml uv.lock Makefile
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode
	@touch $@

system-deps:
	@bash scripts/install-system-deps.sh

## The main job on the embedded default: a simulated multi-site cohort, the local MLflow store.
demo: .venv/.synced
	$(UV) run spinerisk simulate --task all --n 5000 --sites 4 --seed 7 --out $(COHORT)
	$(UV) run spinerisk train --config configs/demo --promote
	$(UV) run spinerisk predict --patient examples/patient.json
	$(UV) run spinerisk predict --model models:/spinerisk-reoperation@candidate --patient examples/patient-reoperation.json

test: setup
	$(UV) run pytest -q

test-quick: .venv/.synced
	$(UV) run pytest -q -x -m "not browser"

bench: .venv/.synced
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(UV) run python $$script; done

## The quickstart notebook under Jupyter (the venv's python3 kernel), outputs in build/.
notebook: .venv/.synced
	@mkdir -p build
	$(UV) run jupytext --to ipynb --output build/quickstart.ipynb notebooks/quickstart.py
	$(UV) run jupyter execute --inplace --kernel_name=python3 build/quickstart.ipynb

## Rerun every study in experiments/ and rewrite its committed results (~20 min on 2 cores).
experiments: .venv/.synced
	$(UV) run python experiments/heart-disease-iecv/run.py
	bash experiments/known-shift-site/run.sh
	$(UV) run python experiments/baseline-model-comparison/run.py

lint: .venv/.synced
	$(UV) run ruff check src tests benchmarks
