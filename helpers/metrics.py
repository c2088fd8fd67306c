"""Retrieval metrics of the shared evaluation protocol.

Taught in 00_start_here (built by hand there, checked against scikit-learn).
Relevance arrays are boolean and in rank order: ``ranked_relevance[0]`` says whether the
top-ranked gallery item is relevant to the query.
"""
from __future__ import annotations

import numpy as np

from helpers.env import KitError


def _check_k(k: int) -> int:
    if int(k) != k or k < 1:
        raise KitError(f"k must be a positive whole number, got {k!r}")
    return int(k)


def precision_at_k(ranked_relevance: np.ndarray, k: int) -> float:
    """Fraction of the top ``k`` results that are relevant.

    ``ranked_relevance``: bool array of shape (n_ranked,). If fewer than ``k`` items are
    ranked, the missing ones count as not relevant.
    Taught in 00_start_here, section "5. Measuring a ranking, by hand".
    """
    k = _check_k(k)
    return float(np.asarray(ranked_relevance, bool)[:k].sum() / k)


def recall_at_k(ranked_relevance: np.ndarray, k: int, n_relevant: int | None = None) -> float:
    """Fraction of all relevant items that appear in the top ``k``.

    Taught in 00_start_here, section "5. Measuring a ranking, by hand".
    """
    rel = np.asarray(ranked_relevance, bool)
    n_relevant = int(rel.sum()) if n_relevant is None else int(n_relevant)
    if n_relevant == 0:
        raise KitError("recall is undefined for a query with no relevant items in the gallery")
    return float(rel[:_check_k(k)].sum() / n_relevant)


def average_precision(ranked_relevance: np.ndarray, n_relevant: int | None = None) -> float:
    """Average of precision@i over the ranks i of the relevant items, divided by ``n_relevant``.

    ``n_relevant`` defaults to the number of relevant items in ``ranked_relevance``; pass the
    true number when the ranking is cut, so relevant items never retrieved count as zero.
    Taught in 00_start_here, section "5. Measuring a ranking, by hand".
    """
    rel = np.asarray(ranked_relevance, bool)
    if rel.ndim != 1:
        raise KitError(f"ranked_relevance must be 1-D, got shape {rel.shape}")
    n_relevant = int(rel.sum()) if n_relevant is None else int(n_relevant)
    if n_relevant == 0:
        raise KitError("average precision is undefined for a query with no relevant items")
    if rel.sum() > n_relevant:
        raise KitError(f"{rel.sum()} relevant items ranked but n_relevant={n_relevant}")
    hits = np.cumsum(rel)
    ranks = np.arange(1, len(rel) + 1)
    return float((hits / ranks)[rel].sum() / n_relevant)


def mean_average_precision(relevance: np.ndarray, n_relevant: np.ndarray | None = None) -> float:
    """Mean of ``average_precision`` over queries.

    ``relevance``: bool array of shape (n_query, n_ranked), each row in rank order.
    ``n_relevant``: int array of shape (n_query,), defaults to each row's sum.
    Taught in 00_start_here, section "5. Measuring a ranking, by hand".
    """
    relevance = np.asarray(relevance, bool)
    n_relevant = relevance.sum(1) if n_relevant is None else np.asarray(n_relevant)
    return float(np.mean([average_precision(r, n) for r, n in zip(relevance, n_relevant)]))


def map_at_k(relevance: np.ndarray, k: int, n_relevant: np.ndarray | None = None) -> float:
    """mAP@k: AP over the top ``k`` only, normalised by min(k, n_relevant) (a perfect top-k scores 1).

    Taught in 00_start_here, section "5. Measuring a ranking, by hand".
    """
    relevance = np.asarray(relevance, bool)
    k = _check_k(k)
    n_relevant = relevance.sum(1) if n_relevant is None else np.asarray(n_relevant)
    return float(np.mean([average_precision(r[:k], min(k, n)) if n else 0.0
                          for r, n in zip(relevance, n_relevant)]))


def rank_gallery(sims: np.ndarray) -> np.ndarray:
    """Gallery indices sorted by decreasing similarity, ties broken by index.

    ``sims``: array (n_query, n_gallery) -> ranking, int array (n_query, n_gallery).
    Taught in 04_cosine_retrieval, section "2. Top-k search, three ways".
    """
    return np.argsort(-np.asarray(sims), axis=1, kind="stable")


def _ranked_relevance(sims, y_query, y_gallery, exclude=None) -> np.ndarray:
    """Boolean (n_query, n_gallery) relevance in rank order, ``exclude``'s item left out of each row."""
    sims = np.asarray(sims)
    y_query, y_gallery = np.asarray(y_query), np.asarray(y_gallery)
    if sims.shape != (len(y_query), len(y_gallery)):
        raise KitError(f"sims has shape {sims.shape}, expected (n_query, n_gallery) = "
                       f"({len(y_query)}, {len(y_gallery)})")
    ranking = rank_gallery(sims)
    if exclude is not None:
        keep = ranking != np.asarray(exclude)[:, None]
        ranking = ranking[keep].reshape(len(ranking), -1)  # (n_query, n_gallery - 1)
    relevance = y_gallery[ranking] == y_query[:, None]  # (n_query, n_gallery)
    n_relevant = relevance.sum(1)
    if (n_relevant == 0).any():
        raise KitError(f"{int((n_relevant == 0).sum())} queries have no relevant item in the gallery")
    return relevance


