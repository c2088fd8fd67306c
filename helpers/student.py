"""Student copies of the notebooks: solutions out, everything else kept.

Solutions live between nbgrader's markers ``### BEGIN SOLUTION`` and ``### END SOLUTION``.
Each such region becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the same
indentation; the outputs of every code cell from the first exercise on are cleared, since
they depend on the answers.
"""
from __future__ import annotations

import re
from pathlib import Path

from helpers.env import KitError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                     re.MULTILINE | re.DOTALL)


def strip_solutions(source: str) -> str:
    """Replace every solution region of a cell's source by a stub with the same indentation."""
    if source.count(BEGIN) != source.count(END):
        raise KitError("unbalanced solution markers: every ### BEGIN SOLUTION needs an ### END SOLUTION")
    return _REGION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()"
                       + m.group(2), source)


def student_notebook(nb):
    """A student copy of a notebook (nbformat node); the original is not modified."""
    import copy
    from helpers.grade import tag_nbgrader
    nb = tag_nbgrader(copy.deepcopy(nb))     # the copy keeps nbgrader's ids: `grade` finds the checks by them
    clearing = False
    for cell in nb.cells:
        if BEGIN in cell.source:
            cell.source = strip_solutions(cell.source)
            clearing = True
        if cell.cell_type == "code" and clearing:
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    return nb


def write_student_copies(out_dir: Path | str, notebooks) -> list[Path]:
    """Write a student copy of each notebook into ``out_dir``; returns the written paths."""
    import nbformat
    out_dir = Path(out_dir).resolve()
    written = []
    for path in notebooks:
        if out_dir == Path(path).resolve().parent:
            raise KitError(f"refusing to write student copies over the solution notebooks in {out_dir}: "
                             f"choose another --out folder")
        nb = student_notebook(nbformat.read(path, as_version=4))
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / Path(path).name
        nbformat.write(nb, target)
        written.append(target)
    return written
