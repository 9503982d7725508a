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

# Two phases (tests/conftest.py): the suite spread over TEST_WORKERS processes (pytest-xdist), each
# taking whole modules (their module-scoped gateways and sessions are set up once; xdist's loadgroup
# does not group on pytest 9.2), heaviest first; then the tests marked `serial` (they restart
# PostgreSQL under everything else) alone. Fails if either phase fails.
TEST_WORKERS ?= 3
PYTEST_PHASES = $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --phase=parallel $(1) $(PYTEST_ARGS); \
	parallel=$$?; $(BIN)/pytest --phase=serial $(1) $(PYTEST_ARGS) && exit $$parallel

test: $(STAMP)
	$(call PYTEST_PHASES,)

# The long form: tests marked `long` too, and sized tests at their long size (see tests/conftest.py).
test-long: $(STAMP)
	$(call PYTEST_PHASES,--long)

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
