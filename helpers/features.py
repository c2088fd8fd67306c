"""Image descriptors: colour histograms and CNN features, batched, cached, with progress.

``colour_hist`` is taught in 01_colour_histograms; CNN extraction and pooling in 02_cnn_features.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from helpers import __version__
from helpers.env import DATA_DIR
from helpers.images import load_rgb

FEATURES = {  # name -> what it is; every name works with `python -m helpers index/search/evaluate`
    "colour_hist": "joint RGB colour histogram, 8 bins per channel (512-d), L1-normalised",
    "colour_hist_hsv": "joint HSV colour histogram, 8 bins per channel (512-d), L1-normalised",
    "efficientnet_lite0": "EfficientNet-Lite0 (ImageNet, offline), global average pooling (1280-d)",
    "efficientnet_lite0_gem": "EfficientNet-Lite0 (ImageNet, offline), GeM pooling p=3 (1280-d)",
    "resnet18": "ResNet-18 (ImageNet, torchvision weights: online once), global average pooling (512-d)",
}


def _as_image(item):
    from PIL import Image
    if isinstance(item, (str, Path)):
        return load_rgb(item)
    if isinstance(item, np.ndarray):
        return Image.fromarray(item)
    return item.convert("RGB")


def colour_hist(images, n_bins: int = 8, space: str = "rgb") -> np.ndarray:
    """Joint colour histograms, each summing to 1.

    ``images``: PIL images, paths or uint8 arrays (H, W, 3); ``space``: "rgb" or "hsv".
    Returns an array of shape (n_images, n_bins ** 3). Taught in 01_colour_histograms.
    """
    if space not in ("rgb", "hsv"):
        raise ValueError(f"space must be 'rgb' or 'hsv', got {space!r}")
    out = np.empty((len(images), n_bins ** 3), np.float32)
    for i, item in enumerate(images):
        img = _as_image(item)
        arr = np.asarray(img.convert("HSV") if space == "hsv" else img, dtype=np.int64).reshape(-1, 3)
        q = arr * n_bins // 256                                   # (n_pixels, 3) bin of each channel
        idx = (q[:, 0] * n_bins + q[:, 1]) * n_bins + q[:, 2]     # (n_pixels,) joint bin
        out[i] = np.bincount(idx, minlength=n_bins ** 3) / len(idx)
    return out


def gem(maps, p: float = 3.0, eps: float = 1e-6):
    """Generalised-mean pooling of feature maps (B, C, H, W) -> (B, C); p=1 is average, p->inf max."""
    return maps.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


def feature_maps(model, x):
    """The last convolutional feature maps (B, C, H, W) of a timm or torchvision backbone."""
    if hasattr(model, "forward_features"):
        return model.forward_features(x)
    import torch
    body = [m for name, m in model.named_children() if name not in ("avgpool", "fc")]
    return torch.nn.Sequential(*body)(x)


def extract_features(model, images, preprocess, batch_size: int = 8, pool: str | None = None,
                     device: str | None = None, progress: bool | None = None) -> np.ndarray:
    """Run ``model`` on every image in batches and return features, float32 (n_images, d).

    ``images``: PIL images, arrays or paths (a bad path raises ``ImageLoadError``);
    ``pool``: None uses the model's own output; "gap", "gmp" or "gem" pool its feature maps;
    ``progress``: a tqdm bar; None shows it only in an interactive terminal.
    Batches of 8 in channels-last memory layout were fastest on a 2-core CPU (about 2x over
    batches of 32 in the default layout; see benchmarks/feature_throughput.py).
    """
    import torch
    from tqdm.auto import tqdm
    if len(images) == 0:
        raise ValueError("no images to extract features from")
    if pool not in (None, "gap", "gmp", "gem"):
        raise ValueError(f"pool must be None, 'gap', 'gmp' or 'gem', got {pool!r}")
    device = device or next(model.parameters()).device.type
    layout = torch.channels_last
    model = model.to(device, memory_format=layout).eval()
    chunks = []
    show = sys.stderr.isatty() if progress is None else progress
    with torch.inference_mode(), tqdm(total=len(images), unit="img", disable=not show, leave=False) as bar:
        for start in range(0, len(images), batch_size):
            batch = [preprocess(_as_image(item)) for item in images[start:start + batch_size]]
            x = torch.stack(batch).to(device, memory_format=layout)
            if pool is None:
                out = model(x)
            else:
                maps = feature_maps(model, x)
                out = {"gap": lambda m: m.mean(dim=(2, 3)), "gmp": lambda m: m.amax(dim=(2, 3)), "gem": gem}[pool](maps)
            chunks.append(out.float().cpu().numpy())
            bar.update(len(batch))
    return np.concatenate(chunks)


def fingerprint(paths) -> str:
    """sha256 over the names and bytes of files: changes whenever any image changes."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def compute(name: str, paths, progress: bool | None = None, data_dir: Path | str = DATA_DIR):
    """Features ``name`` for image files, skipping unreadable ones.

    Returns (X, kept, skipped): features (n_kept, d), kept paths, and (path, reason) pairs.
    """
    from helpers.images import load_images
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}: choose one of {', '.join(FEATURES)}")
    images, kept, skipped = load_images(paths)
    if not images:
        first, reason = skipped[0] if skipped else ("", "")
        raise ValueError(f"none of the {len(paths)} files could be read as an image ({first}: {reason})")
    if name.startswith("colour_hist"):
        return colour_hist(images, space="hsv" if name.endswith("hsv") else "rgb"), kept, skipped
    from helpers.env import pick_device
    from helpers.models import load_backbone
    backbone = "resnet18" if name == "resnet18" else "efficientnet_lite0"
    model, preprocess = load_backbone(backbone, data_dir)
    X = extract_features(model, images, preprocess, pool="gem" if name.endswith("_gem") else None,
                         device=pick_device(), progress=progress)
    return X, kept, skipped


def compute_cached(name: str, paths, progress: bool | None = None, data_dir: Path | str = DATA_DIR):
    """``compute`` with a cache in ``data/cache/``, keyed by feature name, kit version and file contents,
    so a stale cache is never used. Returns (X, kept, skipped) like ``compute``.
    """
    paths = [Path(p) for p in paths]
    key = hashlib.sha256(json.dumps([name, __version__, fingerprint(paths)]).encode()).hexdigest()[:20]
    cache = Path(data_dir) / "cache" / f"{name}-{key}.npz"
    if cache.exists():  # kept/skipped are stored as positions in ``paths``, however the caller spells them
        with np.load(cache, allow_pickle=False) as z:
            kept = [paths[i] for i in z["kept_idx"]]
            skipped = [(paths[i], str(r)) for i, r in zip(z["skipped_idx"], z["skipped_reasons"])]
            return z["features"], kept, skipped
    X, kept, skipped = compute(name, paths, progress, data_dir)
    position = {p: i for i, p in enumerate(paths)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, features=X, kept_idx=np.array([position[p] for p in kept], dtype=np.int64),
             skipped_idx=np.array([position[p] for p, _ in skipped], dtype=np.int64),
             skipped_reasons=np.array([r for _, r in skipped], dtype=str))
    return X, kept, skipped
