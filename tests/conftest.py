import matplotlib
import numpy as np
import pytest
from PIL import Image

matplotlib.use("Agg")


@pytest.fixture
def folder(tmp_path):
    """A labelled folder photos/c0..c2 of 4 small PNGs each: reddish-random, green, blue."""
    rng = np.random.default_rng(0)
    for label in range(3):
        (tmp_path / "photos" / f"c{label}").mkdir(parents=True)
        for i in range(4):
            base = np.zeros((16, 16, 3)) + rng.integers(0, 256, 3) * (label == 0) + [0, 120 * (label == 1), 200 * (label == 2)]
            img = np.clip(base + rng.normal(0, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / "photos" / f"c{label}" / f"{i}.png")
    return tmp_path / "photos"
