"""Grading: find the exercises of a notebook, tag them for nbgrader, and score a submitted notebook headless.

An exercise is a markdown cell that starts a line with ``**Exercise N.**`` (``**Exercise N (open).**`` or
``(open design)`` for an open design task), its answer cell(s) between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and one **check
cell**: a code cell whose code starts with a call ``check_...(...)``. A check that runs without error earns the
exercise's points; an open task earns 2 of its 3 points at the level "pass" and all 3 at "good" or "excellent"
(the level its check prints: ``Correct (good): ...``).
"""
from __future__ import annotations

import re
from pathlib import Path

from helpers.env import KitError

POINTS = {"implementation": 2, "open": 3}
LEVEL_SHARE = {"pass": 2 / 3, "good": 1.0, "excellent": 1.0}   # open tasks: "good" (the notebook's own level) earns full points
_EXERCISE = re.compile(r"^\s*(?:#+ .*\n\s*)*\*\*Exercise (\d+)(?: \((open)?[^)]*\))?\.?\*\*", re.MULTILINE)
_CHECK = re.compile(r"^(?:\s*#[^\n]*\n)*\s*(?:\w+\s*=\s*)?check_\w+\(")
_LEVEL = re.compile(r"Correct \((pass|good|excellent)\)")


def exercises(nb) -> list[dict]:
    """The exercises of a notebook (nbformat node), in order.

    Returns a list of dicts with ``number``, ``open`` (bool), ``points``, ``text`` (index of its markdown cell),
    ``answers`` (indices of its solution cells) and ``check`` (index of its check cell).
    Plumbing: not taught in a notebook.
    """
    found, current = [], None
    for i, cell in enumerate(nb.cells):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        heading = _EXERCISE.search(source) if cell.cell_type == "markdown" else None
        if heading:
            is_open = bool(heading.group(2))
            current = {"number": int(heading.group(1)), "open": is_open, "text": i, "answers": [], "check": None,
                       "points": POINTS["open" if is_open else "implementation"]}
            found.append(current)
        elif current is not None and cell.cell_type == "code":
            if "### BEGIN SOLUTION" in source:
                current["answers"].append(i)
            elif current["check"] is None and _CHECK.match(source):
                current["check"] = i
    for ex in found:
        if ex["check"] is None:
            raise KitError(f"exercise {ex['number']} has no check cell (a code cell starting with check_...(...)): "
                           f"add one after its answer cell")
    return found


def tag_nbgrader(nb):
    """Write nbgrader's cell metadata (answer, autograded check with points, read-only text) in place.

    Instructors with nbgrader can then run ``nbgrader generate_assignment`` and ``nbgrader autograde`` on the
    notebooks as they are. Returns the notebook.
    Plumbing: not taught in a notebook.
    """
    def tag(cell, grade_id, **kind):
        meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": False,
                "task": False}
        meta.update(kind)
        cell.metadata["nbgrader"] = meta

    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    for ex in exercises(nb):
        n = ex["number"]
        tag(nb.cells[ex["text"]], f"ex{n}-text", locked=True)
        for j, i in enumerate(ex["answers"]):
            tag(nb.cells[i], f"ex{n}-answer" + (f"-{j + 1}" if j else ""), solution=True)
        tag(nb.cells[ex["check"]], f"ex{n}-check", grade=True, locked=True, points=ex["points"])
    return nb


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = (out.get("evalue") or "").strip().splitlines()
            return f"{out.get('ename')}: {value[0] if value else ''}".strip(": ")
    return None


def _is_answer(cell) -> bool:
    source = "".join(cell.source)
    return (cell.metadata.get("nbgrader", {}).get("solution", False) or "### BEGIN SOLUTION" in source
            or "# YOUR CODE HERE" in source)


def _score(nb, ex: dict, timeout: int) -> dict:
    row = {"exercise": ex["number"], "open": ex["open"], "points": 0.0, "max": ex["points"]}
    check = nb.cells[ex["check"]]
    for i in ex["answers"]:
        err = _error(nb.cells[i])
        if err and "KeyboardInterrupt" in err:
            return {**row, "status": "timeout", "message": f"the answer cell ran longer than {timeout} s and was "
                    f"stopped (an endless loop?)"}
    err = _error(check)
    if err is None and not check.get("outputs") and check.get("execution_count") is None:
        return {**row, "status": "not run", "message": "the check did not run (an earlier cell stopped the kernel)"}
    if err is None:
        level = _LEVEL.search(_text(check))
        share = LEVEL_SHARE[level.group(1)] if ex["open"] and level else 1.0
        return {**row, "points": round(ex["points"] * share, 2), "status": level.group(1) if level else "passed",
                "message": ""}
    if "KeyboardInterrupt" in err:
        return {**row, "status": "timeout", "message": f"the check ran longer than {timeout} s and was stopped"}
    answer_errors = [e for e in (_error(nb.cells[i]) for i in ex["answers"]) if e]
    if "NotImplementedError" in err or "not answered yet" in err or any("NotImplementedError" in e
                                                                         for e in answer_errors):
        return {**row, "status": "not answered", "message": "not answered yet"}
    if answer_errors:
        return {**row, "status": "error", "message": f"the answer cell raised {answer_errors[0][:160]}"}
    return {**row, "status": "failed", "message": err.replace("ExerciseError: ", "")[:200]}


