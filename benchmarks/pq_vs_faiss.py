"""ProductQuantizer against faiss.IndexPQ: same data, same M and bits, same run.

50k x 128 clustered float32 database, 1000 queries, M = 16, 8 bits. recall@10 is the share of
the exact 10 nearest neighbours (squared L2) found in the top 10. Targets: our recall within
0.02 of FAISS's, our search time at most 3x FAISS's.
"""
import time

import faiss
import numpy as np

from helpers.quantization import ProductQuantizer


def clustered(n, d, n_centres, rng, intrinsic=16):
    """Clusters whose spread lies mostly in a 16-d subspace, like real image features."""
    centres = rng.standard_normal((n_centres, d)) * 4
    spread = rng.standard_normal((intrinsic, d))
    X = centres[rng.integers(n_centres, size=n)] + rng.standard_normal((n, intrinsic)) @ spread \
        + 0.3 * rng.standard_normal((n, d))
    return X.astype(np.float32)


def recall_at_10(found, truth):
    return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    data = clustered(51_000, 128, 100, rng)
    database, queries = data[:50_000], data[50_000:]
    exact = faiss.IndexFlatL2(128)
    exact.add(database)
    _, truth = exact.search(queries, 10)

    start = time.perf_counter()
    theirs = faiss.IndexPQ(128, 16, 8)
    theirs.train(database)
    theirs.add(database)
    t_build_faiss = time.perf_counter() - start
    start = time.perf_counter()
    ours = ProductQuantizer(16, 8, seed=0).fit(database).add(database)
    t_build_ours = time.perf_counter() - start

    t_faiss, t_ours = float("inf"), float("inf")
    for _ in range(3):  # interleaved, best of three
        start = time.perf_counter()
        _, found_faiss = theirs.search(queries, 10)
        t_faiss = min(t_faiss, time.perf_counter() - start)
        start = time.perf_counter()
        _, found_ours = ours.search(queries, 10)
        t_ours = min(t_ours, time.perf_counter() - start)
    r_faiss, r_ours = recall_at_10(found_faiss, truth), recall_at_10(found_ours, truth)
    print(f"database {database.shape}, {len(queries)} queries, M=16, 8 bits, faiss threads {faiss.omp_get_max_threads()}")
    print(f"build (train + add)   faiss {t_build_faiss:6.2f} s   ours {t_build_ours:6.2f} s")
    print(f"recall@10             faiss {r_faiss:6.3f}     ours {r_ours:6.3f}     difference {r_ours - r_faiss:+.3f} (target within 0.02)")
    print(f"search 1000 queries   faiss {t_faiss:6.3f} s   ours {t_ours:6.3f} s   ratio {t_ours / t_faiss:.2f} (target <= 3)")
