"""Exercise checks of 01_colour_histograms."""
from __future__ import annotations

import types
from functools import lru_cache

import numpy as np

from helpers.exercises import ExerciseError, _call, _has_loop, report_level
from helpers.exercises.nb00_start_here import design_score, held_out_shapes


def _random_hists(rng, n, d):
    h = rng.random((n, d)) ** 3
    return (h / h.sum(1, keepdims=True)).astype(np.float32)


def _loops(func, depth: int = 2) -> bool:
    """A loop in func, in a notebook function it calls (e.g. similarity_matrix), or map/vectorize/apply_along_axis."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    if _has_loop(func) or set(code.co_names) & {"map", "vectorize", "apply_along_axis", "frompyfunc"}:
        return True
    if depth == 0:
        return False
    called = [func.__globals__.get(name) for name in code.co_names]
    return any(isinstance(f, types.FunctionType) and f is not func and f.__module__ == func.__module__
               and _loops(f, depth - 1) for f in called)


def check_histogram_intersection(func) -> None:
    """Exercise of 01_colour_histograms: sims[i, j] = sum_b min(H_query[i, b], H_gallery[j, b]), without a loop."""
    rng = np.random.default_rng(7)
    Hq, Hg = _random_hists(rng, 4, 27), _random_hists(rng, 6, 27)
    sims = np.asarray(_call(func, Hq.copy(), Hg.copy()), dtype=np.float64)
    if sims.shape != (4, 6):
        raise ExerciseError(f"expected shape (n_query, n_gallery) = (4, 6), got {sims.shape}: one score per pair")
    if np.allclose(sims, Hq @ Hg.T, atol=1e-6):
        raise ExerciseError("that is the dot product: intersection takes the bin-wise minimum, then sums")
    if not np.allclose(np.asarray(_call(func, Hq[:1].copy(), Hq[:1].copy())), 1.0, atol=1e-5):
        raise ExerciseError("a normalised histogram intersected with itself must give 1.0")
    if (sims < -1e-6).any() or (sims > 1 + 1e-6).any():
        raise ExerciseError("intersection of histograms that sum to 1 lies between 0 and 1")
    if not np.allclose(sims, np.minimum(Hq[:, None, :], Hg[None, :, :]).sum(-1), atol=1e-5):
        raise ExerciseError("wrong values: for each query-gallery pair take the minimum of each bin, then sum over bins")
    Hq2 = Hq.copy()
    _call(func, Hq2, Hg.copy())
    if not np.array_equal(Hq2, Hq):
        raise ExerciseError("histogram_intersection changed its input: work on a copy")
    if _loops(func):
        raise ExerciseError("the values are right, but they come from a Python loop (here or in a function it calls): "
                            "compare every query with every gallery histogram at once with broadcasting")
    print("Correct: histogram intersection passes every check.")


def check_brightness_robust_hist(func) -> None:
    """Exercise of 01_colour_histograms: a histogram that ignores brightness (e.g. hue-saturation)."""
    from PIL import Image
    rng = np.random.default_rng(3)
    base = rng.integers(40, 256, (24, 24, 3)).astype(np.float64)
    images = [Image.fromarray(np.clip(base * f, 0, 255).astype(np.uint8)) for f in (1.0, 0.6)]
    other = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)[..., ::-1].copy())
    H = np.asarray(_call(func, images + [other]), dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != 3:
        raise ExerciseError(f"expected one histogram per image, shape (3, n_bins_total); got {H.shape}")
    if not np.allclose(H.sum(1), 1.0, atol=1e-4):
        raise ExerciseError("each histogram should sum to 1 (divide by the number of pixels)")
    same = np.minimum(H[0], H[1]).sum()
    if same < 0.85:
        raise ExerciseError(f"a darker copy of an image shares only {same:.0%} of its histogram: value/brightness "
                            "is still in it. Keep hue and saturation, drop value")
    if np.allclose(H[0], H[2], atol=1e-3):
        raise ExerciseError("different images give the same histogram: it must still describe colour")
    print(f"Correct: a 40% darker copy keeps {same:.0%} of its histogram.")


@lru_cache(maxsize=1)
def _shapes():
    from helpers.datasets import protocol
    from helpers.images import load_images
    data = protocol("shapes", seed=0)
    return data, load_images(data["paths"])[0]


def _shapes_split_maps(hist_fn, bins):
    """Validation and test mAP (intersection) of hist_fn(images, n_bins=bins) on the notebook's shapes splits."""
    from helpers.datasets import split_query_gallery
    from helpers.metrics import average_precisions
    data, images = _shapes()
    H = np.asarray(_call(hist_fn, images, n_bins=bins), dtype=np.float64)   # (n_images, n_cells)
    if H.ndim != 2 or H.shape[0] != len(images):
        raise ExerciseError(f"hs_hist(images, n_bins={bins}) should give one histogram per image")

    def score(q, g, y_q, y_g):
        sims = np.concatenate([np.minimum(H[q[i:i + 10]][:, None, :], H[g][None, :, :]).sum(-1)
                               for i in range(0, len(q), 10)])                 # (n_query, n_gallery)
        return float(average_precisions(sims, y_q, y_g).mean())
    gallery = data["gallery_idx"]
    val_q, val_g = split_query_gallery(data["y_gallery"], 10, seed=1)         # the notebook's validation split
    val = score(gallery[val_q], gallery[val_g], data["y_gallery"][val_q], data["y_gallery"][val_g])
    test = score(data["query_idx"], gallery, data["y_query"], data["y_gallery"])
    return val, test


def check_best_n_bins(best_n_bins, validation_map: dict, hist_fn) -> None:
    """Exercise of 01_colour_histograms: bins chosen by validation mAP, never by the test queries.

    Recomputes the validation mAP of ``hist_fn`` (the student's hs_hist) for every bin count the student tried.
    """
    if not isinstance(validation_map, dict) or len(validation_map) < 3:
        raise ExerciseError("validation_map should map at least 3 bin counts you tried to their validation mAP")
    if best_n_bins not in validation_map:
        raise ExerciseError("best_n_bins must be one of the bin counts in validation_map")
    recomputed = {}
    for bins, claimed in validation_map.items():
        try:
            claimed = float(claimed)
        except (TypeError, ValueError):
            raise ExerciseError(f"validation_map[{bins!r}] should be one mAP (a number)") from None
        val, test = _shapes_split_maps(hist_fn, int(bins))
        recomputed[bins] = val
        if abs(claimed - val) <= 6e-4 and abs(claimed - val) <= abs(claimed - test):   # 3 decimals are enough
            continue
        if abs(claimed - test) <= 6e-4:
            raise ExerciseError(f"validation_map[{bins}] is the mAP of the test queries: score every choice on "
                                "val['shapes'] (validation queries against the validation gallery)")
        raise ExerciseError(f"validation_map[{bins}] is not the validation mAP of your hs_hist with {bins} bins "
                            "(intersection, val['shapes']): compute each value, do not type it")
    if recomputed[best_n_bins] < max(recomputed.values()) - 1e-9:
        raise ExerciseError("best_n_bins does not have the highest validation mAP of the bin counts you tried")
    print(f"Correct: {best_n_bins} bins per channel, chosen on validation data only (recomputed here).")


DESIGN_THRESHOLDS = {"pass": 0.14, "good": 0.18, "excellent": 0.30}


def check_lighting_descriptor(func) -> float:
    """Open task of 01_colour_histograms: a descriptor scored on held-back shapes images under changed lighting."""
    images, labels = held_out_shapes(lighting=True)
    score = design_score(func, images, labels, "describe")
    return report_level(score, DESIGN_THRESHOLDS,
                        "mAP on 300 held-back shapes images under new lighting (leave-one-out, cosine)",
                        "the plain 8-bin RGB histogram reaches the pass mark: check your choices against it on "
                        "the validation split")
