# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The gateway's port under `make run`; the stand-ins take BASE_PORT+101 to +106.
BASE_PORT ?= 8000
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install run admin test lint bench fuzz clean

# `make run` needs only what production runs (requirements.txt); the tests and tools
# of requirements-dev.txt come with `make install`/`make test`.
$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed

# Every process production runs (web under gunicorn, grant worker, roll-ups, periodic
# jobs) on 127.0.0.1:$(BASE_PORT), on embedded defaults (SQLite, local-memory cache),
# with the stand-ins beside them; Ctrl-C stops them all. A taken port is said first,
# before anything is installed.
run:
	@$(PYTHON) standins/ports.py --base-port $(BASE_PORT)
	@$(MAKE) --no-print-directory $(VENV)/.installed-run
	@$(PY) -m standins.quickstart --base-port $(BASE_PORT)

# An operator login for /admin/ (asks for a user name, email and password).
admin: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py createsuperuser

# The whole suite. On a fresh machine the first run builds the test database
# (dj-stripe's migrations take about a minute); later runs reuse it.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, then the import rules between the apps (pyproject.toml [tool.importlinter]).
lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m bench

fuzz: install
	$(PY) -m pytest tests/security/test_fuzz.py --fuzz-examples=2000

# Also forgets the stand-ins' data (.standins/: users, balances, the Auth0 signing key).
clean:
	rm -rf $(VENV) db.sqlite3* test_db.sqlite3* staticfiles .standins
