"""Exercise checks of 00_start_here, and the held-back shapes images that score the open design tasks of 00 and 01."""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from helpers.exercises import ExerciseError, _call, _has_loop, report_level

HELD_OUT_SEED = 2027   # the shapes dataset itself uses seed 0: these images are never on disk, never in a notebook
HELD_OUT_BRIGHTNESS = (0.5, 1.6)   # lighting=True: brightness range of the held-back images (the dataset: 0.8-1.2)
HELD_OUT_CAST = 0.2                # lighting=True: colour casts up to +-20 % per channel (the dataset: +-8 %)


def _uses_helpers(func, what: str) -> None:
    names = set(getattr(getattr(func, "__code__", None), "co_names", ()))
    if names & {"metrics", "average_precision", "average_precisions", "map_at_k", "mean_average_precision",
                "precision_at_k", "evaluate"}:
        raise ExerciseError(f"{what} calls helpers.metrics: build it yourself with NumPy")


def _no_loop(func, what: str) -> None:
    names = set(getattr(getattr(func, "__code__", None), "co_names", ()))
    if _has_loop(func) or names & {"vectorize", "apply_along_axis", "map"}:
        raise ExerciseError(f"{what} gives the right values but uses a Python loop (for, while, a comprehension or "
                            "map): work on the whole matrix at once (broadcasting, cumulative sums, boolean masks)")