def evaluate(sims: np.ndarray, y_query: np.ndarray, y_gallery: np.ndarray, k: int = 10,
             exclude: np.ndarray | None = None) -> dict:
    """The shared protocol in one call: P@k, R@k, mAP (normalised by all relevant) and mAP@k.

    ``sims``: (n_query, n_gallery) similarities (higher is more similar);
    ``y_query`` (n_query,) and ``y_gallery`` (n_gallery,) labels; relevant = same label.
    ``exclude``: optional int array (n_query,), a gallery index to leave out for each query
    (the query itself when every image queries all the others).
    Taught in 00_start_here, section "6. A first search engine: raw pixels".
    """
    relevance = _ranked_relevance(sims, y_query, y_gallery, exclude)
    return {f"precision@{k}": float(np.mean([precision_at_k(r, k) for r in relevance])),
            f"recall@{k}": float(np.mean([recall_at_k(r, k) for r in relevance])),
            "mAP": mean_average_precision(relevance),
            f"mAP@{k}": map_at_k(relevance, k)}


def evaluate_leave_one_out(X: np.ndarray, labels: np.ndarray, k: int = 10) -> dict:
    """Every image of a labelled collection queries all the others (itself left out).

    ``X``: L2-normalised features (n_images, d); ``labels``: (n_images,). Images alone in their class
    have nothing relevant to find and do not query. Returns ``evaluate``'s dict plus n_queries, n_gallery.
    Plumbing: not taught in a notebook.
    """
    labels = np.asarray(labels)
    query = np.flatnonzero(np.bincount(labels)[labels] >= 2)
    if len(query) == 0:
        raise KitError("every class has a single image: need at least 2 images in some class")
    result = evaluate(X[query] @ X.T, labels[query], labels, k=k, exclude=query)   # (n_query, n_images) sims
    return {**result, "n_queries": int(len(query)), "n_gallery": int(len(labels) - 1)}


def average_precisions(sims: np.ndarray, y_query: np.ndarray, y_gallery: np.ndarray,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """Average precision of every query (n_query,): the numbers whose mean is ``evaluate``'s mAP.

    Same arguments as ``evaluate``. Keep them to put an interval on the mean (``bootstrap_ci``).
    Taught in 04_cosine_retrieval, section "3. Evaluation, properly".
    """
    return np.array([average_precision(r) for r in _ranked_relevance(sims, y_query, y_gallery, exclude)])


def _resample_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))   # (n_boot, n) queries drawn with replacement
    return values[idx].mean(axis=1)


def bootstrap_ci(per_query, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-query scores (e.g. ``average_precisions``).

    The queries are resampled with replacement ``n_boot`` times; the interval holds the middle
    ``level`` of the resampled means. With 69 queries an mAP is known to a few hundredths, no better.
    Taught in 04_cosine_retrieval, section "3. Evaluation, properly".
    """
    values = np.asarray(per_query, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise KitError(f"need a 1-d array of at least 2 per-query scores, got shape {values.shape}")
    if not 0 < level < 1:
        raise KitError(f"level must be between 0 and 1, got {level}")
    means = _resample_means(values, n_boot, seed)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def cluster_bootstrap(values, groups, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval, resampling whole groups (clusters).

    Use it when scores come in groups that are not independent: several object queries cut from one scene,
    several results of one query. Each bootstrap draw takes ``n_groups`` groups with replacement, with all
    their values, and averages every value drawn. With one value per group it equals ``bootstrap_ci``.
    Returns (mean, low, high).
    Taught in 08_explain_and_detect, section "2. A model-agnostic check, and a sanity check".
    """
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if values.ndim != 1 or values.shape != groups.shape:
        raise KitError(f"values and groups must be 1-d arrays of the same length, got shapes {values.shape} "
                       f"and {groups.shape}")
    _, group = np.unique(groups, return_inverse=True)
    if group.max(initial=0) < 1:
        raise KitError("need at least 2 groups to resample")
    if not 0 < level < 1:
        raise KitError(f"level must be between 0 and 1, got {level}")
    sums, sizes = np.bincount(group, values), np.bincount(group)
    draw = np.random.default_rng(seed).integers(0, len(sizes), size=(n_boot, len(sizes)))   # (n_boot, n_groups)
    tail = (1 - level) / 2
    low, high = np.quantile(sums[draw].sum(axis=1) / sizes[draw].sum(axis=1), [tail, 1 - tail])
    return float(values.mean()), float(low), float(high)


def paired_difference(a, b, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Is method A better than method B on the same queries? Bootstrap of the mean of a - b.

    ``a``, ``b``: per-query scores of two methods, query for query. Returns ``diff`` (mean a - b),
    ``low``, ``high`` (the interval) and ``verdict``: "A better", "B better" or "no measurable
    difference" (the interval contains 0). Pairing removes the spread between easy and hard queries,
    so it finds differences that two separate intervals would miss.
    Taught in 04_cosine_retrieval, section "3. Evaluation, properly".
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise KitError(f"a and b must score the same queries: shapes {a.shape} and {b.shape}")
    low, high = bootstrap_ci(a - b, n_boot, level, seed)
    verdict = "A better" if low > 0 else "B better" if high < 0 else "no measurable difference"
    return {"diff": float(np.mean(a - b)), "low": low, "high": high, "verdict": verdict}


def format_ci(per_query, digits: int = 3, **kwargs) -> str:
    """``"0.412 [0.351, 0.478]"``: the mean of per-query scores and its bootstrap 95 % interval.

    Taught in 04_cosine_retrieval, section "3. Evaluation, properly".
    """
    low, high = bootstrap_ci(per_query, **kwargs)
    return f"{np.mean(per_query):.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
