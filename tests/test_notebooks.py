"""Notebook lint: what nbval and students need from every saved notebook."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_as_make_outputs_leaves_it(path):
    nb = json.loads(path.read_text())
    assert path.stat().st_size < 1_000_000, "keep saved notebooks under 1 MB (figure size, dpi)"
    assert "widgets" not in nb["metadata"], "strip widget state (make outputs does)"
    for i, cell in enumerate(code_cells(path)):
        src = "".join(cell["source"])
        assert cell["execution_count"] is not None, f"code cell {i} was not executed"
        assert not src.rstrip().endswith(";"), f"code cell {i} ends with ';' (use plt.show() or _ = ...)"
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors or "NBVAL_RAISES_EXCEPTION" in src, f"code cell {i} was saved with an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_markers_are_exact_and_checked_cells_print(path):
    for i, cell in enumerate(code_cells(path)):
        for line in "".join(cell["source"]).splitlines():
            if "NBVAL" in line:
                assert re.fullmatch(r"# NBVAL_(CHECK_OUTPUT|IGNORE_OUTPUT|SKIP|RAISES_EXCEPTION)", line), \
                    f"cell {i}: marker line must be exactly '# NBVAL_...', got {line!r}"
    checked = [c for c in code_cells(path) if "# NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert checked, "every notebook checks at least one cell of rounded metrics"
    assert all(c["outputs"] for c in checked), "a checked cell must print something to compare"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton_and_solution_markers(path):
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"][0].startswith("# ")
    assert "In this notebook you will" in text and "In this notebook we" in text
    setup = "".join(code_cells(path)[0]["source"])
    assert "SEED = " in setup, "the first code cell is the setup cell and defines SEED"
    for cell in code_cells(path):
        src = "".join(cell["source"])
        assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the kit itself runs on 3.10 too
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    pip_section = (root / "environment.yml").read_text().split("- pip:", 1)[1]
    listed = {line.strip()[2:] for line in pip_section.splitlines()
              if line.strip().startswith("- ") and line.strip() != "- -e ."}
    assert listed == wanted
