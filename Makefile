# The two commands of the README: `make run` and `make test`. Each sets itself up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test venv lint pg-test clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

run: $(STAMP)
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	DJANGO_SITE_URL=$${DJANGO_SITE_URL:-http://$(HOST):$(PORT)} $(BIN)/python manage.py demo
	$(BIN)/python manage.py ensure_admin
	@echo "Serving on http://$(HOST):$(PORT)/  (annotator link and admin above; Ctrl-C stops)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	@mkdir -p var test-output
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The PostgreSQL leg, as CI runs it: a throwaway cluster from the machine's PostgreSQL 15.
pg-test: $(STAMP)
	bash scripts/with-postgres.sh $(MAKE) test

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var test-output .pytest_cache
