# bioscan-h5: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Exact pins: these wheels lie on the build machines' disk, so installs never fetch another torch.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= demo

.PHONY: demo test test-slow lint format bench clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e ".[dev]" $(TORCH_PINS)
	touch $@

demo: venv
	$(PY) tools/make_sample_data.py --out $(DEMO_DIR) --overwrite
	$(VENV)/bin/bioscan-h5 build --root $(DEMO_DIR) --overwrite
	$(VENV)/bin/bioscan-h5 info $(DEMO_DIR)/bioscan5m/h5/bioscan5m_cropped_256_256px.h5
	$(PY) tools/demo.py --root $(DEMO_DIR)

# The long cases (marked `slow`: killed builds, torchrun jobs, fork storms) run in CI after this.
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) -m mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# FFCV rows of bench/read.py need .venv-ffcv (bash bench/setup_ffcv.sh; see bench/README.md).
bench: venv
	$(PY) bench/build.py
	$(PY) bench/read.py
	$(PY) bench/tokenize.py
	$(PY) bench/train.py

clean:
	rm -rf $(DEMO_DIR) bench/out .pytest_cache .ruff_cache
