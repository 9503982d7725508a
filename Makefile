# Two entry points: `make run` and `make test`. Both build the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-long lint typecheck check clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	@# sparkmagic needs gssapi, which builds only with Kerberos headers (Debian: libkrb5-dev; .ci/run
	@# installs them). Without them the notebook-client tests skip with the reason.
	$(BIN)/pip install --quiet -e '.[notebook-clients]' \
	  || echo "notebook clients not installed (needs libkrb5-dev): tests/e2e/test_notebook_clients.py will skip"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/spark-gateway serve $(if $(CONF),--conf $(CONF))

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The long form: tests marked `long` too, and sized tests at their long size (see tests/conftest.py).
test-long: $(STAMP)
	$(BIN)/pytest --long $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/scale_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
