"""The registry: one spec per feature name, used by features, caches, index files and the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import extractors, pipeline
from helpers.env import KitError
from helpers.extractors import REGISTRY, Extractor, get, register, spec_key
from helpers.models import ConvAutoencoder
from helpers.store import save_model


def test_every_registered_name_has_a_complete_spec():
    assert {"colour_hist", "colour_hist_hsv", "efficientnet_lite0", "efficientnet_lite0_gem", "resnet18",
            "small_cnn", "autoencoder", "metric_cnn"} <= set(REGISTRY)
    for name in ("colour_hist", "efficientnet_lite0", "efficientnet_lite0_gem"):
        spec = get(name).spec()
        assert spec["name"] == name and spec["format"] == extractors.SPEC_FORMAT
        json.dumps(spec)                                   # plain JSON: stored in index files
    assert get("efficientnet_lite0").spec()["weights_sha256"] == extractors.EFFNET_SHA256
    assert spec_key(get("efficientnet_lite0").spec()) != spec_key(get("efficientnet_lite0_gem").spec())
    with pytest.raises(KitError, match="unknown feature 'sift': choose one of colour_hist"):
        get("sift")


def test_a_trained_model_becomes_a_feature_once_saved(tmp_path):
    with pytest.raises(KitError, match="needs the model notebook 03_autoencoders trains"):
        get("autoencoder").spec(tmp_path)
    folder = tmp_path / "imgs" / "a"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (60, 50), (40 * i, 100, 200)).save(folder / f"{i}.png")
    torch.manual_seed(0)
    ae = ConvAutoencoder(8).eval()
    save_model(ae, "autoencoder", {"seed": 0}, notebook="03_autoencoders", extra={"size": 48}, data_dir=tmp_path)
    X, kept, _ = pipeline.compute("autoencoder", sorted(folder.iterdir()), data_dir=tmp_path)
    images = [Image.open(p).convert("RGB").resize((48, 48), Image.BICUBIC) for p in kept]
    x = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    with torch.inference_mode():
        assert X.shape == (3, 8) and np.allclose(X, ae.encode(x).numpy(), atol=1e-5)
    first = spec_key(get("autoencoder").spec(tmp_path))
    save_model(ConvAutoencoder(8), "autoencoder", {"seed": 1}, data_dir=tmp_path)   # retrained: another spec
    assert spec_key(get("autoencoder").spec(tmp_path)) != first
    result = subprocess.run([sys.executable, "-m", "helpers", "evaluate", str(tmp_path / "imgs"), "--features",
                             "autoencoder", "--json", "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr        # every registered name is a CLI feature


def test_a_new_extractor_is_one_entry_plus_its_function(tmp_path):
    def load(data_dir=None):   # preprocess: the mean colour; no network
        return features_mean_colour, None
    register(Extractor("mean_colour_test", "mean RGB", "descriptor", load))
    try:
        Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "r.png")
        X, _, _ = pipeline.compute_cached("mean_colour_test", [tmp_path / "r.png"], data_dir=tmp_path)
        assert np.allclose(X, [[1, 0, 0]])
    finally:
        del REGISTRY["mean_colour_test"]


def features_mean_colour(img):
    return np.asarray(img, dtype=np.float32).reshape(-1, 3).mean(0) / 255


@pytest.mark.parametrize("name, pool", [("efficientnet_lite0", None), ("efficientnet_lite0_gem", "gem")])
def test_pretrained_features_split_preprocessing_is_bit_identical(tmp_path, name, pool):
    # workers resize to 8-bit tensors and the network's device normalises: the same arithmetic as ToTensor + Normalize
    from helpers.backbones import load_backbone
    from helpers.features import embed_batch
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(128, 128), (300, 170), (64, 90)]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(paths[-1])
    X, kept, _ = pipeline.compute(name, paths, progress=False)
    model, preprocess = load_backbone("efficientnet_lite0")
    ref = embed_batch(model, torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths]), pool=pool)
    assert kept == paths and np.array_equal(X, ref)
    worker_preprocess, _ = get(name).load()
    assert worker_preprocess(Image.open(paths[0]).convert("RGB")).dtype == torch.uint8