def _per_query(value, n_query: int, what: str) -> np.ndarray:
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should return an array of numbers") from None
    if out.shape != (n_query,):
        raise ExerciseError(f"{what} should return one value per query, shape (n_query,) = ({n_query},); "
                            f"got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ExerciseError(f"{what} returned nan or inf: check for a division by zero (ranks are counted from 1)")
    return out


def _relevance_cases(rng, n_cases: int = 12):
    """Random full rankings (n_query, n_ranked), every query with a different number of relevant items."""
    for _ in range(n_cases):
        n_query, n_ranked = int(rng.integers(3, 8)), int(rng.integers(12, 30))
        rel = rng.random((n_query, n_ranked)) < rng.uniform(0.15, 0.6, (n_query, 1))
        rel[:, -1] |= ~rel.any(1)                               # every query has something relevant
        yield rel


def check_r_precision(func) -> None:
    """Exercise of 00_start_here: R-precision per query, vectorised (no Python loop)."""
    rng = np.random.default_rng(12345)
    _uses_helpers(func, "r_precision")
    for rel in _relevance_cases(rng):
        R = rel.sum(1)
        got = _per_query(_call(func, rel.copy()), len(rel), "r_precision")
        hits = np.cumsum(rel, 1)                                # (n_query, n_ranked)
        rows = np.arange(len(rel))
        want = hits[rows, R - 1] / R
        if np.allclose(got, want):
            continue
        if ((got < -1e-9) | (got > 1 + 1e-9)).any():
            raise ExerciseError("R-precision is a fraction of R results: it must lie between 0 and 1")
        if np.allclose(got, hits[rows, np.minimum(R, rel.shape[1] - 1)] / R) or np.allclose(got, np.where(
                R > 1, hits[rows, np.maximum(R - 2, 0)], 0) / R):
            raise ExerciseError("off by one: the top R results are ranks 1..R, i.e. the first R columns")
        for k in {int(R.max()), int(R.min()), int(round(R.mean()))}:
            if np.allclose(got, hits[:, k - 1] / k) or np.allclose(got, hits[:, k - 1] / R):
                raise ExerciseError("every query has its own R (its own number of relevant items): "
                                    "one cut-off for all queries is not R-precision")
        if np.allclose(got, hits[rows, R - 1] / rel.shape[1]):
            raise ExerciseError("divide by R, the number of results you look at, not by the length of the ranking")
        raise ExerciseError("wrong values on a random ranking: for each query, count the relevant items among its "
                            "first R results and divide by R")
    _no_loop(func, "r_precision")
    original = np.array([[True, False, True, False]])
    _call(func, original)
    if not np.array_equal(original, [[True, False, True, False]]):
        raise ExerciseError("r_precision changed its input array: work on a copy")
    print("Correct: R-precision passes every check.")


def _ap_at_k_reference(rel, k, n_relevant):
    top = rel[:, :k]
    precision = np.cumsum(top, 1) / np.arange(1, top.shape[1] + 1)
    return (precision * top).sum(1) / np.minimum(k, n_relevant)


def check_ap_at_k(func) -> None:
    """Exercise of 00_start_here: AP@k per query, divided by min(k, n_relevant), vectorised (no Python loop)."""
    rng = np.random.default_rng(54321)
    _uses_helpers(func, "ap_at_k")
    for rel in _relevance_cases(rng):
        n_relevant = rel.sum(1) + rng.integers(0, 4, len(rel))     # some relevant items were never ranked
        k = int(rng.integers(2, rel.shape[1] - 1))
        got = _per_query(_call(func, rel.copy(), k, n_relevant.copy()), len(rel), "ap_at_k")
        want = _ap_at_k_reference(rel, k, n_relevant)
        if np.allclose(got, want):
            continue
        top = rel[:, :k]
        sum_prec = want * np.minimum(k, n_relevant)
        if ((got < -1e-9) | (got > 1 + 1e-9)).any():
            raise ExerciseError("AP@k must lie between 0 and 1")
        if any(np.allclose(got, _ap_at_k_reference(rel, k + d, n_relevant) * np.minimum(k + d, n_relevant) / den)
               for d in (-1, 1) for den in (np.minimum(k, n_relevant), np.minimum(k + d, n_relevant))):
            raise ExerciseError("k is off by one: the top k results are the first k columns, ranks 1..k")
        if np.allclose(got, sum_prec / n_relevant):
            raise ExerciseError("you divided by n_relevant: when more items are relevant than k, even a perfect "
                                "top k could not reach 1")
        if np.allclose(got, sum_prec / np.maximum(top.sum(1), 1)):
            raise ExerciseError("you divided by the hits found: that inflates the score (section 5)")
        if np.allclose(got, sum_prec / k):
            raise ExerciseError("you divided by k: a query with fewer than k relevant items could never reach 1")
        if np.allclose(got, _ap_at_k_reference(rel, rel.shape[1], np.minimum(k, n_relevant))) or np.allclose(
                got, _ap_at_k_reference(rel, rel.shape[1], n_relevant)):
            raise ExerciseError("only the first k results count: cut the ranking at k first")
        raise ExerciseError("wrong values on a random ranking: precision@i at each relevant rank i within the top k, "
                            "summed, then divided by the right denominator (section 5)")
    perfect = np.array([[True, True, False, True], [True, False, False, False]])
    got = _per_query(_call(func, perfect.copy(), 2, np.array([3, 1])), 2, "ap_at_k")
    if not np.allclose(got, 1.0):
        raise ExerciseError("a ranking whose first k results are all relevant (or that finds its only relevant item "
                            "first) must score 1.0, even when more than k items are relevant")
    _no_loop(func, "ap_at_k")
    print("Correct: AP@k passes every check.")


# --- the open design task: a hand-made descriptor, scored on shapes images no notebook loads ----------------------
@lru_cache(maxsize=4)
def held_out_shapes(n_per_class: int = 30, lighting: bool = False, seed: int = HELD_OUT_SEED):
    """Freshly drawn shapes images (a seed the dataset never uses): (PIL images, labels (n,)), in memory only.

    ``lighting``: also push brightness to 0.5-1.6 and colour casts to +-20 % (the dataset keeps 0.8-1.2 and +-8 %).
    Plumbing: the held-back data of the exercises of 00_start_here and 01_colour_histograms.
    """
    from helpers.synth import SHAPE_CLASSES, render_shape, sample_shape_params
    rng = np.random.default_rng(seed + 1)
    images, labels = [], []
    for i in range(n_per_class * len(SHAPE_CLASSES)):
        p = sample_shape_params(i, seed=seed)
        if lighting:
            p = {**p, "brightness": float(rng.uniform(*HELD_OUT_BRIGHTNESS)),
                 **{c: float(rng.uniform(1 - HELD_OUT_CAST, 1 + HELD_OUT_CAST)) for c in ("cast_r", "cast_g", "cast_b")}}
        images.append(render_shape(p))
        labels.append(SHAPE_CLASSES.index(p["label"]))
    return tuple(images), np.array(labels)


def design_score(func, images, labels, what: str) -> float:
    """Leave-one-out mAP of func's vectors (cosine similarity), after refusing degenerate answers."""
    from helpers.metrics import evaluate_leave_one_out
    start = time.perf_counter()
    X = _call(func, list(images))
    seconds = time.perf_counter() - start
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should return an array of numbers, shape (n_images, d)") from None
    if X.ndim != 2 or X.shape[0] != len(images):
        raise ExerciseError(f"{what} should return one vector per image, shape (n_images, d) = ({len(images)}, d); "
                            f"got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ExerciseError(f"{what} returned nan or inf for some images")
    norms = np.linalg.norm(X, axis=1)
    if (norms < 1e-12).any():
        raise ExerciseError(f"{what} returned an all-zero vector for some images: cosine similarity needs a direction")
    if np.allclose(X, X[:1], atol=1e-9):
        raise ExerciseError(f"{what} gives every image the same vector: it must describe the image")
    again = np.asarray(_call(func, list(images[:5])), dtype=np.float64)
    if again.shape != X[:5].shape or not np.allclose(again, X[:5], rtol=1e-5, atol=1e-8):
        raise ExerciseError(f"{what} gives different vectors for the same images: no randomness, and describe each "
                            "image on its own (no statistics of the whole batch)")
    if seconds > 20:
        raise ExerciseError(f"{what} took {seconds:.0f} s for {len(images)} images: keep it under 20 s")
    return evaluate_leave_one_out(X / norms[:, None], labels)["mAP"]


DESCRIPTOR_THRESHOLDS = {"pass": 0.30, "good": 0.38, "excellent": 0.50}


def check_pixel_descriptor(func) -> float:
    """Open task of 00_start_here: a hand-made pixel descriptor, scored on 300 shapes images no notebook loads."""
    images, labels = held_out_shapes()
    score = design_score(func, images, labels, "describe")
    return report_level(score, DESCRIPTOR_THRESHOLDS, "mAP on 300 held-back shapes images (leave-one-out, cosine)",
                        "raw pixels themselves reach the pass mark: compare your choices with them on the "
                        "validation split")
