# Set-up and everyday commands. `make serve` and `make test` are the two set-up
# commands of the README: each installs what it needs, then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: serve test install install-test browser sample bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -e .

install-test: $(BIN)/python browser
	$(BIN)/pip install -e '.[test]'

# Debian's Chromium drives the browser tests (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends chromium; }

serve: install
	$(BIN)/spatial serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(ARGS)

sample: install-test
	$(BIN)/python data/make_sample.py

bench: install-test
	$(BIN)/python -m bench.stream

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
