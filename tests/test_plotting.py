import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.plotting import HIT, MISS, image_grid, pr_curve, retrieval_grid


def test_retrieval_grid_frames_hits_and_misses():
    img = np.zeros((8, 8, 3), np.uint8)
    axes = retrieval_grid(img, [img, img], [0.9, 0.5], [True, False])
    assert axes[1].get_title().startswith("#1 +") and axes[2].get_title().startswith("#2 x")
    assert axes[1].spines["left"].get_edgecolor()[:3] == pytest.approx(plt.matplotlib.colors.to_rgb(HIT))
    assert axes[2].spines["left"].get_edgecolor()[:3] == pytest.approx(plt.matplotlib.colors.to_rgb(MISS))
    plt.close("all")


def test_image_grid_and_pr_curve():
    fig, axes = image_grid([np.zeros((4, 4, 3))] * 5, titles=list("abcde"), ncols=3)
    assert axes.shape == (2, 3)
    with pytest.raises(ValueError, match="no images"):
        image_grid([])
    ax = pr_curve([1, 0, 1, 0])
    x, y = ax.lines[0].get_data()
    assert x[-1] == 1.0 and y[0] == 1.0
    plt.close("all")
