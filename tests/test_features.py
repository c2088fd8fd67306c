from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import features, pipeline


def test_colour_hist_matches_numpy_histogramdd():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    h = features.colour_hist([img], n_bins=4)[0]
    ref, _ = np.histogramdd(img.reshape(-1, 3), bins=4, range=[(0, 256)] * 3)
    assert np.allclose(h, ref.ravel() / ref.sum()) and h.sum() == pytest.approx(1.0)


def test_colour_hist_hsv_separates_hue_from_brightness():
    red, dark_red = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], dark_red[..., 0] = 250, 150
    rgb = features.colour_hist([red, dark_red], n_bins=4)
    hsv = features.colour_hist([red, dark_red], n_bins=4, space="hsv")
    # hue and saturation bins agree in HSV, while RGB puts them in different bins
    assert rgb[0] @ rgb[1] == 0
    assert np.array_equal(hsv[0].reshape(4, 4, 4).sum(2), hsv[1].reshape(4, 4, 4).sum(2))
    with pytest.raises(ValueError, match="space"):
        features.colour_hist([red], space="lab")


def test_gem_between_average_and_max():
    maps = torch.rand(2, 3, 4, 4)
    g = features.gem(maps, p=3)
    assert torch.all(g >= maps.mean((2, 3)) - 1e-6) and torch.all(g <= maps.amax((2, 3)) + 1e-6)
    assert torch.allclose(features.gem(maps, p=1), maps.mean((2, 3)), atol=1e-6)


def test_pooling_options_and_batching_agree_with_one_big_batch():
    from helpers.backbones import load_backbone
    model, preprocess = load_backbone()
    imgs = [np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8) for i in range(5)]
    a = features.extract_features(model, imgs, preprocess, batch_size=2, progress=False)
    b = features.extract_features(model, imgs, preprocess, batch_size=5, pool="gap", progress=False)
    assert np.allclose(a, b, atol=1e-4)
    gmp = features.extract_features(model, imgs, preprocess, pool="gmp", progress=False)
    assert (gmp >= b - 1e-5).all()
    with pytest.raises(ValueError, match="pool"):
        features.extract_features(model, imgs, preprocess, pool="median")
    with pytest.raises(ValueError, match="no images"):
        features.extract_features(model, [], preprocess)


def test_compute_cached_skips_bad_files_and_notices_changes(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (10, 10), "red").save(folder / "a.png")
    Image.new("RGB", (10, 10), "blue").save(folder / "b.png")
    (folder / "c.png").write_text("broken")
    paths = sorted(folder.iterdir())
    X, kept, skipped = pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)
    assert X.shape == (2, 512) and [p.name for p in kept] == ["a.png", "b.png"] and skipped[0][0].name == "c.png"
    X2, kept2, skipped2 = pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)
    assert np.array_equal(X, X2) and len(list((tmp_path / "cache").iterdir())) == 1
    assert kept2 == kept and skipped2 == skipped
    import os
    relative = [Path(os.path.relpath(p)) for p in paths]  # the same files spelled another way: same cache,
    X4, kept4, _ = pipeline.compute_cached("colour_hist", relative, data_dir=tmp_path)  # the caller's paths back
    assert np.array_equal(X, X4) and kept4 == relative[:2]
    Image.new("RGB", (10, 10), "green").save(folder / "a.png")  # content changed: the cache is not reused
    X3, _, _ = pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)
    assert not np.array_equal(X, X3) and len(list((tmp_path / "cache").iterdir())) == 2
    with pytest.raises(ValueError, match="unknown feature"):
        pipeline.compute("sift", paths)


def test_cache_misses_when_the_extractor_spec_changes_and_rebuilds_a_corrupt_file(tmp_path, monkeypatch):
    from helpers import extractors
    Image.new("RGB", (10, 10), "red").save(tmp_path / "a.png")
    paths = [tmp_path / "a.png"]
    first = pipeline.cache_path("colour_hist", paths, tmp_path)
    monkeypatch.setattr(extractors, "SPEC_FORMAT", extractors.SPEC_FORMAT + 1)   # e.g. the pooling changed
    assert pipeline.cache_path("colour_hist", paths, tmp_path) != first
    monkeypatch.undo()
    X, _, _ = pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)
    for damage in (b"", b"PK\x03\x04 truncated zip", b"not a cache at all"):
        first.write_bytes(damage)                     # truncated, corrupt: a miss, computed again
        X2, kept, _ = pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)
        assert np.array_equal(X, X2) and kept == paths
    np.savez(first, features=X)                       # an old layout without kept/skipped: a miss too
    assert np.array_equal(pipeline.compute_cached("colour_hist", paths, data_dir=tmp_path)[0], X)


def test_streaming_with_workers_equals_one_process_and_skips_bad_files(tmp_path, monkeypatch):
    for i in range(40):
        Image.new("RGB", (12, 9), (6 * i, 255 - 6 * i, 90)).save(tmp_path / f"{i:02d}.png")
    (tmp_path / "bad.png").write_text("broken")
    paths = sorted(tmp_path.glob("*.png"))
    assert pipeline.loader_settings(len(paths), "cpu")[1] >= (1 if (__import__("os").cpu_count() or 1) > 1 else 0)
    X, kept, skipped = pipeline.compute("colour_hist", paths)
    monkeypatch.setattr(pipeline, "loader_settings", lambda n, device: (3, 0))     # no workers, odd batches
    X1, kept1, skipped1 = pipeline.compute("colour_hist", paths)
    assert np.array_equal(X, X1) and kept == kept1 == [p for p in paths if p.name != "bad.png"]
    assert skipped == skipped1 and skipped[0][0].name == "bad.png"
    assert np.array_equal(X, features.colour_hist(kept))


def test_large_jpegs_are_decoded_at_reduced_size_for_the_cnn(tmp_path):
    from helpers.images import load_rgb
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(tmp_path / "big.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    assert load_rgb(tmp_path / "big.jpg").size == (2000, 1500)
    assert load_rgb(tmp_path / "big.jpg", reduce_to=224).size == (500, 375)       # 1/4: 1/8 would be under 224
    assert load_rgb(tmp_path / "big.png", reduce_to=224).size == (200, 150)       # not a JPEG: as it is
