# The two commands of the README: `make serve` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 5006

.PHONY: serve test install install-dev screenshots lint-imports

$(PY):
	python3 -m venv $(VENV)

# torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)
	@test -x /usr/lib/postgresql/15/bin/initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q postgresql)

# 256 MB websocket messages, as `visclust serve` (app.commands.core.MAX_MESSAGE_BYTES): Bokeh's
# 20 MB default drops the connection on a larger upload without a message.
serve: install
	$(VENV)/bin/panel serve app/main.py --port $(PORT) --address 0.0.0.0 --allow-websocket-origin='*' \
		--websocket-max-message-size 268435456

test: install-dev
	$(VENV)/bin/pytest

# The README's pictures: the two screenshot tests, writing into docs/screenshots (the plain
# suite writes them to a temporary folder and leaves the checkout clean).
screenshots: install-dev
	$(VENV)/bin/pytest tests/test_app_explore.py::test_screenshot_explore \
		tests/test_app_compare.py::test_export_labels_csv --screenshots docs/screenshots

# The layer contracts of pyproject.toml ([tool.importlinter]); the suite runs them too.
lint-imports: install-dev
	$(VENV)/bin/lint-imports
