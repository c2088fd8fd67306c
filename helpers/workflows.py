"""What the command line does, as library functions: index a folder, search an index, evaluate features.

Each returns a plain dict (what ``--json`` prints). Taught in 04_cosine_retrieval (search) and
00_start_here (evaluation).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.env import KitError


def index_folder(folder: Path | str, feature: str, out: Path | str, data_dir: Path | str | None = None,
                 index: str | None = None) -> dict:
    """Features ``feature`` of every image under ``folder`` (recursively, streamed) into the index ``out``.

    ``out`` ending in .npz: exact search, the default (every vector in memory once). Ending in .faiss: a FAISS index built with the
    ``index_factory`` string ``index`` (default "Flat"; e.g. "IVF1024,PQ32"), see ``helpers.indexes``.
    FAISS and Milvus outputs are filled batch by batch as the images stream, so memory does not grow with the
    folder. Unreadable files are skipped and listed with the reason under "skipped".
    Plumbing: not taught in a notebook.
    """
    from helpers.vectordb import is_milvus, parse_uri
    milvus = is_milvus(out)
    suffix = "milvus" if milvus else Path(out).suffix
    if milvus:
        parse_uri(str(out))                         # a bad URI fails before any image is read
    elif suffix not in (".npz", ".faiss"):
        raise KitError(f"the index must be FILE.npz (exact search), FILE.faiss (FAISS), milvus-lite:FILE.db or "
                       f"milvus://HOST:PORT/NAME (Milvus), got {Path(out).name}")
    if index is not None and suffix != ".faiss":
        raise KitError(f"--index {index} builds a FAISS index: name the output FILE.faiss, not {Path(out).name}")
    from helpers.extractors import get
    from helpers.pipeline import compute
    from helpers.images import IMAGE_EXTENSIONS, list_images
    from helpers.retrieval import save_index
    paths = list_images(folder)
    if not paths:
        raise KitError(f"no images found under {folder} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    spec = get(feature).spec(data_dir)
    if suffix == ".npz":                            # one array file: every vector in memory once
        X, kept, skipped = compute(feature, paths, data_dir=data_dir)
        out, dim = save_index(out, X, kept, spec), X.shape[1]
    else:                                           # streamed: vectors go into the index batch by batch
        from helpers.pipeline import stream
        shuffled = [paths[i] for i in np.random.default_rng(0).permutation(len(paths))]   # a random training sample
        kept, skipped, dims = [], [], []

        def batches():
            for X, k, s in stream(feature, shuffled, data_dir=data_dir):
                skipped.extend(s)
                if X is not None:
                    kept.extend(k)
                    dims[:] = [X.shape[1]]
                    yield X, k
        if milvus:
            from helpers.vectordb import save_milvus
            out = save_milvus(str(out), batches(), None, spec)
        else:
            from helpers.indexes import save_faiss_index
            out = save_faiss_index(out, (X for X, _ in batches()), kept, spec, factory=index or "Flat")
        dim = dims[0]
    kind = {".faiss": index or "Flat", "milvus": "Milvus collection, exact (FLAT, cosine)"}.get(suffix, "exact (.npz)")
    return {"index": str(out), "feature": feature, "n_images": len(kept), "dim": int(dim), "kind": kind,
            "skipped": [{"path": str(p), "reason": r} for p, r in skipped]}


def search_index(index_path: Path | str, image: Path | str, k: int = 10, feature: str | None = None,
                 data_dir: Path | str | None = None, nprobe: int | None = None) -> dict:
    """The ``k`` indexed images nearest to ``image`` by cosine similarity, best first.

    The query is described by the extractor the index was made with; an index made by another extractor,
    or by another version of it, is refused. ``feature`` (optional) insists on one extractor.
    ``index_path``: an .npz (exact) or .faiss index, or a Milvus URI; ``nprobe`` sets the cells an IVF index visits.
    Plumbing: not taught in a notebook.
    """
    from helpers.extractors import get
    from helpers.pipeline import compute
    from helpers.retrieval import check_index_spec, load_index, search
    from helpers.vectordb import is_milvus
    milvus = is_milvus(index_path)
    is_faiss = not milvus and Path(index_path).suffix == ".faiss"
    if milvus:
        from helpers.vectordb import load_milvus, search_milvus
        if nprobe is not None:
            raise KitError("--nprobe applies to FAISS IVF indexes (.faiss); this Milvus collection is searched exactly")
        client, collection, index = load_milvus(str(index_path))
    elif is_faiss:
        from helpers.indexes import load_faiss_index, search_faiss
        faiss_index, index = load_faiss_index(index_path)
    else:
        if nprobe is not None:
            raise KitError("--nprobe applies to FAISS IVF indexes (.faiss); an .npz index is searched exactly")
        index = load_index(index_path)
    name = feature or index["feature_name"]
    check_index_spec(index, get(name).spec(data_dir), index_path)
    if not Path(image).is_file():
        raise KitError(f"cannot read the query {image}: no such file")
    X, _, skipped = compute(name, [Path(image)], progress=False, data_dir=data_dir)
    if milvus:
        scores, found = search_milvus(client, collection, X, k)
        return {"query": str(image), "feature": name, "results": [
            {"rank": r + 1, "score": round(float(s), 4), "path": p} for r, (s, p) in enumerate(zip(scores[0], found[0]))]}
    if is_faiss:
        scores, idx = search_faiss(faiss_index, X, k, nprobe)
    else:
        scores, idx = search(X, index["features"], k)
    rows = [{"rank": r + 1, "score": round(float(s), 4), "path": str(index["paths"][i])}
            for r, (s, i) in enumerate(zip(scores[0], idx[0])) if i >= 0]
    return {"query": str(image), "feature": name, "results": rows}


def evaluate_folder(folder: Path | str, feature: str, k: int = 10, queries_per_class: int | None = None,
                    seed: int = 0, data_dir: Path | str | None = None) -> dict:
    """Retrieval quality of ``feature`` on a labelled folder ``folder/<class>/<image>``.

    Every image queries all the others (``queries_per_class=None``), or a seeded ``queries_per_class``
    per class query the rest (the notebooks' protocol). Returns P@k, R@k, mAP, mAP@k and the counts.
    Plumbing: not taught in a notebook.
    """
    from helpers import metrics
    from helpers.datasets import load_folder, split_query_gallery
    from helpers.pipeline import compute_cached
    from helpers.retrieval import l2_normalise
    paths, labels, class_names = load_folder(folder)
    X, kept, skipped = compute_cached(feature, paths, data_dir=data_dir)
    kept_set = set(kept)
    labels = np.array([y for p, y in zip(paths, labels) if p in kept_set], dtype=np.int64)
    X = l2_normalise(X)
    if queries_per_class is None:
        result = metrics.evaluate_leave_one_out(X, labels, k)
    else:
        query, gallery = split_query_gallery(labels, queries_per_class, seed=seed)
        result = metrics.evaluate(X[query] @ X[gallery].T, labels[query], labels[gallery], k=k)
        result.update(n_queries=int(len(query)), n_gallery=int(len(gallery)))
    result = {key: (round(value, 4) if isinstance(value, float) else value) for key, value in result.items()}
    result.update(feature=feature, folder=str(folder), n_classes=len(class_names),
                  skipped=[{"path": str(p), "reason": r} for p, r in skipped])
    return result


def build_datasets(name: str = "all", data_dir: Path | str | None = None, seed: int = 0, force: bool = False) -> list:
    """Build (or verify) the embedded datasets: one row per dataset with its status and time.
    Plumbing: not taught in a notebook.
    """
    import json
    import time
    from helpers import datasets
    rows = []
    for one in (datasets.EMBEDDED if name == "all" else (name,)):
        start = time.perf_counter()
        already = not force and datasets.verify(one, data_dir, seed=seed)
        root = datasets.build(one, data_dir, seed=seed, force=force)
        rows.append({"name": one, "path": str(root), "n_images": json.loads((root / "manifest.json").read_text())["n_images"],
                     "status": "verified" if already else "built", "seconds": round(time.perf_counter() - start, 1)})
    return rows
