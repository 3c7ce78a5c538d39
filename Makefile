# redal-kit: the whole set-up is `make demo` or `make test`; both bootstrap .venv idempotently.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Optional package index for torch, e.g. https://download.pytorch.org/whl/cu124 for a CUDA build.
TORCH_INDEX ?=
EXTRAS     ?= dev,spconv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.redal-bootstrap
# Pins torch to whatever TORCH_SPEC installed, so no dependency can pull another (CUDA) build.
CONSTRAINTS := $(VENV)/torch-constraints.txt

.PHONY: help venv demo test bench lint clean-results

help:
	@echo "make demo   - bootstrap .venv, run the synthetic study (params/demo.yaml), render figures"
	@echo "make test   - bootstrap .venv, run the test suite"
	@echo "make bench  - run the benchmarks under benchmarks/ (prints ratios, never asserts time)"
	@echo "make lint   - ruff over the package and tests"
	@echo "variables: TORCH_SPEC='$(TORCH_SPEC)' TORCH_INDEX='$(TORCH_INDEX)' EXTRAS='$(EXTRAS)' PYTHON='$(PYTHON)'"

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" \
		$(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@touch $@

demo: $(STAMP)
	$(BIN)/redal sweep params/demo.yaml --jobs 2
	$(BIN)/redal figures params/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check redal_core tests benchmarks

clean-results:
	rm -rf results/runs results/figures results/tables
