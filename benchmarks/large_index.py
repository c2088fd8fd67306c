"""A million vectors through ``helpers.indexes`` (the code behind ``index --out FILE.faiss --index ...``):
build time, index size, recall@10 against exact search and ms/query for Flat, IVF-Flat, IVF-PQ (16 bytes) and HNSW.

The vectors are honest synthetic data (as in notebook 05): EfficientNet-Lite0 features of the kit's 1,545
images, PCA to 128-d (fitted on those images), then each vector a random blend of 4 of them (Dirichlet
weights) plus Gaussian noise at 0.2 x the data's spread: related vectors lie near each other, but no two are
copies, so an approximate index has to work for its recall. 1,000 query vectors are made the same way.

    python benchmarks/large_index.py              # 1,000,000 vectors (about 10 minutes on 2 cores)
    python benchmarks/large_index.py --n 200000   # quicker
"""
import argparse
import time

import numpy as np


def honest_vectors(n: int, n_queries: int, seed: int = 0):
    from sklearn.decomposition import PCA
    from helpers.datasets import build, load_embedded
    from helpers.pipeline import compute_cached
    paths = []
    for name in ("shapes", "catalogue"):
        build(name)
        paths += list(load_embedded(name)[0])
    F, _, _ = compute_cached("efficientnet_lite0", paths, progress=False)
    base = PCA(128, random_state=seed).fit_transform(F).astype(np.float32)    # (1545, 128)
    rng = np.random.default_rng(seed)
    spread = base.std()

    def blends(m):
        out = np.empty((m, 128), np.float32)
        for start in range(0, m, 100_000):
            k = min(100_000, m - start)
            idx = rng.integers(0, len(base), size=(k, 4))
            w = rng.dirichlet(np.ones(4), size=k).astype(np.float32)
            out[start:start + k] = np.einsum("kj,kjd->kd", w, base[idx]) + rng.normal(0, 0.2 * spread, (k, 128))
        return out
    return blends(n), blends(n_queries)


def recall_at_10(found, truth):
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))


def main():
    import faiss
    from helpers.indexes import build_faiss_index, search_faiss
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    start = time.perf_counter()
    X, Q = honest_vectors(args.n, args.queries)
    print(f"{args.n:,} vectors x 128-d ({X.nbytes / 1e6:.0f} MB float32), {len(Q)} queries, made in "
          f"{time.perf_counter() - start:.1f} s; FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    nlist = 1024
    plans = [("Flat", [None]), (f"IVF{nlist},Flat", [1, 8, 32]), (f"IVF{nlist},PQ16", [8, 32]),
             ("HNSW32", ["ef16", "ef64"])]
    truth = None
    print(f"{'index':<16}{'knob':>9}{'build s':>9}{'MB':>8}{'recall@10':>11}{'ms/query':>10}")
    for factory, knobs in plans:
        start = time.perf_counter()
        index = build_faiss_index(X, factory)
        build_s = time.perf_counter() - start
        size_mb = len(faiss.serialize_index(index)) / 1e6
        for knob in knobs:
            nprobe = knob if isinstance(knob, int) else None
            if isinstance(knob, str):
                index.hnsw.efSearch = int(knob[2:])
            search_faiss(index, Q[:10], 10, nprobe)                      # warm-up
            start = time.perf_counter()
            _, found = search_faiss(index, Q, 10, nprobe)
            ms = (time.perf_counter() - start) * 1000 / len(Q)
            if truth is None:
                truth = found
            label = "-" if knob is None else (f"nprobe {knob}" if nprobe else f"efS {knob[2:]}")
            print(f"{factory:<16}{label:>9}{build_s:>9.1f}{size_mb:>8.0f}{recall_at_10(found, truth):>11.3f}{ms:>10.3f}")
        del index


if __name__ == "__main__":
    main()
