"""Student copies: one source, nothing of a solution survives, and the copies still run."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.runner import notebooks
from helpers.student import BEGIN, END, strip_solutions, student_notebook

NOTEBOOKS = notebooks()


def test_strip_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\nprint(f)\n"
    out = strip_solutions(src)
    assert out == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(f)\n"
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def solution_lines(nb):
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if BEGIN in line:
                inside = True
            elif END in line:
                inside = False
            elif inside and len(line.strip()) >= 24:  # distinctive lines, not `for x in y:`
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nothing_of_a_solution_survives(path):
    original = nbformat.read(path, as_version=4)
    copy = student_notebook(original)
    text = json.dumps(copy)
    assert BEGIN not in text and END not in text
    leaked = [line for line in solution_lines(original) if line in text]
    assert not leaked, f"solution lines left in the student copy: {leaked[:3]}"
    n_regions = sum(c.source.count(BEGIN) for c in original.cells)
    stubs = sum(c.source.count("raise NotImplementedError()") for c in copy.cells if c.cell_type == "code")
    assert n_regions >= 2 and stubs == n_regions
    # everything before the first exercise is untouched, outputs included
    first = next(i for i, c in enumerate(original.cells) if BEGIN in c.source)
    assert copy.cells[:first] == original.cells[:first]
    assert all(not c.get("outputs") for c in copy.cells[first:] if c.cell_type == "code")
    assert [c.cell_type for c in copy.cells] == [c.cell_type for c in original.cells]


def test_cli_writes_copies_and_refuses_to_overwrite_solutions(tmp_path):
    result = subprocess.run([sys.executable, "-m", "helpers", "student", "--out", str(tmp_path), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(Path(p).name for p in json.loads(result.stdout)["written"]) == [p.name for p in NOTEBOOKS]
    result = subprocess.run([sys.executable, "-m", "helpers", "student", "--out", str(NOTEBOOKS[0].parent)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "refusing" in result.stderr


def test_a_student_copy_runs_and_stops_only_at_the_exercises(tmp_path):
    from nbclient import NotebookClient
    path = NOTEBOOKS[0]  # 00_start_here: the quickest
    nb = student_notebook(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    failed = [c for c in nb.cells if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
    assert failed, "the unanswered exercises should raise"
    unanswered = {m for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source
                  for m in re.findall(r"^def (\w+)\(", c.source, flags=re.M)}
    for cell in failed:
        ename = next(o.ename for o in cell.outputs if o.output_type == "error")
        uses_unanswered = ename == "NotImplementedError" and any(re.search(rf"\b{f}\b", cell.source) for f in unanswered)
        assert ("raise NotImplementedError()" in cell.source or re.match(r"(_ = )?check_", cell.source) or uses_unanswered), \
            cell.source                          # a cell after an exercise may call the student's function, nothing else fails
        assert ename in ("NotImplementedError", "ExerciseError"), ename
    ran = [c for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
    assert len(ran) == sum(c.cell_type == "code" for c in nb.cells)  # every cell ran
