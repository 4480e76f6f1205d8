# The targets CI calls too: .ci/run runs `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SUBJECTS ?= 10000
DEMO_SEED ?= 7
export SOCIALCREDIT_DATABASE_URL ?= sqlite:///var/socialcredit.db

.PHONY: venv demo serve test lint typecheck unit bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Builds an SQLite registry with the default catalogue and deterministic demo data, then serves it.
demo: $(STAMP)
	mkdir -p var
	rm -f var/socialcredit.db var/socialcredit.db-wal var/socialcredit.db-shm
	$(BIN)/socialcredit init
	$(BIN)/socialcredit demo --subjects $(DEMO_SUBJECTS) --seed $(DEMO_SEED)
	$(BIN)/socialcredit serve --host 127.0.0.1 --port 8000

serve: $(STAMP)
	$(BIN)/socialcredit serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/socialcredit catalogue validate

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/report.py

# Regenerates what the docs embed: docs/cli.md (every --help) and BENCHMARKS.md's table (benchmarks/results.jsonl).
docs: $(STAMP)
	$(BIN)/python tests/docs/cli_doc.py
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
