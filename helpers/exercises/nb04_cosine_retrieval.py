"""Exercise checks of 04_cosine_retrieval."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call


def check_top_k(func) -> None:
    """Exercise of 04_cosine_retrieval: vectorised top-k of a similarity matrix, best first."""
    rng = np.random.default_rng(5)
    sims = rng.random((6, 50))
    out = _call(func, sims.copy(), 7)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ExerciseError("return a pair (scores, indices)")
    scores, idx = (np.asarray(a) for a in out)
    if idx.shape != (6, 7) or scores.shape != (6, 7):
        raise ExerciseError(f"expected two arrays of shape (n_query, k) = (6, 7), got {scores.shape} and {idx.shape}")
    if not np.allclose(np.take_along_axis(sims, idx.astype(int), 1), scores):
        raise ExerciseError("scores[i, j] must be sims[i, indices[i, j]]")
    if (np.diff(scores, axis=1) > 0).any():
        raise ExerciseError("scores are not sorted: best (largest) first in every row")
    if not np.allclose(scores, -np.sort(-sims, axis=1)[:, :7]):
        raise ExerciseError("these are not the k largest similarities of each row (argpartition on -sims, then sort)")
    print("Correct: vectorised top-k.")


def check_alpha_qe(func) -> None:
    """Exercise of 04_cosine_retrieval: alpha-weighted query expansion (alpha-QE).

    q' = normalise(q + sum_j sim_j**alpha * g_j) over the top-n gallery neighbours g_j of q.
    """
    rng = np.random.default_rng(13)
    Q = rng.standard_normal((4, 6))
    G = rng.standard_normal((25, 6))
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    out = np.asarray(_call(func, Q.copy(), G.copy(), 3, 3.0), dtype=float)
    if out.shape != Q.shape:
        raise ExerciseError(f"expected one new query per query, shape {Q.shape}; got {out.shape}")
    if not np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5):
        raise ExerciseError("the new queries are not L2-normalised")
    sims = Q @ G.T
    top = np.argsort(-sims, axis=1)[:, :3]
    w = np.maximum(np.take_along_axis(sims, top, 1), 0) ** 3
    def norm(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    if np.allclose(out, norm(Q + G[top].sum(1)), atol=1e-5):
        raise ExerciseError("that is plain AQE: weight each neighbour by its similarity to the power alpha")
    if np.allclose(out, norm((w[:, :, None] * G[top]).sum(1)), atol=1e-5):
        raise ExerciseError("the query itself must stay in the sum (with weight 1)")
    if not np.allclose(out, norm(Q + (w[:, :, None] * G[top]).sum(1)), atol=1e-5):
        raise ExerciseError("wrong result: take each query's top-n neighbours by cosine, weight each by its "
                            "similarity (negatives count as 0) to the power alpha, add to the query, normalise")
    print("Correct: alpha-weighted query expansion.")


def check_recall_at_k(func) -> None:
    """Exercise of 04_cosine_retrieval: recall@k from a ranking and labels."""
    ranking = np.array([[3, 0, 4, 1, 2], [2, 1, 0, 4, 3]])
    y_gallery = np.array([0, 1, 0, 1, 0])
    y_query = np.array([0, 1])
    got = np.asarray(_call(func, ranking, y_query, y_gallery, 2), dtype=float)
    if got.shape != (2,):
        raise ExerciseError(f"return one recall per query, shape (n_query,) = (2,); got {got.shape}")
    if np.allclose(got, [0.5, 0.5]):
        raise ExerciseError("that looks like precision@k: divide by the number of relevant items, not by k")
    if np.allclose(got, [2 / 3, 1 / 2]):
        raise ExerciseError("k is off by one: the top k are ranking[:, :k]")
    if not np.allclose(got, [1 / 3, 1 / 2]):
        raise ExerciseError("wrong values: count relevant items in the first k columns of each row, divide by "
                            "the number of relevant items in the whole gallery")
    print("Correct: recall@k.")

