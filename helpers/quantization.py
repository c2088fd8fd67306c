"""Vector quantisation: scalar (int8), k-means, product quantisation, inverted file, binary codes.

Taught in 05_quantisation, where each method is first written out by hand; these are the
reusable versions, checked against FAISS in tests/test_quantization.py and benchmarks/.
"""
from __future__ import annotations

import numpy as np

from helpers.env import KitError


def quantize_int8(X: np.ndarray):
    """Per-dimension scalar quantisation to 256 levels.

    Returns (codes, low, step): uint8 codes (n, d) and the float32 arrays (d,) to decode with
    ``low + (codes + 0.5) * step``.
    """
    X = np.asarray(X, np.float32)
    low, high = X.min(0), X.max(0)
    step = np.maximum(high - low, 1e-12) / 256
    codes = np.clip((X - low) / step, 0, 255).astype(np.uint8)
    return codes, low, step


def dequantize_int8(codes: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Back from uint8 codes (n, d) to float32 (n, d): the centre of each code's interval."""
    return (low + (codes.astype(np.float32) + 0.5) * step).astype(np.float32)


def squared_distances(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """||x - c||^2 for every pair: (n, d), (k, d) -> (n, k), via ||x||^2 - 2 x.c + ||c||^2."""
    return np.maximum((X * X).sum(1)[:, None] - 2 * X @ C.T + (C * C).sum(1)[None, :], 0)


def nearest(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Index of the nearest row of C for each row of X: (n, d), (k, d) -> (n,).
    ||x||^2 is the same for every c, so only ||c||^2 - 2 x.c is compared."""
    return ((C * C).sum(1)[None, :] - 2 * X @ C.T).argmin(1)


def kmeans(X: np.ndarray, n_clusters: int, n_iter: int = 25, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means from random data points; returns the codebook (n_clusters, d).

    An empty cluster is re-seeded on a random point, so every codeword stays in use.
    """
    X = np.asarray(X, np.float32)
    if len(X) < n_clusters:
        raise KitError(f"k-means needs at least n_clusters={n_clusters} training vectors, got {len(X)}")
    rng = np.random.default_rng(seed)
    codebook = X[rng.choice(len(X), n_clusters, replace=False)].copy()
    for _ in range(n_iter):
        assign = nearest(X, codebook)                                        # (n,)
        counts = np.bincount(assign, minlength=n_clusters)
        sums = np.stack([np.bincount(assign, weights=X[:, j], minlength=n_clusters)
                         for j in range(X.shape[1])], axis=1)                # (n_clusters, d)
        empty = counts == 0
        codebook[~empty] = sums[~empty] / counts[~empty, None]
        codebook[empty] = X[rng.choice(len(X), int(empty.sum()), replace=False)]
    return codebook


class ProductQuantizer:
    """Product quantisation: split vectors into ``n_subvectors`` parts, k-means each part into
    2**n_bits codewords, store one byte per part. Search is exact on the codes with asymmetric
    distances (query uncompressed, database compressed) through lookup tables.
    """

    def __init__(self, n_subvectors: int, n_bits: int = 8, seed: int = 0, n_iter: int = 25,
                 max_train: int = 65536):
        if n_bits != 8:
            raise KitError("this ProductQuantizer stores one byte per sub-vector: n_bits must be 8")
        self.M, self.n_bits, self.seed, self.n_iter, self.max_train = n_subvectors, n_bits, seed, n_iter, max_train
        self.codebooks = None   # (M, 256, d / M)
        self.codes = None       # (n_database, M) uint8, after add()

    def _split(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if X.ndim != 2 or X.shape[1] % self.M:
            raise KitError(f"vectors of shape {X.shape} cannot be split into {self.M} equal sub-vectors: "
                             f"choose n_subvectors dividing the dimension")
        return X.reshape(len(X), self.M, -1)                                 # (n, M, d/M)

    def fit(self, X: np.ndarray) -> "ProductQuantizer":
        """Learn one codebook of 256 codewords per sub-space (on at most ``max_train`` vectors)."""
        parts = self._split(X)
        if len(parts) > self.max_train:
            parts = parts[np.random.default_rng(self.seed).choice(len(parts), self.max_train, replace=False)]
        self.codebooks = np.stack([kmeans(parts[:, m], 2 ** self.n_bits, self.n_iter, self.seed + m)
                                   for m in range(self.M)])
        return self

    def encode(self, X: np.ndarray) -> np.ndarray:
        """uint8 codes (n, M): the nearest codeword of each sub-vector."""
        if self.codebooks is None:
            raise KitError("call fit() before encode()")
        parts = self._split(X)
        return np.stack([nearest(parts[:, m], self.codebooks[m]) for m in range(self.M)], axis=1).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate vectors (n, d) from codes (n, M)."""
        return np.concatenate([self.codebooks[m][codes[:, m]] for m in range(self.M)], axis=1)

    def add(self, X: np.ndarray) -> "ProductQuantizer":
        """Encode and store database vectors."""
        codes = self.encode(X)
        self.codes = codes if self.codes is None else np.concatenate([self.codes, codes])
        return self

    def lookup_tables(self, Q: np.ndarray) -> np.ndarray:
        """Squared distances from each query sub-vector to every codeword: (n_query, M, 256)."""
        parts = self._split(Q)
        return np.stack([squared_distances(parts[:, m], self.codebooks[m]) for m in range(self.M)], axis=1)

    def search(self, Q: np.ndarray, k: int = 10, block: int = 256):
        """(distances, indices), each (n_query, k): approximate squared L2, nearest first.

        ADC: the distance to a database vector is the sum of M table entries picked by its codes,
        done for a block of queries at once as an ``embedding_bag`` sum over table rows.
        """
        import torch
        if self.codes is None:
            raise KitError("add() database vectors before search()")
        k = min(int(k), len(self.codes))
        offsets = torch.from_numpy(self.codes.astype(np.int64) + 256 * np.arange(self.M))   # (n, M) rows of the table
        dists, idx = [], []
        for start in range(0, len(Q), block):
            tables = torch.from_numpy(self.lookup_tables(Q[start:start + block]).astype(np.float32))
            weight = tables.reshape(len(tables), -1).T.contiguous()                         # (M * 256, B)
            d = torch.nn.functional.embedding_bag(offsets, weight, mode="sum")             # (n, B)
            top = torch.topk(d.T, k, dim=1, largest=False)
            dists.append(top.values.numpy())
            idx.append(top.indices.numpy())
        return np.concatenate(dists), np.concatenate(idx)

    @property
    def bytes_per_vector(self) -> int:
        return self.M * self.n_bits // 8
