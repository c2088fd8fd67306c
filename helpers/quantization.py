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
    Taught in 05_quantisation, section "2. Scalar quantisation: fewer bits per number".
    """
    X = np.asarray(X, np.float32)
    low, high = X.min(0), X.max(0)
    step = np.maximum(high - low, 1e-12) / 256
    codes = np.clip((X - low) / step, 0, 255).astype(np.uint8)
    return codes, low, step


def dequantize_int8(codes: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Back from uint8 codes (n, d) to float32 (n, d): the centre of each code's interval.

    Taught in 05_quantisation, section "2. Scalar quantisation: fewer bits per number".
    """
    return (low + (codes.astype(np.float32) + 0.5) * step).astype(np.float32)


def squared_distances(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """||x - c||^2 for every pair: (n, d), (k, d) -> (n, k), via ||x||^2 - 2 x.c + ||c||^2.

    Taught in 05_quantisation, section "3. k-means vector quantisation: one codeword per vector".
    """
    return np.maximum((X * X).sum(1)[:, None] - 2 * X @ C.T + (C * C).sum(1)[None, :], 0)


def nearest(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Index of the nearest row of C for each row of X: (n, d), (k, d) -> (n,).
    ||x||^2 is the same for every c, so only ||c||^2 - 2 x.c is compared.
    Taught in 05_quantisation, section "3. k-means vector quantisation: one codeword per vector"."""
    scores = X @ (-2 * C).T                                                  # (n, k), one temporary array
    scores += (C * C).sum(1)
    return scores.argmin(1)


def kmeans(X: np.ndarray, n_clusters: int, n_iter: int = 25, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means from random data points; returns the codebook (n_clusters, d).

    An empty cluster is re-seeded on a random point, so every codeword stays in use.
    Taught in 05_quantisation, section "3. k-means vector quantisation: one codeword per vector".
    """
    X = np.ascontiguousarray(X, np.float32)
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
    2**n_bits codewords (1 <= n_bits <= 8), store one code per part. Search is exact on the codes with
    asymmetric distances (query uncompressed, database compressed) through lookup tables.

    scikit-learn conventions: parameters under their own names; what ``fit`` learns ends in ``_``
    (``codebooks_`` (n_subvectors, 2**n_bits, d / n_subvectors)); what ``add`` stores is ``codes_``
    (n_database, n_subvectors) uint8.
    Taught in 05_quantisation, section "4. Product quantisation, by hand".
    """

    def __init__(self, n_subvectors: int, n_bits: int = 8, seed: int = 0, n_iter: int = 25,
                 max_train: int = 65536):
        if not 1 <= int(n_bits) <= 8 or int(n_bits) != n_bits:
            raise KitError(f"n_bits must be a whole number from 1 to 8 (codes are stored in one byte), got {n_bits}")
        if int(n_subvectors) != n_subvectors or n_subvectors < 1:
            raise KitError(f"n_subvectors must be a positive whole number, got {n_subvectors!r}")
        self.n_subvectors, self.n_bits, self.seed, self.n_iter, self.max_train = \
            int(n_subvectors), int(n_bits), seed, n_iter, max_train

    def __repr__(self) -> str:
        return (f"ProductQuantizer(n_subvectors={self.n_subvectors}, n_bits={self.n_bits}, seed={self.seed}, "
                f"n_iter={self.n_iter}, max_train={self.max_train})")

    def _check_fitted(self, what: str = "codebooks_") -> None:
        if not hasattr(self, what):
            raise KitError("call fit() first" if what == "codebooks_" else "add() database vectors before search()")

    def _split(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if X.ndim != 2 or X.shape[1] % self.n_subvectors:
            raise KitError(f"vectors of shape {X.shape} cannot be split into {self.n_subvectors} equal sub-vectors: "
                           f"choose n_subvectors dividing the dimension")
        return X.reshape(len(X), self.n_subvectors, -1)                      # (n, M, d/M)

    def fit(self, X: np.ndarray) -> "ProductQuantizer":
        """Learn one codebook of 2**n_bits codewords per sub-space (on at most ``max_train`` vectors)."""
        parts = self._split(X)
        if len(parts) > self.max_train:
            parts = parts[np.random.default_rng(self.seed).choice(len(parts), self.max_train, replace=False)]
        self.codebooks_ = np.stack([kmeans(parts[:, m], 2 ** self.n_bits, self.n_iter, self.seed + m)
                                    for m in range(self.n_subvectors)])
        return self

    def encode(self, X: np.ndarray) -> np.ndarray:
        """uint8 codes (n, n_subvectors): the nearest codeword of each sub-vector."""
        self._check_fitted()
        parts = self._split(X)
        return np.stack([nearest(parts[:, m], self.codebooks_[m]) for m in range(self.n_subvectors)],
                        axis=1).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate vectors (n, d) from codes (n, n_subvectors)."""
        self._check_fitted()
        return np.concatenate([self.codebooks_[m][codes[:, m]] for m in range(self.n_subvectors)], axis=1)

    def add(self, X: np.ndarray) -> "ProductQuantizer":
        """Encode and store database vectors."""
        codes = self.encode(X)
        self.codes_ = np.concatenate([self.codes_, codes]) if hasattr(self, "codes_") else codes
        return self

    def lookup_tables(self, Q: np.ndarray) -> np.ndarray:
        """Squared distances from each query sub-vector to every codeword: (n_query, n_subvectors, 2**n_bits)."""
        self._check_fitted()
        parts = self._split(Q)
        return np.stack([squared_distances(parts[:, m], self.codebooks_[m]) for m in range(self.n_subvectors)],
                        axis=1)

    def search(self, Q: np.ndarray, k: int = 10, block: int = 256):
        """(distances, indices), each (n_query, k): approximate squared L2, nearest first.

        ADC: the distance to a database vector is the sum of n_subvectors table entries picked by its codes,
        done for a block of queries at once as an ``embedding_bag`` sum over table rows.
        """
        import torch
        self._check_fitted("codes_")
        k = min(int(k), len(self.codes_))
        n_codes = 2 ** self.n_bits
        offsets = torch.from_numpy(self.codes_.astype(np.int64) + n_codes * np.arange(self.n_subvectors))  # (n, M)
        dists, idx = [], []
        for start in range(0, len(Q), block):
            tables = torch.from_numpy(self.lookup_tables(Q[start:start + block]).astype(np.float32))
            weight = tables.reshape(len(tables), -1).T.contiguous()                         # (M * n_codes, B)
            d = torch.nn.functional.embedding_bag(offsets, weight, mode="sum")             # (n, B)
            top = torch.topk(d.T, k, dim=1, largest=False)
            dists.append(top.values.numpy())
            idx.append(top.indices.numpy())
        return np.concatenate(dists), np.concatenate(idx)

    @property
    def bytes_per_vector(self) -> int:
        """Bytes per database vector with codes packed bit by bit, as FAISS stores them."""
        return -(-self.n_subvectors * self.n_bits // 8)
