# Quickstart: `make demo` (environment + the whole job on the embedded demo model), `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/albert-edge
STAMP := $(VENV)/.albert-edge-installed

.PHONY: env demo test test-fast apk arm64-parity bench clean

env: $(STAMP)

# constraints.txt pins every package to the versions tested here (torch==2.13.0 is the CPU wheel).
# pip byte-compiles at install on purpose: where PYTHONDONTWRITEBYTECODE=1 (as on these machines) Python
# never caches .pyc itself, and `--no-compile` made every process compile what it imports (tried, fresh
# clones on the same day: `make demo` 10 min 44 s without byte-compiling, 9 min 7 s with it; its quick
# benchmark, a fresh process per row, 340 s vs 182 s).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,mediapipe,executorch]' -c constraints.txt
	touch $@

demo: env
	$(CLI) pipeline --output artifacts/demo --overwrite

# Two pytest-xdist workers, one test file each at a time (module fixtures are built once): the suite is
# mostly single-threaded conversion work, so this roughly halves it on 2 cores. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)

test: env
	$(PY) -m pytest -q $(XDIST) --durations=15

test-fast: env
	$(PY) -m pytest -q -m "not slow" $(XDIST)

# Signed debug APK of the Android demo, built offline with Debian's tools (docs/android.md).
apk: env
	bash android_demo/build_apk.sh

# Correctness of the fp32/int8 ONNX, TFLite and ExecuTorch artifacts on aarch64 kernels, under qemu (docs/arm64.md).
arm64-parity: env
	$(CLI) arm64-parity

clean:
	rm -rf artifacts .pytest_cache

# Full desktop benchmarks (demo + ALBERT-base-shaped, with the Optimum peer); run on a quiet machine.
bench: env
	bash benchmarks/run_all.sh
