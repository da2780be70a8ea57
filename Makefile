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

.PHONY: install run test lint format browser-deps js-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	@bash scripts/run.sh

test: install browser-deps js-deps lint
	$(TEST_ENV) $(BIN)/pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(TEST_ENV) $(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser-deps:
	@bash scripts/ensure-chromium.sh

# Microsoft's JavaScript SDKs, exactly as clients/js/package-lock.json pins them, for the
# JavaScript quickstart test.
JS_STAMP := clients/js/node_modules/.installed-$(shell cat clients/js/package-lock.json | cksum | cut -d' ' -f1)

js-deps: $(JS_STAMP)

$(JS_STAMP): clients/js/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the JavaScript SDK tests: install Node.js 18+"; exit 1; }
	npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(VENV) var clients/js/node_modules
