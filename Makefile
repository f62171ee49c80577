# Lightning Sync: `make demo` runs a demo org against a simulated Exchange; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= .demo
DEMO_PORT ?= 8000
SIM_PORT ?= 8765

.PHONY: venv demo test test-fast lint format migrate bench clean screenshots

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not browser and not slow" -x -q

# The README's two screenshots, taken by the browser suite and copied into docs/.
screenshots: venv
	$(PY) -m pytest tests/browser/test_setup_look.py -k readme_screenshots -q
	cp build/screenshots/readme/setup-home.png build/screenshots/readme/status.png docs/

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy lightningsync setupui syncengine exchangesim
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

migrate: venv
	DEBUG=true $(PY) manage.py migrate

demo: venv
	@DEMO_DIR=$(DEMO_DIR) DEMO_PORT=$(DEMO_PORT) SIM_PORT=$(SIM_PORT) PY=$(PY) bash bin/demo

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
