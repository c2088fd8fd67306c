"""STYLE 3: every public helper's docstring ends by naming the notebook section that teaches (or first uses) it.

The last line is one of
    Taught in 04_cosine_retrieval, section "2. Top-k search, three ways".
    Used in 00_start_here, section "Setup".
    Plumbing: not taught in a notebook.
and a named section must be a markdown heading of that notebook, so a renamed heading fails here.
"""
import importlib
import inspect
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
MODULES = ["app", "vectordb", "metric", "crossmodal", "captions", "explain", "scenes", "metrics", "retrieval", "quantization", "features", "pipeline", "backbones", "models", "plotting", "workflows", "indexes",
           "datasets", "images", "synth", "store", "extractors", "env", "results"]
WHERE = re.compile(r'(?:Taught|Used) in (?P<notebook>\d\d_\w+), section "(?P<section>.+)"\.')
PLUMBING = "Plumbing: not taught in a notebook."


def public_objects(module_name: str):
    """(name, object) of every public function and class defined in ``helpers.<module_name>`` itself."""
    module = importlib.import_module(f"helpers.{module_name}")
    return [(name, obj) for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
            and (inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj)))]


@lru_cache(maxsize=None)
def headings(notebook: str) -> frozenset:
    """The text (after the #'s) of every markdown heading line of ``notebooks/<notebook>.ipynb``."""
    cells = json.loads((NOTEBOOK_DIR / f"{notebook}.ipynb").read_text())["cells"]
    return frozenset(line.lstrip("#").strip() for cell in cells if cell["cell_type"] == "markdown"
                     for line in "".join(cell["source"]).splitlines() if line.startswith("#"))


HELPERS = [(m, name, obj) for m in MODULES for name, obj in public_objects(m)]


@pytest.mark.parametrize("module_name", MODULES)
def test_each_module_has_public_helpers(module_name):
    assert public_objects(module_name), f"helpers.{module_name} defines no public function or class"


@pytest.mark.parametrize("module_name, name, obj", HELPERS, ids=[f"{m}.{n}" for m, n, _ in HELPERS])
def test_docstring_ends_with_where_it_is_taught(module_name, name, obj):
    doc = inspect.cleandoc(obj.__doc__ or "")
    assert doc, f"helpers.{module_name}.{name} has no docstring"
    last = doc.splitlines()[-1].strip()
    where = WHERE.fullmatch(last)
    assert where or last == PLUMBING, (
        f"helpers.{module_name}.{name}: the docstring must end with 'Taught in NN_name, section \"...\".', "
        f"'Used in NN_name, section \"...\".' or '{PLUMBING}', not {last!r}")
    if where:
        notebook, section = where["notebook"], where["section"]
        assert (NOTEBOOK_DIR / f"{notebook}.ipynb").is_file(), \
            f"helpers.{module_name}.{name} names notebook {notebook}, which is not in notebooks/"
        assert section in headings(notebook), (
            f"helpers.{module_name}.{name} names section {section!r}, which is not a heading of {notebook}: "
            f"{sorted(headings(notebook))}")
