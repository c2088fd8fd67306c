"""Why did two images match? Similarity maps for globally average-pooled CNN features.

For features pooled by global average pooling (GAP) and compared by cosine similarity, the score splits
exactly into one contribution per position of each feature map (Stylianou et al., "Visualizing Deep
Similarity Networks", WACV 2019): the query's map and the result's map each sum to the cosine.
"""
from __future__ import annotations

import numpy as np

from helpers.env import KitError


def _as_maps(maps, name: str) -> np.ndarray:
    if hasattr(maps, "detach"):                                   # a torch tensor
        maps = maps.detach().cpu().numpy()
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise KitError(f"{name} must be feature maps of shape (C, H, W), got shape {maps.shape}: "
                       f"take one image of a batch, e.g. maps[0]")
    return maps


def similarity_maps(query_maps, result_maps) -> tuple[np.ndarray, np.ndarray]:
    """Spatial contributions to the cosine similarity of two images' GAP features.

    ``query_maps``: array or tensor (C, H, W); ``result_maps``: (C, H', W'), the same C.
    With f = the mean of F over positions, s = cos(f_q, f_r) = sum_ij <F_q[:, i, j], f_r> / (HW |f_q| |f_r|).
    Returns (M_q of shape (H, W), M_r of shape (H', W')), float64; each sums to s.
    Taught in 08_explain_and_detect, section "1. Why did it match? Similarity maps".
    """
    Fq, Fr = _as_maps(query_maps, "query_maps"), _as_maps(result_maps, "result_maps")
    if Fq.shape[0] != Fr.shape[0]:
        raise KitError(f"query_maps has {Fq.shape[0]} channels but result_maps has {Fr.shape[0]}: "
                       f"both must come from the same layer of the same network")
    fq, fr = Fq.mean(axis=(1, 2)), Fr.mean(axis=(1, 2))         # (C,) GAP features
    norm = np.linalg.norm(fq) * np.linalg.norm(fr)
    if norm == 0:
        raise KitError("a pooled feature vector is all zeros: the cosine similarity is undefined")
    Mq = np.einsum("chw,c->hw", Fq, fr) / (Fq.shape[1] * Fq.shape[2] * norm)   # (H, W)
    Mr = np.einsum("chw,c->hw", Fr, fq) / (Fr.shape[1] * Fr.shape[2] * norm)   # (H', W')
    return Mq, Mr


def upsample(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A small map (h, w) resized bilinearly to ``size`` = (H, W) pixels, keeping its total mass.

    Plumbing: not taught in a notebook.
    """
    from PIL import Image
    heat = np.asarray(heat, dtype=np.float32)
    big = np.asarray(Image.fromarray(heat).resize((size[1], size[0]), Image.BILINEAR), dtype=np.float64)
    return big * heat.sum() / big.sum() if big.sum() != 0 else big


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two maps of the same shape (flattened).

    Used in 08_explain_and_detect, section "2. A model-agnostic check, and a sanity check".
    """
    from scipy.stats import spearmanr
    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise KitError(f"maps of different sizes ({a.size} and {b.size} values): resize one first")
    return float(spearmanr(a, b)[0])
