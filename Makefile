# The two commands of the README: `make dev` (run everything on the embedded default)
# and `make test` (set up and run the whole suite). Both create the venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint install clean browser-deps

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Bytecode ahead of time: the environment sets PYTHONDONTWRITEBYTECODE=1, so every
	# process (each test's worker, API and CLI subprocesses) would otherwise compile the
	# modules it imports from source at start-up.
	$(BIN)/python -m compileall -q -j 0 activities api models workflows worker.py vetflow_cli.py \
	  $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') >/dev/null
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/vetflow dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Browser tests drive Debian's Chromium through Playwright; Chinese pages need CJK fonts.
browser-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  echo "installing Debian chromium and fonts-noto-cjk for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# Three xdist workers, a test file each at a time (each worker has its own Temporal dev
# server and PostgreSQL database): most tests wait on Temporal, not on a core, so a
# third worker pays even on two cores.
test: $(STAMP) lint browser-deps
	$(BIN)/pytest -q -p no:cacheprovider -n 3 --dist loadfile

clean:
	rm -rf $(VENV) var
