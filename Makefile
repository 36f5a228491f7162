# mlvc: `make demo` installs mlvc and runs the example pipeline; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install tools vendor-ui test lint typecheck unit demo bench bench-scale stress clean ui-shots

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,s3]' --config-settings editable_mode=compat  # a path entry, not an import hook: ~25 ms less per command
	$(BIN)/python -m compileall -q mlvc  # start-up speed even where PYTHONDONTWRITEBYTECODE is set
	touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check mlvc tests benchmarks examples
	$(BIN)/ruff format --check mlvc tests benchmarks examples

typecheck: install
	$(BIN)/mypy mlvc

# strace, for the strict capture mode's tests (in the base image of these machines), and
# Debian's chromium, the browser the `mlvc ui` tests drive with Playwright (never
# `playwright install`: that downloads a browser of its own). One apt run for both.
tools:
	@missing=""; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vendor-ui:  # re-fetch the page's JavaScript libraries at their pinned versions (npm)
	bash ui-vendor/vendor.sh

unit: install tools
	$(BIN)/pytest -q -n 2 --dist worksteal  # balanced to the end; module fixtures are cheap copies

test: lint typecheck unit

stress: install  # the crash trials at the count docs/reliability.md publishes
	MLVC_CRASH_TRIALS=200 $(BIN)/pytest -q -s tests/robustness/test_crash_trials.py

ui-shots: install tools  # the screenshots of docs/ui.md, taken by the browser tests
	MLVC_UI_SHOTS=1 $(BIN)/pytest -q tests/ui/test_browser.py

demo: install
	bash examples/demo.sh

bench: install
	$(BIN)/python benchmarks/run.py $(ARGS)

bench-scale: install  # 1M files, one 20 GiB file, 100k runs: ~45 GiB of disk, see benchmarks/README.md
	$(BIN)/python benchmarks/scale.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis test-artifacts
