# LendSimple — `make run` starts the whole stack and runs the demo; `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PY := .venv/bin/python
export LENDSIMPLE_JWT_SECRET ?= lendsimple-dev-secret-do-not-use-in-production

.PHONY: help install services dbs migrate run stop test test-e2e lint fmt bench chaos fuzz clean

help:
	@echo "make run    install what is missing, start the whole stack on 8001-8003, run the demo"
	@echo "make test   install what is missing, run every test suite (real PostgreSQL + RabbitMQ)"
	@echo "make stop   stop a stack started by make run"
	@echo "make lint | fmt | bench | chaos | fuzz"

$(UV):
	@echo "installing uv"; python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

.venv/.synced: uv.lock pyproject.toml libs/common/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages
	@touch $@

install: .venv/.synced

# PostgreSQL and RabbitMQ must answer; start them if they are installed but stopped.
services:
	@bash .ci/services.sh

dbs: install services
	@$(PY) scripts/dbs.py

migrate: dbs
	@$(PY) scripts/stack.py prepare

run: install services
	@$(PY) scripts/stack.py run

stop:
	@$(PY) scripts/stack.py stop

# Tests use their own RabbitMQ vhosts (one per suite, see scripts/test_all.sh), so a running
# `make run` stack never takes their messages.
test: install services
	@bash scripts/test_all.sh

lint: install
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check . || true

fmt: install
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

# wrk (Debian's package) drives the API reads benchmark; installed if missing.
bench: install services
	@command -v wrk >/dev/null || (apt-get install -y wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y wrk))
	@for b in bench/*_bench.py; do echo "=== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .venv .run .pytest_cache

# Reliability (issue #11): the full chaos run and the full API fuzz, each on its own stack
# (free ports, own databases and RabbitMQ vhost); both print their figures.
chaos: install services
	@$(PY) scripts/chaos.py

fuzz: install services
	@$(PY) scripts/fuzz.py
