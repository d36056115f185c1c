# Two commands for users: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
SIGNALRISK_HOME ?= $(CURDIR)/var
export SIGNALRISK_HOME

.PHONY: run test lint fmt clean venv appengine smoke-aws bench bench-quick wrk browser postgres soak

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/signalrisk serve --host $(HOST) --port $(PORT)

test: $(STAMP) browser postgres
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Benchmarks, not tests (see bench/__init__.py). `make bench` measures every figure of the
# performance issue and writes BENCHMARKS.md, BENCHMARKS-growth.png and bench/results.json;
# `make bench-quick` (CI, under 90 s) runs small jobs to prove the suite works and writes under
# var/bench-quick/. Missed targets are reported, not fatal; a broken suite exits non-zero.
bench: $(STAMP) wrk
	$(BIN)/python -m bench

bench-quick: $(STAMP) wrk
	$(BIN)/python -m bench --quick

# Load and soak (not part of `make test`, which runs a bounded 30-second version): reads and
# analyses mixed for SOAK_S seconds; exits 1 on any error, a lost record or growing memory.
SOAK_S ?= 300
soak: $(STAMP)
	$(BIN)/python -m bench.soak --duration $(SOAK_S) --json var/soak/soak.json

# wrk (Debian package) loads the API in figure 5; installed here if missing and we are root.
wrk:
	@command -v wrk >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -qq wrk >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }; }; } || \
	  echo "wrk is not installed and could not be (as root: apt-get install -y wrk): the bench skips figure 5"

# The dashboard's browser tests drive Debian's chromium through Playwright (no browser download);
# installed here if missing and we are root. Without it those tests fail with this hint.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium is not installed and could not be (as root: apt-get install -y chromium)"

# PostgreSQL server binaries (Debian) for the real-PostgreSQL tests; installed if missing and
# we are root. Without them those tests skip locally and fail under CI.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -qq postgresql >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1; }; }; } || \
	  echo "PostgreSQL is not installed and could not be (as root: apt-get install -y postgresql)"

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
