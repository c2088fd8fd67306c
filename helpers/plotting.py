"""Figures: image grids, retrieval grids and precision-recall curves.

Colours are from the Okabe-Ito colour-blind-safe palette; relevance is shown by a frame
colour *and* a mark (+ relevant, x not), so colour is never the only cue.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HIT, MISS, QUERY = "#009E73", "#D55E00", "#0072B2"  # bluish green, vermillion, blue
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _as_array(image) -> np.ndarray:
    if isinstance(image, (str, Path)):
        from helpers.images import load_rgb
        image = load_rgb(image)
    return np.asarray(image)


def _frame(ax, colour: str, width: float = 4) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def image_grid(images, titles=None, ncols: int = 8, size: float = 1.3, suptitle: str | None = None):
    """Show images (PIL images, arrays or paths) in a grid; returns (fig, axes).

    Used in 00_start_here, section "3. The two datasets".
    """
    import matplotlib.pyplot as plt
    n = len(images)
    if n == 0:
        raise ValueError("image_grid got no images to show")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.2 * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_array(images[i]))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, axes


def _overlay(ax, image: np.ndarray, heat, alpha: float) -> None:
    """Draw a heat map (h, w) stretched over the image, semi-transparent."""
    h, w = image.shape[:2]
    ax.imshow(np.asarray(heat, float), cmap="magma", alpha=alpha, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
              interpolation="bilinear")


def retrieval_grid(query, results, scores, relevant, query_title: str = "query", title: str | None = None,
                   size: float = 1.5, axes=None, maps=None, alpha: float = 0.55):
    """One row: the query (blue border) then each result with rank, score and a frame
    (bluish green + for relevant, vermillion x for not). Returns the axes.

    ``results``: images or paths in rank order; ``scores``, ``relevant``: arrays of shape (k,).
    ``maps``: optional (query map, [one map per result]), each a small array (h, w) such as
    ``helpers.explain.similarity_maps`` returns, drawn over its image with opacity ``alpha``.
    Used in 00_start_here, section "6. A first search engine: raw pixels".
    """
    import matplotlib.pyplot as plt
    k = len(results)
    if axes is None:
        fig, axes = plt.subplots(1, k + 1, figsize=(size * (k + 1), size * 1.25))
        if title:
            fig.suptitle(title)
    axes[0].imshow(_as_array(query))
    axes[0].set_title(query_title, fontsize=9, color=QUERY, fontweight="bold")
    _frame(axes[0], QUERY, 5)
    if maps is not None:
        if len(maps) != 2 or len(maps[1]) != k:
            raise ValueError(f"maps must be (query map, list of {k} result maps), one per result")
        _overlay(axes[0], _as_array(query), maps[0], alpha)
    for rank, (ax, img, score, rel) in enumerate(zip(axes[1:], results, scores, relevant), start=1):
        ax.imshow(_as_array(img))
        if maps is not None:
            _overlay(ax, _as_array(img), maps[1][rank - 1], alpha)
        ax.set_title(f"#{rank} {'+' if rel else 'x'} {score:.2f}", fontsize=9, color=HIT if rel else MISS)
        _frame(ax, HIT if rel else MISS)
    return axes


def pr_curve(ranked_relevance, n_relevant: int | None = None, label: str | None = None, ax=None):
    """Precision against recall down one ranking (bool array in rank order); returns the axes.

    Taught in 00_start_here, section "6. A first search engine: raw pixels".
    """
    import matplotlib.pyplot as plt
    rel = np.asarray(ranked_relevance, bool)
    n_relevant = int(rel.sum()) if n_relevant is None else n_relevant
    hits = np.cumsum(rel)
    precision = hits / np.arange(1, len(rel) + 1)
    recall = hits / max(n_relevant, 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot(recall, precision, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    return ax
