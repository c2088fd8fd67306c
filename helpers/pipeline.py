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


def _as_list(batch):
    return batch


def loader_settings(n_images: int, device: str) -> tuple[int, int]:
    """(batch size, worker processes): workers decode while the network runs, for folders worth it.

    Plumbing: not taught in a notebook.
    """
    # On a GPU the network waits for the decoders: many workers, small batches so every worker has one
    # (measured on an H100, 16 cores, 400 4000x3000 JPEGs: batch 64 x 8 workers 34 images/s, 16 x 8 82,
    # 16 x 14 105, 8 x 14 95; benchmarks/device_parity.py).
    cores = os.cpu_count() or 1
    batch_size = 16 if device == "cuda" else 8
    workers = max(1, min(14, cores - 2)) if device == "cuda" else min(2, cores)
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
                                         num_workers=workers, collate_fn=_as_list, pin_memory=device == "cuda")
    n_kept, first_skipped = 0, None
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(paths), unit="img", disable=not show, leave=False) as bar:
        for batch in loader:
            good = [(i, x) for i, x, _ in batch if x is not None]
            skipped = [(paths[i], reason) for i, x, reason in batch if x is None]
            first_skipped = first_skipped or (skipped[0] if skipped else None)
            bar.update(len(batch))
            if good:
                stacked = (np.stack if isinstance(good[0][1], np.ndarray) else torch.stack)([x for _, x in good])
                n_kept += len(good)
                yield (np.asarray(stacked if embed is None else embed(stacked), dtype=np.float32),
                       [paths[i] for i, _ in good], skipped)
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
