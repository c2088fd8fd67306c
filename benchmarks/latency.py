"""One query end to end, as a shop's "search by photo" service answers it: read and decode the photo,
preprocess, EfficientNet-Lite0 features, PCA to 128-d, search; p50 and p95 over 200 queries, and where the time
goes, for galleries of 10k and 100k (exact search, ``CosineIndex``) and 1M vectors (FAISS IVF1024,PQ16, nprobe 16).

Galleries are the honest synthetic vectors of ``large_index.py`` (blends of the kit's real features, no copies);
queries are the 345 catalogue photos (PNG files on disk), read again for every query, one at a time (batch 1),
on the CPU with 2 threads. Budget (DESIGN): p95 <= 100 ms at 100k on 2 cores.

    python benchmarks/latency.py                  # 10k, 100k and 1M
    python benchmarks/latency.py --sizes 10000 100000
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main():
    import faiss
    import torch
    from sklearn.decomposition import PCA
    from large_index import honest_vectors
    from helpers.backbones import load_backbone
    from helpers.datasets import load_embedded
    from helpers.features import embed_batch
    from helpers.images import load_rgb
    from helpers.indexes import build_faiss_index, search_faiss
    from helpers.pipeline import compute_cached
    from helpers.retrieval import CosineIndex, l2_normalise
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    model, preprocess = load_backbone("efficientnet_lite0")
    model.eval()
    paths = [p for name in ("shapes", "catalogue") for p in load_embedded(name)[0]]
    F, _, _ = compute_cached("efficientnet_lite0", paths, progress=False)
    pca = PCA(128, random_state=0).fit(F)                      # the same projection the galleries were made with
    photos = [p for p in load_embedded("catalogue")[0]]
    X_all, _ = honest_vectors(max(args.sizes), 1)
    for _ in range(5):                                          # warm-up: first calls allocate
        embed_batch(model, preprocess(load_rgb(photos[0]))[None])
    print(f"{'gallery':>10} {'index':<22} {'p50 ms':>7} {'p95 ms':>7}   mean ms: decode+preprocess / CNN / PCA / search")
    for n in args.sizes:
        X = X_all[:n]
        if n <= 100_000:
            index, kind = CosineIndex().fit(X), "exact (CosineIndex)"
            search = lambda q: index.search(q, 10)
        else:
            index, kind = build_faiss_index(X, "IVF1024,PQ16"), "IVF1024,PQ16 nprobe 16"
            search = lambda q: search_faiss(index, q, 10, nprobe=16)
        parts, totals = [], []
        for i in range(args.queries):
            t0 = time.perf_counter()
            x = preprocess(load_rgb(photos[i % len(photos)]))[None]
            t1 = time.perf_counter()
            f = embed_batch(model, x)                           # (1, 1280)
            t2 = time.perf_counter()
            q = l2_normalise(pca.transform(f).astype(np.float32))
            t3 = time.perf_counter()
            search(q)
            t4 = time.perf_counter()
            parts.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
            totals.append(t4 - t0)
        ms = 1000 * np.array(totals)
        mean = 1000 * np.mean(parts, axis=0)
        print(f"{n:>10,} {kind:<22} {np.percentile(ms, 50):7.1f} {np.percentile(ms, 95):7.1f}   "
              + " / ".join(f"{m:.1f}" for m in mean))


if __name__ == "__main__":
    main()
