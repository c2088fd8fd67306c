"""Answer-safe checks for the exercises: they say which property failed, never the answer.

Each ``check_...`` function takes the student's function (or result), runs it on cases the
student cannot see, and raises ``ExerciseError`` with a hint, or prints a short success line.
"""
from __future__ import annotations

import numpy as np


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


def check_precision_at_k(func) -> None:
    """Exercise of 00_start_here: precision@k = (relevant items in the top k) / k."""
    rng = np.random.default_rng(12345)
    for _ in range(20):
        rel = rng.random(15) < 0.4
        k = int(rng.integers(1, 15))
        got = _number(_call(func, rel.copy(), k), "precision_at_k")
        if not 0.0 <= got <= 1.0:
            raise ExerciseError(f"precision must lie between 0 and 1, yours gave {got:.3f}")
        hits = rel[:k].sum()
        if np.isclose(got, hits / max(rel.sum(), 1)) and not np.isclose(got, hits / k):
            raise ExerciseError("you divided by the number of relevant items: that is recall, not precision")
        if np.isclose(got, rel[:k + 1].sum() / k) and not np.isclose(got, hits / k):
            raise ExerciseError("k is off by one: the top k are ranked_relevance[:k]")
        if not np.isclose(got, hits / k):
            raise ExerciseError("wrong value on a random ranking: count the relevant items among the first k, divide by k")
    got = _number(_call(func, np.array([True, False]), 5), "precision_at_k")
    if not np.isclose(got, 0.2):
        raise ExerciseError("when fewer than k items are ranked, the missing ones count as misses: still divide by k")
    print("Correct: precision@k passes every check.")


def check_average_precision(func) -> None:
    """Exercise of 00_start_here: AP normalised by all relevant items."""
    rng = np.random.default_rng(54321)
    if not np.isclose(_number(_call(func, np.array([True, True, False]), 2), "average_precision"), 1.0):
        raise ExerciseError("a ranking with every relevant item on top must score 1.0")
    for _ in range(20):
        rel = rng.random(12) < 0.4
        if not rel.any():
            continue
        n_relevant = int(rel.sum() + rng.integers(0, 3))
        got = _number(_call(func, rel.copy(), n_relevant), "average_precision")
        ranks = np.flatnonzero(rel) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        if not 0.0 <= got <= 1.0:
            raise ExerciseError(f"AP must lie between 0 and 1, yours gave {got:.3f}")
        if np.isclose(got, precisions.mean()) and not np.isclose(got, precisions.sum() / n_relevant):
            raise ExerciseError("you divided by the hits found, not by n_relevant: relevant items never "
                                "retrieved must lower the score")
        if not np.isclose(got, precisions.sum() / n_relevant):
            raise ExerciseError("wrong value: average precision@i over the ranks i (counted from 1) "
                                "where a relevant item sits, divided by n_relevant")
    print("Correct: average precision passes every check.")
