# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install run test lint bench fuzz clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The gateway on 127.0.0.1:8000 on embedded defaults (SQLite, local-memory cache),
# with the stand-ins for Flash, Clockchain, Auth0, Stripe and Apple beside it.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) -m standins.quickstart

# The whole suite. On a fresh machine the first run builds the test database
# (dj-stripe's migrations take about a minute); later runs reuse it.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .

bench: install
	$(PY) -m bench

fuzz: install
	$(PY) -m pytest tests/security/test_fuzz.py --fuzz-examples=2000

clean:
	rm -rf $(VENV) db.sqlite3* test_db.sqlite3* staticfiles