def grade(submission: Path | str, reference: Path | str | None = None, timeout: int = 600) -> dict:
    """Run a submitted notebook headless and score its exercises against the reference (solution) notebook.

    The check cells are taken from the reference, so an edited check earns nothing; a deleted check cell scores 0
    with a message; every cell may run ``timeout`` seconds before it is interrupted.
    Returns ``{"notebook", "score", "max", "exercises": [{"exercise", "points", "max", "status", "message"}]}``.
    Plumbing: not taught in a notebook.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from helpers import runner

    submission = Path(submission)
    if not submission.is_file():
        raise KitError(f"no such submission: {submission}")
    try:
        nb = nbformat.read(submission, as_version=4)
    except Exception as err:
        raise KitError(f"{submission} is not a readable notebook ({type(err).__name__}): submit the .ipynb file "
                       f"saved by Jupyter") from None
    if reference is None:
        matches = [p for p in runner.notebooks() if p.name == submission.name]
        if not matches:
            raise KitError(f"no course notebook is named {submission.name}: keep the file name of the student copy, "
                           f"or pass --reference NOTEBOOK")
        reference = matches[0]
    ref = nbformat.read(reference, as_version=4)
    ref_exercises = exercises(ref)
    if not ref_exercises:
        raise KitError(f"{Path(reference).name} has no exercises to grade")

    def key(cell):
        return "".join(cell.source).strip()

    rows, missing = [], set()
    for ex in ref_exercises:   # put back the reference's check cells: an edited check earns nothing
        target = key(ref.cells[ex["check"]])
        hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                and (c.metadata.get("nbgrader", {}).get("grade_id") == f"ex{ex['number']}-check" or key(c) == target)]
        if not hits:
            missing.add(ex["number"])
        else:
            nb.cells[hits[0]].source = ref.cells[ex["check"]].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(Path(reference).resolve().parent)}})
    crashed = None
    try:
        client.execute()
    except DeadKernelError:
        crashed = "the kernel died (out of memory?) before this check ran"
    except Exception as err:
        crashed = f"the notebook could not run: {type(err).__name__}: {str(err).strip()[:160]}"
    found, previous = {}, -1
    for ex in ref_exercises:   # locate each check by its (restored) source, and its answers just before it
        if ex["number"] in missing:
            continue
        same = [i for i, c in enumerate(nb.cells) if key(c) == key(ref.cells[ex["check"]])]
        i = next((i for i in same if i > previous), same[0])
        answers = [j for j in range(previous + 1 if i > previous else 0, i) if nb.cells[j].cell_type == "code" and _is_answer(nb.cells[j])]
        found[ex["number"]], previous = {**ex, "check": i, "answers": answers}, i
    for ex in ref_exercises:
        if ex["number"] in missing:
            rows.append({"exercise": ex["number"], "open": ex["open"], "points": 0.0, "max": ex["points"],
                         "status": "missing", "message": "the check cell was deleted or changed: copy it back from a "
                         "fresh student copy (python -m helpers student)"})
        else:
            row = _score(nb, {**found[ex["number"]], "points": ex["points"], "open": ex["open"]}, timeout)
            if crashed and row["status"] == "not run":
                row["message"] = crashed
            rows.append(row)
    return {"notebook": submission.name, "score": round(sum(r["points"] for r in rows), 2),
            "max": sum(r["max"] for r in rows), "exercises": rows}


def format_grade(result: dict) -> str:
    """The score table ``python -m helpers grade`` prints."""
    lines = [f"{result['notebook']}: {result['score']:g} / {result['max']:g} points",
             f"{'exercise':<10} {'points':>8}  {'status':<13} message"]
    for r in result["exercises"]:
        kind = " (open)" if r["open"] else ""
        lines.append(f"{str(r['exercise']) + kind:<10} {r['points']:>4g} / {r['max']:<1g}  {r['status']:<13} "
                     f"{r['message']}")
    return "\n".join(lines)
