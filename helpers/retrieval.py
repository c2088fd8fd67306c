"""Cosine retrieval: the teaching function ``search``, the fast ``CosineIndex``, index files.

Taught in 04_cosine_retrieval.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from helpers import __version__
from helpers.env import KitError


def l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: array (n, d) -> float32 (n, d). A zero row is an error:
    cosine similarity is undefined for it.
    Taught in 04_cosine_retrieval, section "1. Cosine similarity"."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise KitError(f"expected a 2-D array (n_vectors, n_features), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any() or not np.isfinite(norms).all():
        bad = np.flatnonzero((norms[:, 0] == 0) | ~np.isfinite(norms[:, 0]))
        raise KitError(f"row {bad[0]} (and {len(bad) - 1} more) is a zero or non-finite vector: cosine "
                         f"similarity is undefined; drop it or describe that image differently")
    return X / norms


def _checked_queries(queries: np.ndarray, n_features: int, n_gallery: int, k: int):
    """Normalised queries (n_query, d) and k capped at the gallery size; bad input is explained."""
    Q = l2_normalise(np.atleast_2d(queries))
    if Q.shape[1] != n_features:
        raise KitError(f"queries have {Q.shape[1]} features but the gallery has {n_features}: "
                         f"were they made by the same feature extractor?")
    if int(k) != k or k < 1:
        raise KitError(f"k must be a positive whole number, got {k!r}")
    return Q, min(int(k), n_gallery)


def _top_k(sims: np.ndarray, k: int):
    """Best ``k`` columns of each row, sorted: (scores, indices), each (n_rows, k)."""
    import torch
    scores, idx = torch.topk(torch.from_numpy(sims), k, dim=1, largest=True, sorted=True)
    return scores.numpy(), idx.numpy()


def search(queries: np.ndarray, gallery: np.ndarray, k: int = 10):
    """Cosine top-k: (scores, indices), each (n_query, k), best first.

    ``queries`` (n_query, d), ``gallery`` (n_gallery, d). A ``k`` larger than the gallery
    returns the whole gallery.
    Taught in 04_cosine_retrieval, section "2. Top-k search, three ways".
    """
    G = l2_normalise(gallery)
    Q, k = _checked_queries(queries, G.shape[1], len(G), k)
    sims = Q @ G.T  # (n_query, n_gallery)
    return _top_k(sims, k)


class CosineIndex:
    """Exact cosine search over a fixed gallery, normalised once: ``CosineIndex().fit(X_gallery)``.

    ``search`` multiplies the queries with gallery blocks of ``block`` rows into one reused buffer
    and keeps each block's top k, then merges: the same results as ``search`` with a small,
    cache-friendly working set (about 0.8-0.9x faiss.IndexFlatIP here; benchmarks/search_vs_faiss.py).
    scikit-learn conventions: parameters under their own names, ``fit`` learns ``gallery_t_``.
    Taught in 04_cosine_retrieval, section "2. Top-k search, three ways".
    """

    def __init__(self, block: int = 4096, query_block: int = 1024):
        self.block, self.query_block = block, query_block

    def __repr__(self) -> str:
        return f"CosineIndex(block={self.block}, query_block={self.query_block})"

    def fit(self, X_gallery: np.ndarray) -> "CosineIndex":
        """Normalise and store the gallery (n_gallery, d), transposed to (d, n_gallery): each block is then
        a plain slice for the matrix product."""
        import torch
        self.gallery_t_ = torch.from_numpy(np.ascontiguousarray(l2_normalise(X_gallery).T))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "gallery_t_"):
            raise KitError("call fit(X_gallery) before search()")

    def __len__(self) -> int:
        self._check_fitted()
        return self.gallery_t_.shape[1]

    def search(self, queries: np.ndarray, k: int = 10):
        """(scores, indices), each (n_query, k), best first; same results as ``search``."""
        import torch
        self._check_fitted()
        Q, k = _checked_queries(queries, self.gallery_t_.shape[0], len(self), k)
        Q = torch.from_numpy(Q)
        buf = torch.empty(min(len(Q), self.query_block), min(self.block, len(self)))
        scores, indices = [], []
        for qs in range(0, len(Q), self.query_block):
            Qb = Q[qs:qs + self.query_block]
            block_scores, block_indices = [], []
            for gs in range(0, len(self), self.block):
                Gb = self.gallery_t_[:, gs:gs + self.block]           # (d, n_block)
                sims = buf[:len(Qb), :Gb.shape[1]]
                torch.mm(Qb, Gb, out=sims)                           # (n_query_block, n_block)
                s, i = torch.topk(sims, min(k, Gb.shape[1]), dim=1)
                block_scores.append(s)
                block_indices.append(i + gs)
            s, j = torch.topk(torch.cat(block_scores, 1), k, dim=1)  # merge the blocks' winners
            scores.append(s.numpy())
            indices.append(torch.gather(torch.cat(block_indices, 1), 1, j).numpy())
        return np.concatenate(scores), np.concatenate(indices)


def save_index(path: Path | str, features: np.ndarray, paths, spec: dict) -> Path:
    """Write an index file (.npz, no pickles): features (n, d), image paths, and the extractor's spec
    (``helpers.extractors``), so that a search with other features is refused.
    Plumbing: not taught in a notebook."""
    path = Path(path)
    if path.suffix != ".npz":
        raise KitError(f"index files end in .npz, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=np.asarray(features, np.float32), paths=np.array([str(p) for p in paths], dtype=str),
             feature_name=np.array(spec["name"]), spec=np.array(json.dumps(spec, sort_keys=True)),
             kit_version=np.array(__version__))
    return path


def load_index(path: Path | str, spec: dict | None = None) -> dict:
    """Read an index file safely (``allow_pickle=False``): a dict with features, paths, feature_name and
    spec. If ``spec`` is given, an index made by another extractor (or another version of it: other
    weights, preprocessing or pooling) is refused with a clear error.
    Plumbing: not taught in a notebook."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            index = {key: z[key] for key in z.files}
    except FileNotFoundError:
        raise KitError(f"index file not found: {path} (make one with: python -m helpers index FOLDER "
                       f"--features NAME --out {path.name})") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise KitError(f"{path} is not a valid index file ({err})") from None
    missing = {"features", "paths", "feature_name", "kit_version"} - set(index)
    if missing:
        raise KitError(f"{path} is not an index made by this kit (missing {', '.join(sorted(missing))})")
    index = {k: (v.item() if v.ndim == 0 else v) for k, v in index.items()}
    if "spec" not in index:
        raise KitError(f"{path} was made by an older version of the kit (no extractor spec): rebuild it with "
                       f"python -m helpers index FOLDER --features {index['feature_name']} --out {path.name}")
    index["spec"] = json.loads(index["spec"])
    if spec is not None:
        check_index_spec(index, spec, path)
    return index


def check_index_spec(index: dict, spec: dict, path: Path | str = "the index") -> None:
    """Refuse an index (from ``load_index``) made by another extractor, or another version of it.

    Plumbing: not taught in a notebook.
    """
    if index["spec"] == spec:
        return
    if index["feature_name"] != spec["name"]:
        raise KitError(f"{path} was made with features {index['feature_name']!r}, not {spec['name']!r}: "
                       f"search it with --features {index['feature_name']} or rebuild it")
    changed = sorted(key for key in spec if index["spec"].get(key) != spec[key])
    raise KitError(f"{path} was made by another version of {spec['name']!r} (changed: {', '.join(changed)}): "
                   f"rebuild it with python -m helpers index FOLDER --features {spec['name']} --out {Path(path).name}")
