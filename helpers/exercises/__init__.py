"""Answer-safe checks for the exercises, one module per notebook: they say which property failed, never the answer.

Each ``check_...`` function takes the student's function (or result), runs it on cases the student cannot
see, and raises ``ExerciseError`` with a hint, or prints a short success line. A notebook imports its own
module, e.g. ``from helpers.exercises.nb01_colour_histograms import check_best_n_bins``.
"""
from __future__ import annotations

import ast
import inspect
import textwrap

class ExerciseError(AssertionError):
    """Raised by a check: the message says what is wrong and hints how to fix it."""


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError("not answered yet: replace `raise NotImplementedError()` with your code") from None


def _number(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should return one number, got {type(value).__name__}") from None


def _has_loop(func) -> bool:
    """True when the source of func holds a for/while loop or a comprehension (False if the source is unknown)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return False
    return any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in ast.walk(tree))


LEVELS = ("pass", "good", "excellent")


def report_level(score: float, thresholds: dict, what: str, hint: str) -> float:
    """Shared by the open design tasks: print ``Correct (<level>): <what> <score> (...)`` or raise below pass.

    ``thresholds`` maps "pass", "good", "excellent" to the lowest score of each level (higher is better); ``what``
    names the score and the held-back data it was measured on; ``hint`` says what to try when the score is below
    pass. ``python -m helpers grade`` reads the level from the printed line. Returns ``score``.
    """
    marks = ", ".join(f"{name} >= {thresholds[name]:.2f}" for name in LEVELS)
    level = max((name for name in LEVELS if score >= thresholds[name]), key=thresholds.get, default=None)
    if level is None:
        raise ExerciseError(f"{what} {score:.3f} is below the pass mark ({marks}): {hint}")
    print(f"Correct ({level}): {what} {score:.3f} ({marks}).")
    return score
