# Two commands for a fresh machine: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lab app outputs datasets student bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev,scale]"
	touch $(STAMP)

datasets: install
	$(PY) -m helpers datasets build all

run: datasets  ## execute every notebook headless into build/, print a summary
	$(PY) -m helpers run --out build

test: install  ## the whole test suite: unit, CLI, notebook lint, nbval
	$(PY) -m pytest

lab: datasets  ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks

app: datasets  ## the "search by photo" app as a web page, without code (Voila), on http://localhost:8866
	$(VENV)/bin/voila helpers/app.ipynb --port 8866

outputs: datasets  ## re-execute the notebooks in place: the only way saved outputs are made
	$(PY) -m helpers run --in-place

student: install  ## student copies (solutions removed) in build/student
	$(PY) -m helpers student --out build/student

bench: datasets
	for f in benchmarks/*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf build .pytest_cache
