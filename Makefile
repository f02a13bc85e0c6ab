# The two commands a newcomer needs: `make demo` and `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ES_VERSION ?= 9.5.4
ES_PORT ?= 9200
export ES_VERSION ES_PORT

.PHONY: install lint test test-unit test-es es-up es-down demo bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Lint, types and every test, against ES_URL or a node started for the run.
test: lint
	scripts/with-es $(BIN)/pytest $(PYTEST_ARGS)

## The tests that need no Elasticsearch.
test-unit: install
	$(BIN)/pytest -m 'not elasticsearch' $(PYTEST_ARGS)

## Only the tests that talk to Elasticsearch.
test-es: install
	scripts/with-es $(BIN)/pytest -m elasticsearch $(PYTEST_ARGS)

## The demo: a local node (or ES_URL), an hour of telemetry, the daemon and
## its alerts. ONCE=1 runs one execution, prints its alerts and exits.
demo: install
	scripts/with-es $(BIN)/python -m runner.demo $(if $(ONCE),--once)

## Benchmarks; they print ratios measured in one run.
bench: install
	scripts/with-es sh -c '$(BIN)/python bench/engine.py && $(BIN)/python bench/execution.py'

es-up:
	scripts/es-node up

es-down:
	scripts/es-node down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
