"""Exercise checks of 00_start_here."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call, _number


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


def check_ap_at_k(func) -> None:
    """Exercise of 00_start_here: AP@k = sum of precision@i at the relevant ranks i <= k, / min(k, n_relevant)."""
    rng = np.random.default_rng(54321)
    if not np.isclose(_number(_call(func, np.array([True, True, False, True]), 2, 3), "ap_at_k"), 1.0):
        raise ExerciseError("a ranking whose first k results are all relevant must score 1.0, even when more than "
                            "k items are relevant: divide by min(k, n_relevant)")
    for _ in range(30):
        rel = rng.random(15) < 0.4
        k = int(rng.integers(1, 15))
        n_relevant = int(rel.sum() + rng.integers(0, 4))
        if n_relevant == 0:
            continue
        got = _number(_call(func, rel.copy(), k, n_relevant), "ap_at_k")
        ranks = np.flatnonzero(rel[:k]) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        want = precisions.sum() / min(k, n_relevant)
        if not 0.0 <= got <= 1.0 + 1e-9:
            raise ExerciseError(f"AP@k must lie between 0 and 1, yours gave {got:.3f}")
        if np.isclose(got, precisions.sum() / n_relevant) and not np.isclose(got, want):
            raise ExerciseError("you divided by n_relevant: when more items are relevant than k, even a perfect "
                                "top k could not reach 1. Divide by min(k, n_relevant)")
        if len(ranks) and np.isclose(got, precisions.mean()) and not np.isclose(got, want):
            raise ExerciseError("you divided by the hits found: that inflates the score (section 5)")
        full = np.flatnonzero(rel) + 1
        if np.isclose(got, (np.arange(1, len(full) + 1) / full).sum() / min(k, n_relevant)) and not np.isclose(got, want):
            raise ExerciseError("only the first k results count: cut the ranking at k first")
        if not np.isclose(got, want):
            raise ExerciseError("wrong value: precision@i at each relevant rank i within the top k, summed, "
                                "divided by min(k, n_relevant)")
    print("Correct: AP@k passes every check.")

