# Skiplock — one command surface for people, pre-commit and CI.  `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/tools/bin:$(PATH)
PORT ?= 8080
# Where `make run` keeps the embedded engine's SQLite file and admin key.
STATE ?= .skiplock
STAMP := $(VENV)/.installed

-include mk/frontend.mk
-include mk/k8s.mk
-include mk/cluster.mk

.PHONY: help install run test test-py check fmt lint types imports clean bench bench-smoke mutate

help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,operator,bench]' -e ./operator
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the engine with its dev tools (pinned)

run: install ## Start the engine embedded on http://127.0.0.1:$(PORT) and print an admin key
	@mkdir -p $(STATE)
	@$(MAKE) --no-print-directory -s dashboard-if-missing
	@test -s $(STATE)/admin-key || \
	  SKIPLOCK_DATABASE_URL=$${SKIPLOCK_DATABASE_URL:-sqlite:///$(STATE)/skiplock.db} \
	  $(BIN)/skiplock admin-key create --name make-run | tail -1 > $(STATE)/admin-key
	@echo "Skiplock is starting on http://127.0.0.1:$(PORT)"
	@echo "Admin key (also in $(STATE)/admin-key): $$(cat $(STATE)/admin-key)"
	@echo "Next:"
	@echo "  1. Open http://127.0.0.1:$(PORT) and paste the admin key; Seed demo data shows tasks flowing."
	@echo "  2. Submit a task from another shell (curl and the Python client: README, Start here):"
	@echo "       $(BIN)/skiplock task submit send_email --payload '{\"to\": \"a@b.c\"}' --wait$(if $(filter-out 8080,$(PORT)), --url http://127.0.0.1:$(PORT))"
	@echo "       curl -H \"Authorization: Bearer \$$(cat $(STATE)/admin-key)\" -H 'content-type: application/json' \\"
	@echo "            -d '{\"type\": \"send_email\"}' http://127.0.0.1:$(PORT)/api/tasks"
	@echo "  3. Add a handler module: myapp/tasks.py here with @skiplock.handler(\"hello\") on a function,"
	@echo "     then restart as SKIPLOCK_HANDLERS=myapp.tasks make run (this directory is searched;"
	@echo "     skiplock doctor checks the module)."
	@SKIPLOCK_DATABASE_URL=$${SKIPLOCK_DATABASE_URL:-sqlite:///$(STATE)/skiplock.db} \
	  SKIPLOCK_ADMIN_KEY=$$(cat $(STATE)/admin-key) SKIPLOCK_PORT=$(PORT) \
	  SKIPLOCK_DEMO=$${SKIPLOCK_DEMO:-true} \
	  exec $(BIN)/skiplock serve

dashboard-if-missing:
	@if [ ! -f engine/skiplock/web/static/index.html ] && grep -q '^frontend-build:' mk/frontend.mk 2>/dev/null; then \
	  if command -v npm >/dev/null; then $(MAKE) --no-print-directory frontend-build; \
	  else echo "npm not found: the dashboard is not built (the API works without it)"; fi; fi

test: install helm-tools ## Run every test suite against real MariaDB, Redis and SQLite
	$(BIN)/python -m tests.services --check
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-extra

test-extra:
	@if grep -q '^frontend-test:' mk/frontend.mk 2>/dev/null; then $(MAKE) --no-print-directory frontend-test e2e; fi

test-py: install helm-tools ## Run only the Python test suites
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

check: install lint types imports ## ruff, mypy --strict, import-linter and the unit tests
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

lint:
	$(BIN)/ruff check engine operator tests bench tools
	$(BIN)/ruff format --check engine operator tests bench tools

types:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports

fmt: install ## Format and auto-fix the code
	$(BIN)/ruff format engine operator tests bench tools
	$(BIN)/ruff check --fix engine operator tests bench tools

bench: install ## Run the benchmarks (python -m bench --help for scenarios)
	$(BIN)/python -m bench --help

BENCH_SCENARIOS ?= drain submit original latency fairness ratelimit scale chaos soak schedules search peers
bench-smoke: install ## Run every benchmark scenario's quick mode once (a smoke test, no timing asserts)
	@set -e; for s in $(BENCH_SCENARIOS); do \
	  echo "==> python -m bench $$s --quick"; \
	  timeout 600 $(BIN)/python -m bench $$s --quick; \
	done

MUTATE_STAMP := $(VENV)/.mutate-installed
$(MUTATE_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[mutate]'
	@touch $(MUTATE_STAMP)

MUTATE_TARGETS ?=
MUTATE_CHILDREN ?= 1
mutate: install $(MUTATE_STAMP) ## Mutation-test the domain and the SQL fencing, one target at a time (slow; docs/TESTING.md)
	$(BIN)/python tools/mutate.py $(MUTATE_TARGETS) --children $(MUTATE_CHILDREN)

clean: ## Remove the virtualenv, caches and local state
	rm -rf $(VENV) .skiplock mutants .mypy_cache .ruff_cache .pytest_cache build *.egg-info
