# make demo  - set up and run the demo (web + admin + worker) on SQLite, no server needed
#              ADDR=host:port (default 127.0.0.1:8000), DEMO_ADMIN_PASSWORD=... (set the admin's password),
#              DEMO_RESET_PASSWORD=1 (a new random one); otherwise an existing admin keeps its password
# make test  - set up and run the whole test suite (databases and broker from the environment),
#              TEST_WORKERS=N processes for the tests without a cluster (default 2)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
DEMO_RESET_PASSWORD ?=
# The admin password reaches load_demo in its environment, never on a command line that make echoes.
export DEMO_ADMIN_PASSWORD

.PHONY: setup setup-browser demo test lint check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# The browser tests drive Debian's chromium; Playwright never downloads a browser of its own.
setup-browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

demo: setup
	$(PY) manage.py migrate_all
	$(PY) manage.py load_demo --jobs$(if $(filter-out 0 no false,$(DEMO_RESET_PASSWORD)), --reset-password)
	$(PY) manage.py rundemo $(ADDR)

# The tests that need no qcluster and no browser run in parallel (pytest-xdist, TEST_WORKERS
# processes, each on databases of its own); the cluster and browser tests then run one at a time.
TEST_WORKERS ?= 2
test: setup setup-browser
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not integration and not browser"
	$(PY) -m pytest -m "integration or browser"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: setup lint
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
