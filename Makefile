# Two entry points, each creating .venv when missing:
#   make reproduce   set up, then reproduce the lecture's claims at the quick scale
#   make test        set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup reproduce test lint gpu-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch, unless a torch is already there (never a multi-GB CUDA pull).
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --disable-pip-version-check -e '.[dev,ray]'
	touch $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/lab reproduce --quick

# pytest exits 5 when a selection holds no test; that is not a failure here.
test: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow and not gpu" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# On a CUDA machine, offline, with the torch found there (see scripts/gpu_check.sh):
# results/gpu/. GPU_CHECK_ARGS="--only crf" reruns one part.
gpu-check:
	scripts/gpu_check.sh $(GPU_CHECK_ARGS)
