"""Image descriptors: colour histograms and CNN features of images in memory.

``colour_hist`` is taught in 01_colour_histograms; CNN extraction and pooling in 02_cnn_features.
For folders of files, ``helpers.pipeline`` streams them and caches the features.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from helpers.env import KitError
from helpers.images import load_rgb

def _as_image(item):
    from PIL import Image
    if isinstance(item, (str, Path)):
        return load_rgb(item)
    if isinstance(item, np.ndarray):
        return Image.fromarray(item)
    return item.convert("RGB")


def hist_vector(img, n_bins: int = 8, space: str = "rgb") -> np.ndarray:
    """The joint colour histogram of one PIL RGB image: float32 (n_bins ** 3,), summing to 1.

    Taught in 01_colour_histograms, section "1. A colour histogram, by hand".
    """
    arr = np.asarray(img.convert("HSV") if space == "hsv" else img, dtype=np.int64).reshape(-1, 3)
    q = arr * n_bins // 256                                   # (n_pixels, 3) bin of each channel
    idx = (q[:, 0] * n_bins + q[:, 1]) * n_bins + q[:, 2]     # (n_pixels,) joint bin
    return (np.bincount(idx, minlength=n_bins ** 3) / len(idx)).astype(np.float32)


def colour_hist(images, n_bins: int = 8, space: str = "rgb") -> np.ndarray:
    """Joint colour histograms, each summing to 1.

    ``images``: PIL images, paths or uint8 arrays (H, W, 3); ``space``: "rgb" or "hsv".
    Returns an array of shape (n_images, n_bins ** 3).
    Taught in 01_colour_histograms, section "1. A colour histogram, by hand".
    """
    if space not in ("rgb", "hsv"):
        raise KitError(f"space must be 'rgb' or 'hsv', got {space!r}")
    out = np.empty((len(images), n_bins ** 3), np.float32)
    for i, item in enumerate(images):
        out[i] = hist_vector(_as_image(item), n_bins, space)
    return out


def gem(maps, p: float = 3.0, eps: float = 1e-6):
    """Generalised-mean pooling of feature maps (B, C, H, W) -> (B, C); p=1 is average, p->inf max.
    Taught in 02_cnn_features, section "3. Which layer, which pooling?"."""
    return maps.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


def feature_maps(model, x):
    """The last convolutional feature maps (B, C, H, W) of a timm or torchvision backbone.

    Taught in 02_cnn_features, section "3. Which layer, which pooling?".
    """
    if hasattr(model, "forward_features"):
        return model.forward_features(x)
    import torch
    body = [m for name, m in model.named_children() if name not in ("avgpool", "fc")]
    return torch.nn.Sequential(*body)(x)


def embed_batch(model, x, pool: str | None = None) -> np.ndarray:
    """Features of one batch (B, 3, H, W) -> float32 (B, d), on the model's device, channels-last.

    ``pool``: None uses the model's own output; "gap", "gmp" or "gem" pool its feature maps.
    Taught in 02_cnn_features, section "3. Which layer, which pooling?".
    """
    import torch
    device = next(model.parameters()).device
    x = x.to(device, memory_format=torch.channels_last)
    with torch.inference_mode():
        if pool is None:
            out = model(x)
        else:
            maps = feature_maps(model, x)
            out = {"gap": lambda m: m.mean(dim=(2, 3)), "gmp": lambda m: m.amax(dim=(2, 3)), "gem": gem}[pool](maps)
    return out.float().cpu().numpy()


def extract_features(model, images, preprocess, batch_size: int = 8, pool: str | None = None,
                     device: str | None = None, progress: bool | None = None) -> np.ndarray:
    """Run ``model`` on images already in memory, in batches: float32 (n_images, d).

    ``images``: PIL images, arrays or paths (a bad path raises ``ImageLoadError``); ``pool`` as in
    ``embed_batch``; ``progress``: a tqdm bar, None shows it only in an interactive terminal.
    Batches of 8 in channels-last layout were fastest on a 2-core CPU (benchmarks/feature_throughput.py).
    For folders of files use ``compute``, which streams them.
    Taught in 02_cnn_features, section "3. Which layer, which pooling?".
    """
    import torch
    from tqdm.auto import tqdm
    if len(images) == 0:
        raise KitError("no images to extract features from")
    if pool not in (None, "gap", "gmp", "gem"):
        raise KitError(f"pool must be None, 'gap', 'gmp' or 'gem', got {pool!r}")
    device = device or next(model.parameters()).device.type
    model = model.to(device, memory_format=torch.channels_last).eval()
    chunks = []
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(images), unit="img", disable=not show, leave=False) as bar:
        for start in range(0, len(images), batch_size):
            batch = [preprocess(_as_image(item)) for item in images[start:start + batch_size]]
            chunks.append(embed_batch(model, torch.stack(batch), pool))
            bar.update(len(batch))
    return np.concatenate(chunks)
