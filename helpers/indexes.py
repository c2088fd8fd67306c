"""Large indexes on disk with FAISS: any ``index_factory`` string (``Flat``, ``IVF1024,PQ32``, ``HNSW32``...).

An index is two files: ``NAME.faiss`` (written by ``faiss.write_index``) and ``NAME.faiss.json`` beside it
(the image paths in index order, the extractor's spec, the factory string), so a search describes the query
with the same extractor and refuses an index made by another. Vectors are L2-normalised and compared by inner
product, i.e. cosine similarity, as everywhere in the kit. Notebook 05 teaches what the factory strings mean.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from helpers import __version__
from helpers.env import KitError

TRAIN_SAMPLE = 100_000   # vectors a trainable index (IVF, PQ) is trained on, drawn at random from the folder
CHUNK = 65_536           # vectors added per call, so FAISS encodes one chunk at a time


def sidecar(path: Path | str) -> Path:
    """The JSON file beside an index: ``NAME.faiss`` -> ``NAME.faiss.json``.

    Plumbing: not taught in a notebook.
    """
    path = Path(path)
    return path.with_name(path.name + ".json")


def build_faiss_index(X, factory: str = "Flat", seed: int = 0):
    """A FAISS index of vectors for cosine search, trained (IVF cells, PQ codebooks) on up to ``TRAIN_SAMPLE`` of
    them, filled ``CHUNK`` rows at a time.

    ``X``: an array (n, d), trained on rows drawn at random; or an iterable of arrays (n_i, d) that arrive in
    random order (``index`` streams a shuffled folder), trained on the first ``TRAIN_SAMPLE`` rows, then every
    chunk added as it comes, so memory does not grow with the folder.
    Plumbing: not taught in a notebook.
    """
    from helpers.retrieval import l2_normalise
    if isinstance(X, np.ndarray):
        X = l2_normalise(X)
        rng = np.random.default_rng(seed)
        sample = X if len(X) <= TRAIN_SAMPLE else X[np.sort(rng.choice(len(X), TRAIN_SAMPLE, replace=False))]
        index = _trained(sample, factory)
        for start in range(0, len(X), CHUNK):
            index.add(X[start:start + CHUNK])
        return index
    index, buffer = None, []
    for chunk in X:
        chunk = l2_normalise(chunk)
        if index is not None:
            index.add(chunk)
            continue
        buffer.append(chunk)
        if sum(len(b) for b in buffer) >= TRAIN_SAMPLE:
            index, buffer = _trained_and_filled(np.concatenate(buffer), factory), []
    if index is None:
        if not buffer:
            raise KitError("no vectors to index")
        index = _trained_and_filled(np.concatenate(buffer), factory)
    return index


def _trained(sample: np.ndarray, factory: str):
    import faiss
    try:
        index = faiss.index_factory(sample.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    except (RuntimeError, TypeError) as err:
        raise KitError(f"FAISS does not understand the index {factory!r} ({_first_line(err)}); try Flat, "
                       f"IVF256,Flat, IVF1024,PQ32 or HNSW32") from None
    if not index.is_trained:
        try:
            index.train(sample)
        except RuntimeError as err:
            n = len(sample)
            raise KitError(f"cannot train {factory!r} on {n} vectors ({_first_line(err)}): use fewer "
                           f"IVF cells (about n / 40, e.g. IVF{max(1, n // 40)},Flat) or --index Flat") from None
    return index


def _trained_and_filled(first: np.ndarray, factory: str):
    index = _trained(first, factory)
    for start in range(0, len(first), CHUNK):
        index.add(first[start:start + CHUNK])
    return index


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if "Error" in line or "should" in line or "could not" in line.lower()]
    return (useful or lines or [type(err).__name__])[-1][:160]


def save_faiss_index(path: Path | str, X, paths, spec: dict, factory: str = "Flat") -> Path:
    """Build (``build_faiss_index``: an array or a stream of chunks) and write ``path`` (.faiss) with its JSON
    sidecar; returns ``path``.

    Plumbing: not taught in a notebook.
    """
    import faiss
    path = Path(path)
    if path.suffix != ".faiss":
        raise KitError(f"FAISS index files end in .faiss, got {path.name}")
    index = build_faiss_index(X, factory)       # a stream of chunks fills ``paths`` as it is consumed
    if len(paths) != index.ntotal:
        raise KitError(f"{index.ntotal} vectors but {len(paths)} paths")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    faiss.write_index(index, str(tmp))
    meta = {"kit_version": __version__, "feature_name": spec["name"], "spec": spec, "factory": factory,
            "metric": "inner product of L2-normalised vectors (cosine)", "dim": int(index.d),
            "paths": [str(p) for p in paths]}
    tmp_meta = sidecar(tmp)
    tmp_meta.write_text(json.dumps(meta, sort_keys=True) + "\n")
    os.replace(tmp, path)                 # the index first, then the sidecar that vouches for it
    os.replace(tmp_meta, sidecar(path))
    return path


def load_faiss_index(path: Path | str) -> tuple:
    """(FAISS index, sidecar dict) of a file written by ``save_faiss_index``; clear errors otherwise.

    Plumbing: not taught in a notebook.
    """
    import faiss
    path = Path(path)
    if not path.is_file():
        raise KitError(f"index file not found: {path} (make one with: python -m helpers index FOLDER "
                       f"--features NAME --out {path.name})")
    try:
        meta = json.loads(sidecar(path).read_text())
        meta["paths"], meta["spec"], meta["feature_name"]
    except FileNotFoundError:
        raise KitError(f"{sidecar(path)} is missing: it holds the image paths and the extractor of {path.name}; "
                       f"keep the two files together or rebuild the index") from None
    except (ValueError, KeyError, TypeError):
        raise KitError(f"{sidecar(path)} is not the JSON file this kit writes beside an index: rebuild the index") from None
    try:
        index = faiss.read_index(str(path))
    except RuntimeError:
        raise KitError(f"{path} is not a FAISS index file (truncated or another format): rebuild it") from None
    if index.ntotal != len(meta["paths"]):
        raise KitError(f"{path} holds {index.ntotal} vectors but its sidecar lists {len(meta['paths'])} images: "
                       f"the two files come from different builds; rebuild the index")
    return index, meta


def search_faiss(index, queries: np.ndarray, k: int = 10, nprobe: int | None = None):
    """Cosine top-k in a FAISS index: (scores, indices), each (n_query, min(k, ntotal)), best first.

    ``nprobe``: cells an IVF index visits (more: slower, closer to exact); refused for other indexes.
    Plumbing: not taught in a notebook.
    """
    import faiss
    from helpers.retrieval import l2_normalise
    if nprobe is not None:
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError:
            raise KitError("--nprobe applies to IVF indexes only (this one has no inverted lists)") from None
        if not 1 <= nprobe <= ivf.nlist:
            raise KitError(f"nprobe must be between 1 and the number of cells ({ivf.nlist}), got {nprobe}")
        ivf.nprobe = int(nprobe)
    Q = l2_normalise(queries)
    if Q.shape[1] != index.d:
        raise KitError(f"queries have {Q.shape[1]} dimensions, the index {index.d}")
    scores, indices = index.search(Q, min(int(k), index.ntotal))
    return scores, indices
