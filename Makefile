# Dekiru — the two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Test processes (pytest-xdist); each gets its own test database.
TEST_WORKERS ?= auto
# How far ahead `make test-clock` moves the clock (days).
CLOCK_OFFSET_DAYS ?= 365
# `make test TEST_CLOCK_OFFSET_DAYS=365`: the whole run with the clock that many days ahead (CI's SQLite run).
TEST_CLOCK_OFFSET_DAYS ?= 0
TEST_CLOCK := $(if $(filter-out 0,$(TEST_CLOCK_OFFSET_DAYS)),--clock-offset-days $(TEST_CLOCK_OFFSET_DAYS))
STAMP := $(VENV)/.installed

.PHONY: demo test test-postgres test-clock lint check bench messages install install-js clean lock

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall whenever the declared dependencies or the lock file change.
$(STAMP): $(PY) pyproject.toml requirements.lock
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# axe-core (npm) is injected into pages by the accessibility tests: only the tests need Node.js, never the demo.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP)

install-js: node_modules/.package-lock.json

messages: $(STAMP)
	$(PY) manage.py compilemessages --ignore='.venv/*' -v0

# Links in the demo's e-mails and calendar files point at the port it serves on (DEKIRU_BASE_URL, unless set).
demo: export DEKIRU_BASE_URL ?= http://127.0.0.1:$(PORT)
demo: install messages
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py createcachetable
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Dekiru is running at http://127.0.0.1:$(PORT)/  (English: http://127.0.0.1:$(PORT)/en/)"
	@echo "  Admin: http://127.0.0.1:$(PORT)/admin/  — logins above, password dekiru-demo"
	@echo "  E-mails are printed here by the outbox worker running beside the server (console backend)."
	@echo ""
	$(PY) manage.py send_outbox --loop --interval 3 & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# The browser tests run in a process of their own (never in a pytest-xdist worker, where one has been seen to wait
# for ever), beside the rest: they mostly wait for Chromium and the live server, so they fill the core the others
# leave idle, and the rest run at a lower priority so the browser's pages load on time. Their output follows.
test: install install-js messages
	@rm -f .e2e.log
	@$(PY) -m pytest -m e2e $(TEST_CLOCK) > .e2e.log 2>&1 & browser=$$!; trap 'kill $$browser 2>/dev/null' INT TERM; \
	nice -n 10 $(PY) -m pytest -n $(TEST_WORKERS) -m "not e2e" $(TEST_CLOCK); rest=$$?; \
	wait $$browser; browser_rc=$$?; echo "--- browser tests, run beside the rest ---"; cat .e2e.log; \
	exit $$(( rest != 0 || (browser_rc != 0 && browser_rc != 5) ))

test-postgres: install messages
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test $(MAKE) test

# The tests marked clock (those that read dates or the time now) again, with the clock CLOCK_OFFSET_DAYS days
# ahead of the real date (pytest --clock-offset-days, time-machine): a test that only passes on today's calendar
# fails here. Same layout as `make test` (browser tests in a process of their own, beside the rest); set
# DATABASE_URL for PostgreSQL. pytest's exit code 5 (no test selected, e.g. no browser test is marked) is a pass.
test-clock: install install-js messages
	@rm -f .e2e.log
	@$(PY) -m pytest -m "clock and e2e" --clock-offset-days $(CLOCK_OFFSET_DAYS) > .e2e.log 2>&1 & browser=$$!; \
	trap 'kill $$browser 2>/dev/null' INT TERM; \
	nice -n 10 $(PY) -m pytest -n $(TEST_WORKERS) -m "clock and not e2e" --clock-offset-days $(CLOCK_OFFSET_DAYS); rest=$$?; \
	wait $$browser; browser_rc=$$?; echo "--- browser tests, run beside the rest ---"; cat .e2e.log; \
	exit $$(( (rest != 0 && rest != 5) || (browser_rc != 0 && browser_rc != 5) ))

lint: install
	$(VENV)/bin/ruff check .

# Deployment checks with production settings (throwaway secret, example host).
check: install
	DJANGO_SETTINGS_MODULE=cms.settings.production DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	DJANGO_ALLOWED_HOSTS=dekiru.example.jp $(PY) manage.py check --deploy --fail-level WARNING

bench: install messages
	$(PY) -m benchmarks

# Re-resolve the newest versions allowed by pyproject.toml into requirements.lock.
lock:
	rm -rf /tmp/dekiru-lock && $(PYTHON) -m venv /tmp/dekiru-lock
	/tmp/dekiru-lock/bin/pip install --quiet -e '.[dev,s3,redis,sentry,load]'
	(echo "# Pinned versions of every dependency (pip constraints). Regenerate: make lock"; \
	 /tmp/dekiru-lock/bin/pip freeze --exclude-editable | grep -v '^-e') > requirements.lock

# Vulnerability audit of the pinned dependencies (PyPA's pip-audit) for a pipeline that can reach the Python Packaging
# Advisory Database; the development machines and CI cannot, so CI does not run it (docs/operations.md).
.PHONY: audit
audit:
	rm -rf /tmp/dekiru-audit && $(PYTHON) -m venv /tmp/dekiru-audit
	/tmp/dekiru-audit/bin/pip install --quiet 'pip-audit>=2.7,<3'
	/tmp/dekiru-audit/bin/pip-audit --requirement requirements.lock --disable-pip --strict

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache
