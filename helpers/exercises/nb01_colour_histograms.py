"""Exercise checks of 01_colour_histograms."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call, _check_best_choice


def _random_hists(rng, n, d):
    h = rng.random((n, d)) ** 3
    return (h / h.sum(1, keepdims=True)).astype(np.float32)


def check_histogram_intersection(func) -> None:
    """Exercise of 01_colour_histograms: sims[i, j] = sum_b min(H_query[i, b], H_gallery[j, b])."""
    rng = np.random.default_rng(7)
    Hq, Hg = _random_hists(rng, 4, 27), _random_hists(rng, 6, 27)
    sims = np.asarray(_call(func, Hq.copy(), Hg.copy()), dtype=np.float64)
    if sims.shape != (4, 6):
        raise ExerciseError(f"expected shape (n_query, n_gallery) = (4, 6), got {sims.shape}: one score per pair")
    if np.allclose(sims, Hq @ Hg.T, atol=1e-6):
        raise ExerciseError("that is the dot product: intersection takes the bin-wise minimum, then sums")
    if not np.allclose(np.asarray(_call(func, Hq[:1], Hq[:1])), 1.0, atol=1e-5):
        raise ExerciseError("a normalised histogram intersected with itself must give 1.0")
    if (sims < -1e-6).any() or (sims > 1 + 1e-6).any():
        raise ExerciseError("intersection of histograms that sum to 1 lies between 0 and 1")
    if not np.allclose(sims, np.minimum(Hq[:, None, :], Hg[None, :, :]).sum(-1), atol=1e-5):
        raise ExerciseError("wrong values: for each query-gallery pair take the minimum of each bin, then sum over bins")
    print("Correct: histogram intersection passes every check.")


def check_best_n_bins(best_n_bins, validation_map: dict) -> None:
    """Exercise of 01_colour_histograms: bins chosen by validation mAP, never by the test queries."""
    _check_best_choice(best_n_bins, validation_map, "best_n_bins", "validation_map", "bin counts")
    print(f"Correct: {best_n_bins} bins per channel, chosen on validation data only.")


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

