"""Grading: exercises are found and tagged for nbgrader; `python -m helpers grade` scores a submission headless
and survives the ways a submission goes wrong (an error, an endless loop, a deleted or edited check cell)."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import runner
from helpers.cli import main
from helpers.env import KitError
from helpers.grade import exercises, format_grade, grade, tag_nbgrader
from helpers.student import student_notebook

SETUP = '''from helpers.exercises import ExerciseError, report_level
def check_double(f):
    if f(3) != 6:
        raise ExerciseError("double(3) is not 6: multiply by two")
    print("Correct: it doubles.")
def check_design(f):
    return report_level(f(), {"pass": 0.2, "good": 0.5, "excellent": 0.8}, "score", "try harder")'''


def make_reference(answer_1="return 2 * x", answer_2="return 0.6"):
    return new_notebook(cells=[
        new_markdown_cell("# 99 · A tiny notebook"),
        new_code_cell(SETUP),
        new_markdown_cell("## Exercises\n**Exercise 1.** Write `double(x)`."),
        new_code_cell(f"def double(x):\n    ### BEGIN SOLUTION\n    {answer_1}\n    ### END SOLUTION"),
        new_code_cell("check_double(double)"),
        new_markdown_cell("**Exercise 2 (open).** Design a score."),
        new_code_cell(f"def design():\n    ### BEGIN SOLUTION\n    {answer_2}\n    ### END SOLUTION"),
        new_code_cell("design_score = check_design(design)"),
        new_markdown_cell("## In this notebook we:\n- doubled."),
    ])


@pytest.fixture
def reference(tmp_path):
    path = tmp_path / "ref" / "99_tiny.ipynb"
    path.parent.mkdir()
    nbformat.write(tag_nbgrader(make_reference()), path)
    return path


def submit(tmp_path, nb, name="99_tiny.ipynb"):
    path = tmp_path / "sub" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_exercises_are_found_and_tagged_for_nbgrader():
    nb = tag_nbgrader(make_reference())
    found = exercises(nb)
    assert [(e["number"], e["open"], e["points"], e["answers"], e["check"]) for e in found] == [
        (1, False, 2, [3], 4), (2, True, 3, [6], 7)]
    check = nb.cells[4].metadata["nbgrader"]
    assert check["grade"] and check["locked"] and check["points"] == 2 and check["grade_id"] == "ex1-check"
    assert nb.cells[3].metadata["nbgrader"]["solution"] and not nb.cells[3].metadata["nbgrader"]["locked"]
    assert nb.cells[2].metadata["nbgrader"]["locked"] and "nbgrader" not in nb.cells[1].metadata
    student = student_notebook(make_reference())
    assert student.cells[4].metadata["nbgrader"]["grade_id"] == "ex1-check"


def test_an_exercise_without_a_check_cell_is_an_error():
    nb = make_reference()
    del nb.cells[4]
    with pytest.raises(KitError, match="exercise 1 has no check cell"):
        exercises(nb)


def test_the_solution_earns_full_marks_and_the_student_copy_zero(tmp_path, reference):
    result = grade(reference, reference=reference, timeout=60)
    assert (result["score"], result["max"]) == (5, 5)
    assert [r["status"] for r in result["exercises"]] == ["passed", "good"]
    empty = grade(submit(tmp_path, student_notebook(nbformat.read(reference, as_version=4))), reference, 60)
    assert empty["score"] == 0 and {r["status"] for r in empty["exercises"]} == {"not answered"}
    assert "not answered yet" in format_grade(empty)
    stub_at_top = make_reference()     # an answer cell whose stub is not inside a function raises at once
    stub_at_top.cells[6].source = "### BEGIN SOLUTION\ndesign = lambda: 0.6\n### END SOLUTION"
    copy = student_notebook(stub_at_top)
    assert "raise NotImplementedError()" in copy.cells[6].source
    result = grade(submit(tmp_path, copy), reference, 60)
    assert [r["status"] for r in result["exercises"]] == ["not answered", "not answered"]


def test_wrong_answers_an_error_a_pass_level_and_an_edited_check(tmp_path, reference):
    nb = tag_nbgrader(make_reference(answer_1="return x + 2", answer_2="return 0.3"))   # as student copies are
    nb.cells[7].source = "design_score = 1.0   # the student edited the check"
    result = grade(submit(tmp_path, nb), reference, 60)
    first, second = result["exercises"]
    assert first["status"] == "failed" and "double(3) is not 6" in first["message"] and first["points"] == 0
    assert second["status"] == "pass" and second["points"] == 2     # the check was put back and ran
    divide = grade(submit(tmp_path, make_reference(answer_1="return 1 / 0")), reference, 60)
    assert divide["exercises"][0]["status"] == "failed" and "ZeroDivisionError" in divide["exercises"][0]["message"]
    crash = make_reference()
    crash.cells[3].source = "### BEGIN SOLUTION\nraise ValueError('oops')\n### END SOLUTION"
    crash = grade(submit(tmp_path, crash), reference, 60)
    assert crash["exercises"][0]["status"] == "error" and "raised ValueError: oops" in crash["exercises"][0]["message"]
    assert crash["exercises"][1]["status"] == "good"


def test_an_endless_loop_is_stopped_and_a_deleted_check_scores_zero(tmp_path, reference):
    nb = make_reference(answer_1="while True:\n        pass")
    nb.cells[3].source = "while True:\n    pass\n### BEGIN SOLUTION\n### END SOLUTION"
    del nb.cells[7]
    result = grade(submit(tmp_path, nb), reference, timeout=3)
    first, second = result["exercises"]
    assert first["status"] == "timeout" and "longer than 3 s" in first["message"]
    assert second["status"] == "missing" and "deleted" in second["message"]
    assert result["score"] == 0 and result["max"] == 5


def test_cli_grade_prints_a_table_or_json_and_refuses_what_is_not_a_notebook(tmp_path, reference, capsys):
    assert main(["grade", str(reference), "--reference", str(reference), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["score"] == out["max"] == 5 and len(out["exercises"]) == 2
    bad = tmp_path / "99_tiny.ipynb"
    bad.write_text("this is not a notebook")
    assert main(["grade", str(bad), "--reference", str(reference)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a readable notebook" in err and len(err.strip().splitlines()) == 1
    assert main(["grade", str(tmp_path / "nothing.ipynb")]) == 2
    assert "no such submission" in capsys.readouterr().err
    other = submit(tmp_path, make_reference(), name="my_homework.ipynb")
    assert main(["grade", str(other)]) == 2
    assert "no course notebook is named my_homework.ipynb" in capsys.readouterr().err


@pytest.mark.parametrize("path", runner.notebooks(), ids=lambda p: p.stem[:2])
def test_every_course_notebook_has_three_exercises_one_open_and_saved_nbgrader_metadata(path):
    nb = nbformat.read(path, as_version=4)
    found = exercises(nb)
    assert len(found) >= 3 and any(e["open"] for e in found), "3 exercises, one an open design task"
    assert [e["number"] for e in found] == list(range(1, len(found) + 1)), "exercises numbered 1, 2, 3, ..."
    saved = json.dumps([c.metadata.get("nbgrader") for c in nb.cells], sort_keys=True)
    tagged = json.dumps([c.metadata.get("nbgrader") for c in tag_nbgrader(nb).cells], sort_keys=True)
    assert saved == tagged, "nbgrader metadata is stale: re-run the notebook with `make outputs`"


def test_grade_scores_notebook_00_at_full_marks_and_its_student_copy_at_zero(tmp_path):
    reference = runner.notebooks(["00"])[0]
    full = grade(reference, timeout=300)
    assert full["score"] == full["max"] > 0, format_grade(full)
    copy = submit(tmp_path, student_notebook(nbformat.read(reference, as_version=4)), name=reference.name)
    empty = grade(copy, timeout=300)
    assert empty["score"] == 0 and all(r["status"] == "not answered" for r in empty["exercises"]), format_grade(empty)
