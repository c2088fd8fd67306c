"""Features for files, streamed: read, decode and preprocess batch by batch (in loader worker processes for
large folders), then cache the result keyed by the extractor's spec and the files' contents.

``compute(name, paths)`` works for every name of ``helpers.extractors.REGISTRY``; memory does not grow with
the folder.
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


def _stack(batch):
    """Collate in the worker: (positions read, their images stacked or None, (position, reason) of the unreadable).
    One array per batch crosses to the main process instead of one per image."""
    import torch
    good = [(i, x) for i, x, _ in batch if x is not None]
    stacked = (np.stack if isinstance(good[0][1], np.ndarray) else torch.stack)([x for _, x in good]) if good else None
    return [i for i, _ in good], stacked, [(i, reason) for i, x, reason in batch if x is None]


def loader_settings(n_images: int, device: str) -> tuple[int, int]:
    """(batch size, worker processes): workers decode while the network runs, for folders worth it.

    Plumbing: not taught in a notebook.
    """
    # On a GPU: many decoding workers, and batches as large as keeps every worker busy (at least 4 batches each).
    # Measured on an H100, 16 cores (benchmarks/device_parity.py): 8,000 small PNGs at 224 px, batch 64 x 14 workers
    # 3,481 images/s, 16 x 14 1,828; 300 JPEGs of 4000 x 3000, 16 x 14 54 images/s, 64 x 14 32 (5 batches for 14
    # workers). On a CPU, batches of 8 (benchmarks/feature_throughput.py).
    cores = os.cpu_count() or 1
    workers = max(1, min(14, cores - 2)) if device == "cuda" else min(2, cores)
    batch_size = min(64, max(16, n_images // (4 * workers))) if device == "cuda" else 8
    return batch_size, (workers if n_images >= 4 * batch_size and workers > 1 else 0)


def compute(name: str, paths, progress: bool | None = None, data_dir: Path | str | None = None):
    """Features ``name`` (a ``helpers.extractors`` name) for image files, streamed, skipping unreadable ones.

    Returns (X, kept, skipped): features (n_kept, d), kept paths, and (path, reason) pairs.
    Plumbing: not taught in a notebook.
    """
    chunks, kept, skipped = [], [], []
    for X, k, s in stream(name, paths, progress, data_dir):
        if X is not None:
            chunks.append(X)
        kept += k
        skipped += s
    return np.concatenate(chunks), kept, skipped


def stream(name: str, paths, progress: bool | None = None, data_dir: Path | str | None = None):
    """Like ``compute``, one batch at a time: yields (X or None, kept, skipped) per batch, so memory stays flat however
    many files there are (indexes that do not need every vector at once consume it). Raises at the end if no
    file could be read.
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
    device = pick_device()
    batch_size, workers = loader_settings(len(paths), device)
    loader = torch.utils.data.DataLoader(_Files(paths, preprocess, extractor.input_size), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_stack, pin_memory=device == "cuda")
    if device == "cuda":
        torch.backends.cudnn.benchmark = True   # fixed input size: let cuDNN pick its fastest kernels (1.0-1.4x)
    n_kept, first_skipped = 0, None
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(paths), unit="img", disable=not show, leave=False) as bar:
        for good, stacked, bad in loader:
            skipped = [(paths[i], reason) for i, reason in bad]
            first_skipped = first_skipped or (skipped[0] if skipped else None)
            bar.update(len(good) + len(bad))
            if good:
                n_kept += len(good)
                yield (np.asarray(stacked if embed is None else embed(stacked), dtype=np.float32),
                       [paths[i] for i in good], skipped)
            elif skipped:
                yield None, [], skipped
    if not n_kept:
        first, reason = first_skipped
        raise KitError(f"none of the {len(paths)} files could be read as an image ({first}: {reason})")


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
    Used in 04_cosine_retrieval, section "Setup"."""
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
