# The two entry points the README promises; both set everything up first (idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test bench lint clean

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test.sh

bench: setup
	$(PY) bench/all.py --summary bench/summary.json
	$(PY) bench/readme_table.py

lint: setup
	$(VENV)/bin/ruff check rocks tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
