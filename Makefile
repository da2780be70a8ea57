# The two commands: `make run` (portal + worker on embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# The worker integration tests need a broker that separate processes share: the machine's Redis
# unless CELERY_BROKER_URL says otherwise.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-insecure-key-for-tests-only} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0} \
	CELERY_RESULT_BACKEND=$${CELERY_RESULT_BACKEND:-redis://127.0.0.1:6379/1}

.PHONY: install run test lint format browser-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	@bash scripts/run.sh

test: install browser-deps lint
	$(TEST_ENV) $(BIN)/pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(TEST_ENV) $(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser-deps:
	@bash scripts/ensure-chromium.sh

clean:
	rm -rf $(VENV) var
