"""Exercise checks of 05_quantisation."""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from helpers.exercises import ExerciseError, _call, _has_loop, report_level


def check_adc_tables(func) -> None:
    """Exercise of 05_quantisation: tables[i, m, j] = ||q_i^(m) - codebooks[m, j]||^2."""
    rng = np.random.default_rng(21)
    Q, codebooks = rng.standard_normal((3, 8)), rng.standard_normal((4, 5, 2))
    out = np.asarray(_call(func, Q.copy(), codebooks.copy()), dtype=float)
    if out.shape != (3, 4, 5):
        raise ExerciseError(f"expected (n_query, M, n_codewords) = (3, 4, 5), got {out.shape}")
    ref = ((Q.reshape(3, 4, 1, 2) - codebooks[None]) ** 2).sum(-1)
    if np.allclose(out, np.sqrt(ref)):
        raise ExerciseError("ADC adds the tables' entries: store squared distances, not distances")
    if (out < -1e-9).any():
        raise ExerciseError("squared distances cannot be negative")
    if not np.allclose(out, ref, atol=1e-6):
        raise ExerciseError("wrong values: split each query into M sub-vectors of length d / M (reshape), then "
                            "compare sub-vector m with the codewords of codebook m only")
    Q2, codebooks2 = rng.standard_normal((5, 12)), rng.standard_normal((3, 7, 4))   # other shapes: nothing hard-coded
    out2 = np.asarray(_call(func, Q2, codebooks2), dtype=float)
    if out2.shape != (5, 3, 7) or not np.allclose(out2, ((Q2.reshape(5, 3, 1, 4) - codebooks2[None]) ** 2).sum(-1)):
        raise ExerciseError("right for one shape, wrong for another: read M, K and d / M from codebooks.shape")
    if _has_loop(func):
        raise ExerciseError("your adc_tables loops in Python: one broadcast over (n_query, M, K, d / M) does it all")
    print("Correct: ADC lookup tables.")


def _sdc_reference(codes_q, codes_db, codebooks):
    M = codebooks.shape[0]
    tables = ((codebooks[:, :, None, :] - codebooks[:, None, :, :]) ** 2).sum(-1)       # (M, K, K)
    return tables[np.arange(M), codes_q[:, None, :], codes_db[None, :, :]].sum(-1)     # (n_q, n_db)


def check_sdc_distances(func) -> None:
    """Exercise of 05_quantisation: symmetric distances between two sets of PQ codes through codeword tables."""
    rng = np.random.default_rng(23)
    codebooks = rng.standard_normal((4, 6, 3))                                           # (M, K, d / M)
    codes_q, codes_db = rng.integers(0, 6, (5, 4)).astype(np.uint8), rng.integers(0, 6, (9, 4)).astype(np.uint8)
    args = (codes_q.copy(), codes_db.copy(), codebooks.copy())
    out = np.asarray(_call(func, *args), dtype=float)
    if not (np.array_equal(args[0], codes_q) and np.array_equal(args[1], codes_db) and np.array_equal(args[2], codebooks)):
        raise ExerciseError("your function changed its inputs: work on copies")
    if out.shape != (5, 9):
        raise ExerciseError(f"expected one distance per (query, database) pair, shape (5, 9); got {out.shape}")
    ref = _sdc_reference(codes_q, codes_db, codebooks)
    diff = codes_q[:, None, :].astype(float) - codes_db[None, :, :]
    if np.allclose(out, (diff ** 2).sum(-1)) or np.allclose(out, np.abs(diff).sum(-1)) or np.allclose(out, (diff != 0).sum(-1)):
        raise ExerciseError("you compared the code numbers themselves: a code is an index, compare the codewords it points to")
    M = codebooks.shape[0]
    roots = np.sqrt(((codebooks[:, :, None, :] - codebooks[:, None, :, :]) ** 2).sum(-1))
    if np.allclose(out, roots[np.arange(M), codes_q[:, None, :], codes_db[None, :, :]].sum(-1)) or np.allclose(out, np.sqrt(ref)):
        raise ExerciseError("squared distances add up over the sub-spaces, distances do not: keep every term squared")
    first = ((codebooks[0][:, None, :] - codebooks[0][None, :, :]) ** 2).sum(-1)
    if np.allclose(out, first[codes_q[:, None, :], codes_db[None, :, :]].sum(-1)):
        raise ExerciseError("sub-space m has its own codebook: use codebooks[m] for the codes of sub-space m")
    if not np.allclose(out, ref, atol=1e-6):
        raise ExerciseError("wrong values: the distance between two coded vectors is the sum over m of the squared "
                            "distance between codeword codes_q[m] and codeword codes_db[m] of codebook m")
    c2 = rng.standard_normal((2, 256, 5))                                                 # 8-bit codes, another shape
    q2, g2 = rng.integers(0, 256, (3, 2)).astype(np.uint8), rng.integers(0, 256, (4, 2)).astype(np.uint8)
    if not np.allclose(np.asarray(_call(func, q2, g2, c2), dtype=float), _sdc_reference(q2, g2, c2), atol=1e-6):
        raise ExerciseError("right for one shape, wrong for another (uint8 codes up to 255?): read M and K from codebooks.shape "
                            "and turn the codes into integers before any arithmetic")
    print("Correct: symmetric distances between PQ codes.")


