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


def checked_outputs(nb_cells) -> list[str]:
    """The text each checked cell printed, as nbval compares it."""
    texts = []
    for cell in nb_cells:
        if cell["cell_type"] == "code" and "# NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            texts.append("".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                                 for o in cell["outputs"]))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_print_nothing_that_depends_on_caches(path):
    """STYLE 27: no progress bars, stderr, 'trained in' or 'loading' lines in a checked cell's saved output."""
    for i, cell in enumerate(code_cells(path)):
        if "# NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
            continue
        for out in cell["outputs"]:
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert out.get("name") != "stderr", f"code cell {i} is checked but writes to stderr (progress bars?)"
            assert not re.search(r"it/s|trained in|loading|found a trained", text, re.I), \
                f"code cell {i} is checked but prints what differs when models are cached: {text[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_are_asserted_and_headline_numbers_carry_intervals(path):
    """STYLE 24 and 26 hold in every notebook, new ones included: the cells that print results assert their prose
    (an assert with the sentence as its message) and the headline numbers come with a bootstrap interval."""
    source = "\n".join("".join(c["source"]) for c in code_cells(path))
    claims = re.findall(r"^\s*assert .+?,\s*\\?\s*[\"'f]", source, re.M | re.S)
    assert len(claims) >= 5, f"{path.stem}: {len(claims)} asserted claims; every comparative sentence is asserted"
    assert re.search(r"format_ci|bootstrap_ci|paired_difference", source), \
        f"{path.stem}: no bootstrap interval (helpers.metrics.format_ci / paired_difference) beside its numbers"


def _class_ast(source: str, name: str) -> str:
    import ast
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == name)
    if ast.get_docstring(node):
        node.body = node.body[1:]
    return ast.dump(node)


@pytest.mark.parametrize("notebook, name", [("02_cnn_features", "SmallCNN"), ("03_autoencoders", "ConvAutoencoder")])
def test_the_class_a_notebook_teaches_is_the_helper_class(notebook, name):
    """d2l's 'defined in': the helper the command line loads is the code the notebook shows (docstring aside)."""
    import inspect
    from helpers import models
    path = next(p for p in NOTEBOOKS if p.stem == notebook)
    cell = next("".join(c["source"]) for c in code_cells(path) if f"class {name}(" in "".join(c["source"]))
    assert _class_ast(cell, name) == _class_ast(inspect.getsource(getattr(models, name)), name), \
        f"helpers.models.{name} and the class notebook {notebook} shows have drifted apart"


@pytest.mark.parametrize("notebook, model", [("03_autoencoders", "autoencoder")])   # 02 adds 8 min; `make run`
                                                                                  # then `make test` covers it
def test_a_training_notebook_prints_the_same_checked_outputs_cold_and_warm(notebook, model, tmp_path, monkeypatch):
    """Run a notebook that trains on an empty data folder, then again with its models and features cached:
    every checked cell must print the same text both times (the bug a fresh clone met after `make run`)."""
    import nbformat
    from helpers.runner import execute
    monkeypatch.setenv("CBIR_DATA", str(tmp_path / "data"))
    source = next(p for p in NOTEBOOKS if p.stem == notebook)
    runs = []
    for state in ("cold", "warm"):
        result = execute(source, tmp_path / f"{state}.ipynb")
        assert result["ok"], result["error"]
        runs.append(checked_outputs(nbformat.read(tmp_path / f"{state}.ipynb", as_version=4).cells))
    assert (tmp_path / "data" / "models" / f"{model}.json").exists(), "the cold run did not save its model"
    assert runs[0] == runs[1]
    assert runs[0] == checked_outputs(json.loads(source.read_text())["cells"]), \
        "the saved outputs differ from a run on an empty data folder: run `make outputs`"
