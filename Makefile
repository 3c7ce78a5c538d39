# redal-kit: the whole set-up is `make demo` or `make test`; both bootstrap .venv idempotently. `make lab` explores.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Optional package index for torch, e.g. https://download.pytorch.org/whl/cu124 for a CUDA build.
TORCH_INDEX ?=
EXTRAS     ?= dev,spconv
# make lab: where JupyterLab listens (127.0.0.1: this machine only).
JUPYTER_IP   ?= 127.0.0.1
JUPYTER_PORT ?= 8888
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.redal-bootstrap
JUPYTER_STAMP := $(VENV)/.redal-jupyter
# Pins torch to whatever TORCH_SPEC installed, so no dependency can pull another (CUDA) build.
CONSTRAINTS := $(VENV)/torch-constraints.txt

.PHONY: help venv jupyter demo test lab bench lint clean-results

help:
	@echo "make demo   - bootstrap .venv, run the synthetic study (params/demo.yaml), render figures"
	@echo "make test   - bootstrap .venv (and the jupyter extra), run the test suite"
	@echo "make lab    - install the jupyter extra, register the kernel 'redal-kit', start JupyterLab on notebooks/"
	@echo "              (no browser; prints the URL to open; JUPYTER_IP='$(JUPYTER_IP)' JUPYTER_PORT='$(JUPYTER_PORT)')"
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

# JupyterLab + ipywidgets (the `jupyter` extra), under the same torch constraints: torch stays as installed.
jupyter: $(JUPYTER_STAMP)

$(JUPYTER_STAMP): $(STAMP) pyproject.toml Makefile
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[$(EXTRAS),jupyter]"
	@touch $@

demo: $(STAMP)
	$(BIN)/redal sweep params/demo.yaml --jobs 2
	$(BIN)/redal figures params/demo.yaml

test: $(STAMP) $(JUPYTER_STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lab: $(JUPYTER_STAMP)
	$(BIN)/python -m redal_core.lab --ip "$(JUPYTER_IP)" --port "$(JUPYTER_PORT)"

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check redal_core tests benchmarks

clean-results:
	rm -rf results/runs results/figures results/tables