# ---- the open exercise: an index under a memory and a time budget -------------------------------------------------
HELD_BACK_SEED = 9005            # database and query vectors the notebook never draws
N_DB, N_QUERY, N_TRAIN = 50_000, 300, 10_000
N_SMALL = 2_000                  # the two builds that test determinism train on and hold this many vectors
BUDGET_BYTES = 32                # bytes per vector, everything counted (codes, ids, centroids, codebooks)
THRESHOLDS = {"pass": 0.30, "good": 0.40, "excellent": 0.50}   # recall@10 on the held-back vectors (measured)


def blend_vectors(n_db: int, n_query: int, seed: int, data_dir=None):
    """Database (n_db, 128) and queries (n_query, 128) made as in 05's section 1, with another random seed.

    PCA (128) fitted on the gallery images of shapes and catalogue; database vectors blend 4 gallery features,
    queries blend 4 query features, plus noise shaped like the data; all unit length, float32.
    Plumbing for the open exercise of 05: the notebook builds its own set with SEED.
    """
    from sklearn.decomposition import PCA
    from helpers.datasets import protocol
    from helpers.pipeline import compute_cached
    parts = {"gallery": [], "query": []}
    for name in ("shapes", "catalogue"):
        data = protocol(name, data_dir, seed=0)
        F, _, _ = compute_cached("efficientnet_lite0", data["paths"], progress=False, data_dir=data_dir)
        parts["gallery"].append(F[data["gallery_idx"]])
        parts["query"].append(F[data["query_idx"]])
    G_real, Q_real = np.vstack(parts["gallery"]), np.vstack(parts["query"])
    pca = PCA(n_components=128, random_state=0).fit(G_real)
    Z_gallery, Z_query = pca.transform(G_real).astype(np.float32), pca.transform(Q_real).astype(np.float32)
    spread = Z_gallery.std(0)
    rng = np.random.default_rng(seed)

    def blends(Z, n, n_mix=4, noise=0.2):
        sources = rng.integers(len(Z), size=(n, n_mix))
        weights = rng.dirichlet(np.ones(n_mix), size=n).astype(np.float32)
        X = np.einsum("nk,nkd->nd", weights, Z[sources]) + noise * spread * rng.standard_normal((n, Z.shape[1]))
        X = X.astype(np.float32)
        return X / np.linalg.norm(X, axis=1, keepdims=True)

    return blends(Z_gallery, n_db), blends(Z_query, n_query)


_HELD = {}


def _held_back(data_dir=None):
    if data_dir not in _HELD:
        import faiss
        X_db, X_q = blend_vectors(N_DB, N_QUERY, HELD_BACK_SEED, data_dir)
        _, truth = faiss.knn(X_q, X_db, 10)
        _HELD[data_dir] = (X_db, X_q, truth)
    return _HELD[data_dir]


