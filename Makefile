# Two commands for users: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
SIGNALRISK_HOME ?= $(CURDIR)/var
export SIGNALRISK_HOME

.PHONY: run test lint fmt clean venv appengine smoke-aws

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/signalrisk serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache

# The App Engine bundle: this checkout's wheel beside deploy/appengine/app.yaml (see README).
appengine: $(STAMP)
	rm -rf deploy/appengine/dist
	$(BIN)/python -m pip wheel --quiet --no-deps -w deploy/appengine/dist .

# The seed workflow against a real AWS account (not CI): needs credentials and a cost cap,
# e.g. `make smoke-aws SIGNALRISK_SMOKE_MAX_USD=0.50`. Always cleans up.
smoke-aws: $(STAMP)
	SIGNALRISK_SMOKE_MAX_USD=$(SIGNALRISK_SMOKE_MAX_USD) $(BIN)/python scripts/smoke_aws.py
