"""Image descriptors: colour histograms and CNN features, streamed from files in batches, cached.

``colour_hist`` is taught in 01_colour_histograms; CNN extraction and pooling in 02_cnn_features.
``compute(name, paths)`` works for every name of ``helpers.extractors.REGISTRY``: images are read,
decoded and preprocessed batch by batch (in worker processes for large folders), so memory does not
grow with the folder.
"""
from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from helpers.env import KitError, data_dir as data_dir_of
from helpers.images import ImageLoadError, load_rgb

CACHE_FORMAT = 3   # bump when the cache file layout changes: old files are then misses


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


class _Files:
    """A map-style dataset over image files: item i -> (i, preprocessed image or None, reason)."""

    def __init__(self, paths, preprocess, reduce_to):
        self.paths, self.preprocess, self.reduce_to = paths, preprocess, reduce_to

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:
            return i, self.preprocess(load_rgb(self.paths[i], reduce_to=self.reduce_to)), ""
        except ImageLoadError as err:
            return i, None, str(err).split(": ", 1)[-1]


def _as_list(batch):
    return batch


def loader_settings(n_images: int, device: str) -> tuple[int, int]:
    """(batch size, worker processes): workers decode while the network runs, for folders worth it.

    Plumbing: not taught in a notebook.
    """
    batch_size = 64 if device == "cuda" else 8
    workers = min(8, os.cpu_count() or 1) if device == "cuda" else min(2, (os.cpu_count() or 1))
    return batch_size, (workers if n_images >= 4 * batch_size and workers > 1 else 0)


def compute(name: str, paths, progress: bool | None = None, data_dir: Path | str | None = None):
    """Features ``name`` (a ``helpers.extractors`` name) for image files, streamed, skipping unreadable ones.

    Returns (X, kept, skipped): features (n_kept, d), kept paths, and (path, reason) pairs.
    Plumbing: not taught in a notebook.
    """
    import torch
    from tqdm.auto import tqdm
    from helpers.env import pick_device
    from helpers.extractors import get
    extractor = get(name)
    paths = [Path(p) for p in paths]
    if not paths:
        raise KitError("no image files given")
    preprocess, embed = extractor.load(data_dir)
    batch_size, workers = loader_settings(len(paths), pick_device())
    loader = torch.utils.data.DataLoader(_Files(paths, preprocess, extractor.input_size), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_as_list,
                                         pin_memory=pick_device() == "cuda")
    chunks, kept, skipped = [], [], []
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(paths), unit="img", disable=not show, leave=False) as bar:
        for batch in loader:
            good = [(i, x) for i, x, _ in batch if x is not None]
            skipped += [(paths[i], reason) for i, x, reason in batch if x is None]
            if good:
                stacked = (np.stack if isinstance(good[0][1], np.ndarray) else torch.stack)([x for _, x in good])
                chunks.append(np.asarray(stacked if embed is None else embed(stacked), dtype=np.float32))
                kept += [paths[i] for i, _ in good]
            bar.update(len(batch))
    if not kept:
        first, reason = skipped[0]
        raise KitError(f"none of the {len(paths)} files could be read as an image ({first}: {reason})")
    return np.concatenate(chunks), kept, skipped


def cache_path(name: str, paths, data_dir: Path | str | None = None) -> Path:
    """Where ``compute_cached`` keeps features: keyed by the extractor's spec, the cache format and the
    files' names and bytes, so a changed extractor, model, format or image is never served stale.
    Plumbing: not taught in a notebook."""
    import hashlib
    from helpers.extractors import get, spec_key
    from helpers.store import fingerprint
    key = hashlib.sha256(json.dumps([spec_key(get(name).spec(data_dir)), CACHE_FORMAT,
                                     fingerprint(paths)]).encode()).hexdigest()[:20]
    return data_dir_of(data_dir) / "cache" / f"{name}-{key}.npz"


def compute_cached(name: str, paths, progress: bool | None = None, data_dir: Path | str | None = None):
    """``compute`` with a cache in ``data/cache/`` (see ``cache_path``). A cache file that cannot be read
    (truncated, corrupt, old layout) is a miss and is rebuilt. Returns (X, kept, skipped) like ``compute``.
    Used in 03_autoencoders, section "5. The limit: reconstruction is not meaning"."""
    paths = [Path(p) for p in paths]
    cache = cache_path(name, paths, data_dir)
    try:  # kept/skipped are stored as positions in ``paths``, however the caller spells them
        with np.load(cache, allow_pickle=False) as z:
            kept = [paths[i] for i in z["kept_idx"]]
            skipped = [(paths[i], str(r)) for i, r in zip(z["skipped_idx"], z["skipped_reasons"])]
            X = z["features"]
        if len(X) == len(kept):
            return X, kept, skipped
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        pass   # missing or unreadable: compute again
    X, kept, skipped = compute(name, paths, progress, data_dir)
    position = {p: i for i, p in enumerate(paths)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npz")   # written whole, then renamed: never half a cache
    np.savez(tmp, features=X, kept_idx=np.array([position[p] for p in kept], dtype=np.int64),
             skipped_idx=np.array([position[p] for p, _ in skipped], dtype=np.int64),
             skipped_reasons=np.array([r for _, r in skipped], dtype=str))
    os.replace(tmp, cache)
    return X, kept, skipped