def index_cost(index, n_vectors: int) -> float:
    """Bytes per vector of a FAISS index, everything it stores counted (its serialised size / n_vectors)."""
    import faiss
    return len(faiss.serialize_index(index)) / n_vectors


def _best_time(fn, repeats=3):
    import time
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def measure_index(index, X_db, X_q, truth, n_threads: int = 1) -> dict:
    """Recall@10, bytes per vector and time per query of ``index`` against exact search (IndexFlatL2) on X_db.

    Both searches run with ``n_threads`` FAISS threads, best of 3. Returns a dict with recall, bytes,
    ms_per_query, exact_ms_per_query and the per-query recalls (n_query,).
    """
    import faiss
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads)
    try:
        flat = faiss.IndexFlatL2(X_db.shape[1])
        flat.add(X_db)
        t_exact, _ = _best_time(lambda: flat.search(X_q, 10))
        t_index, (_, found) = _best_time(lambda: index.search(X_q, 10))
    finally:
        faiss.omp_set_num_threads(threads)
    recalls = np.array([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    return dict(recall=float(recalls.mean()), recalls=recalls, bytes=index_cost(index, len(X_db)),
                ms_per_query=1000 * t_index / len(X_q), exact_ms_per_query=1000 * t_exact / len(X_q))


def check_index(func, data_dir=None) -> float:
    """Open exercise of 05_quantisation: an index that fits the memory budget, scored on held-back vectors.

    ``func(X_train, X_db)`` gets training vectors (N_TRAIN, 128) and the database (N_DB, 128), and returns a
    FAISS index holding the database, ready to search (its own nprobe/efSearch set). Returns recall@10.
    """
    import faiss
    X_db, X_q, truth = _held_back(data_dir)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)                 # one thread: the same index on every machine, no contention
    try:
        return _score_index(func, X_db, X_q, truth)
    finally:
        faiss.omp_set_num_threads(threads)


@contextlib.contextmanager
def _quiet_native_output():
    """Silence what compiled code writes to the process's stdout and stderr (file descriptors 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved, devnull = (os.dup(1), os.dup(2)), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _score_index(func, X_db, X_q, truth) -> float:
    import faiss
    X_train = X_db[:N_TRAIN]
    db_in, train_in = X_db.copy(), X_train.copy()
    index = _call(func, train_in, db_in)
    if not isinstance(index, faiss.Index):
        raise ExerciseError(f"return a FAISS index (faiss.Index), not {type(index).__name__}: the check measures "
                            "its memory from its serialised size")
    if not np.array_equal(db_in, X_db):
        raise ExerciseError("your function changed the database vectors in place: work on copies")
    if index.ntotal != len(X_db):
        raise ExerciseError(f"the index holds {index.ntotal} vectors: add every database vector ({len(X_db)})")
    nbytes = index_cost(index, len(X_db))
    if nbytes > BUDGET_BYTES:
        raise ExerciseError(f"your index takes {nbytes:.1f} bytes per vector (codes, ids, centroids and codebooks "
                            f"counted): over the budget of {BUDGET_BYTES}")
    m = measure_index(index, X_db, X_q, truth)
    with _quiet_native_output():   # FAISS prints "please provide at least 9984 training points" for these
        small = [_call(func, X_train[:N_SMALL].copy(), X_db[:N_SMALL].copy()) for _ in range(2)]   # small: cheap
    if not all(isinstance(i, faiss.Index) for i in small) or not np.array_equal(*(i.search(X_q[:50], 10)[1]
                                                                                     for i in small)):
        raise ExerciseError("two builds from the same vectors answer differently: fix every random seed")
    return report_level(m["recall"], THRESHOLDS, f"recall@10 on {N_QUERY} held-back queries over {N_DB:,} held-back "
                        f"vectors ({nbytes:.1f} bytes per vector)",
                        "within the budget, trade code size, rotation (OPQ), cells and cells visited; tune on "
                        "the notebook's vectors")
