# LendSimple — `make run` starts the whole stack and runs the demo; `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PY := .venv/bin/python
export LENDSIMPLE_JWT_SECRET ?= lendsimple-dev-secret-do-not-use-in-production
TEST_VHOST := lendsimple_test
SUITES := libs/common services/borrowers services/loans services/payments services/accrual-worker

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

# Tests use their own RabbitMQ vhost, so a running `make run` stack never takes their messages.
test-vhost: services
	@rabbitmqctl -q add_vhost $(TEST_VHOST) 2>/dev/null || true
	@rabbitmqctl -q set_permissions -p $(TEST_VHOST) guest ".*" ".*" ".*" >/dev/null

test: install test-vhost
	@export LENDSIMPLE_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/$(TEST_VHOST); \
	start=$$(date +%s); failed=""; \
	for suite in $(SUITES); do \
	  echo "=== $$suite"; \
	  (cd $$suite && $(CURDIR)/.venv/bin/python -m pytest -q -p no:randomly) || failed="$$failed $$suite"; \
	done; \
	if [ -d tests ]; then echo "=== tests (end to end)"; $(PY) -m pytest -q tests || failed="$$failed tests"; fi; \
	echo "all suites took $$(( $$(date +%s) - start ))s"; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

lint: install
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check . || true

fmt: install
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

bench: install services
	@for b in bench/*_bench.py; do echo "=== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .venv .run .pytest_cache

# Reliability (issue #11): the full chaos run and the full API fuzz, each on its own stack
# (free ports, own databases and RabbitMQ vhost); both print their figures.
chaos: install services
	@$(PY) scripts/chaos.py

fuzz: install services
	@$(PY) scripts/fuzz.py
