# The two commands of a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BATON := $(BIN)/baton

.PHONY: run test lint fmt bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: install, migrate the embedded SQLite database, load the demo and serve on 127.0.0.1:8080
# The demo may post webhooks to a receiver on this machine; production allows no private network.
run: export BATON_WEBHOOK_ALLOWED_NETWORKS ?= 127.0.0.0/8
run: $(STAMP)
	$(BATON) migrate
	$(BATON) apply config/demo.yaml
	$(BATON) init
	$(BATON) serve

## test: the import rules (pyproject.toml), then the whole test suite
## (BATON_TEST_DATABASE_URL=postgresql://... runs it on PostgreSQL)
test: $(STAMP) system-deps
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app tests bench

fmt: $(STAMP)
	$(BIN)/ruff format app tests bench
	$(BIN)/ruff check --fix .

## bench: the benchmarks (PostgreSQL on 127.0.0.1, wrk from Debian); figures go to docs/benchmarks.md
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null; } || { echo "bench needs wrk (Debian package)"; exit 1; }
	$(BIN)/python -m bench

# Installs the Debian packages end-to-end tests need when we can (root with apt); otherwise
# those tests skip and say what is missing.
system-deps:
	@missing=""; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null \
	      || (apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null); \
	  else \
	    echo "note:$$missing not installed; end-to-end tests that need them will skip"; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) baton.db baton.db-wal baton.db-shm .pytest_cache .ruff_cache .import_linter_cache
