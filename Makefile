# rla_mm: two commands do everything on a fresh machine.
#   make demo   install (first time), make the demo data, train + test the demo
#   make test   install (first time), run the whole test suite (slow tests too)
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  ?= $(PY) -m pytest

.PHONY: install test test-fast demo demo-data demo-cls clean-demo

install:
	@bash tools/setup_env.sh

test: install
	$(PYTEST) tests

# The quick loop while developing: everything but the end-to-end runs.
test-fast: install
	$(PYTEST) tests -m "not slow"

demo: install
	bash tools/run_demo.sh

demo-cls: install
	bash tools/run_demo.sh cls

clean-demo:
	rm -rf data/demo work_dirs/demo
