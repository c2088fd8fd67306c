"""Command line of the kit: ``python -m helpers <command> --help``.

Every command exits non-zero with a one-line error on bad input; ``--json`` prints
machine-readable results on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from helpers.images import IMAGE_EXTENSIONS as IMAGE_EXTS


def cmd_doctor(args) -> int:
    from helpers.env import doctor, format_doctor
    report = doctor(args.data_dir)
    print(json.dumps(report, indent=1) if args.json else format_doctor(report))
    return 0


def cmd_datasets(args) -> int:
    from helpers import datasets
    names = datasets.EMBEDDED if args.name == "all" else (args.name,)
    rows = []
    for name in names:
        start = time.perf_counter()
        already = not args.force and datasets.verify(name, args.data_dir, seed=args.seed)
        root = datasets.build(name, args.data_dir, seed=args.seed, force=args.force)
        manifest = json.loads((root / "manifest.json").read_text())
        rows.append({"name": name, "path": str(root), "n_images": manifest["n_images"],
                     "status": "verified" if already else "built",
                     "seconds": round(time.perf_counter() - start, 1)})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['name']:<10} {r['status']:<8} {r['n_images']:>5} images in {r['path']} ({r['seconds']} s)")
    return 0


def cmd_run(args) -> int:
    from helpers import runner
    out = None if args.in_place else Path(args.out)
    results = runner.run(args.notebooks, out)
    print(json.dumps(results, indent=1) if args.json else runner.format_summary(results))
    return 0 if all(r["ok"] for r in results) else 1


def _report_skipped(skipped) -> None:
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def cmd_index(args) -> int:
    from helpers import features
    from helpers.images import list_images
    from helpers.models import PREPROCESSING
    from helpers.retrieval import save_index
    paths = list_images(args.folder)
    if not paths:
        raise ValueError(f"no images found under {args.folder} (looked for {', '.join(sorted(IMAGE_EXTS))})")
    X, kept, skipped = features.compute(args.features, paths, data_dir=args.data_dir)
    _report_skipped(skipped)
    out = save_index(args.out, X, kept, args.features, PREPROCESSING.get(args.features.replace("_gem", ""), ""))
    result = {"index": str(out), "feature": args.features, "n_images": len(kept), "dim": int(X.shape[1]),
              "skipped": [{"path": str(p), "reason": r} for p, r in skipped]}
    print(json.dumps(result, indent=1) if args.json else
          f"indexed {len(kept)} images ({args.features}, {X.shape[1]}-d) into {out}; skipped {len(skipped)}")
    return 0


def cmd_search(args) -> int:
    from helpers import features
    from helpers.retrieval import load_index, search
    index = load_index(args.index, args.features)
    X, _, skipped = features.compute(index["feature_name"], [Path(args.image)], progress=False, data_dir=args.data_dir) \
        if Path(args.image).is_file() else (None, None, [(args.image, "no such file")])
    if skipped:
        raise ValueError(f"cannot read the query {skipped[0][0]}: {skipped[0][1]}")
    if X.shape[1] != index["features"].shape[1]:
        raise ValueError(f"the index holds {index['features'].shape[1]}-d features but {index['feature_name']} "
                         f"now gives {X.shape[1]}-d: rebuild the index")
    scores, idx = search(X, index["features"], args.k)
    rows = [{"rank": r + 1, "score": round(float(s), 4), "path": str(index["paths"][i])}
            for r, (s, i) in enumerate(zip(scores[0], idx[0]))]
    if args.json:
        print(json.dumps({"query": args.image, "feature": index["feature_name"], "results": rows}, indent=1))
    else:
        for row in rows:
            print(f"{row['rank']:>4}  {row['score']:.4f}  {row['path']}")
    return 0


def cmd_evaluate(args) -> int:
    import numpy as np
    from helpers import features, metrics
    from helpers.datasets import load_folder, split_query_gallery
    from helpers.retrieval import l2_normalise
    paths, labels, class_names = load_folder(args.folder)
    X, kept, skipped = features.compute_cached(args.features, paths, data_dir=args.data_dir)
    _report_skipped(skipped)
    kept_set = set(kept)
    labels = np.array([y for p, y in zip(paths, labels) if p in kept_set], dtype=np.int64)
    X = l2_normalise(X)
    if args.queries_per_class is None:  # every image queries all the others
        counts = np.bincount(labels)
        query = np.flatnonzero(counts[labels] >= 2)
        if len(query) == 0:
            raise ValueError("every class has a single image: need at least 2 images in some class")
        sims = X[query] @ X.T
        result = metrics.evaluate(sims, labels[query], labels, k=args.k, exclude=query)
        n_gallery = len(labels) - 1
    else:
        query, gallery = split_query_gallery(labels, args.queries_per_class, seed=args.seed)
        result = metrics.evaluate(X[query] @ X[gallery].T, labels[query], labels[gallery], k=args.k)
        n_gallery = len(gallery)
    result = {key: round(value, 4) for key, value in result.items()}
    result.update(feature=args.features, folder=str(args.folder), n_queries=int(len(query)),
                  n_gallery=int(n_gallery), n_classes=len(class_names), n_skipped=len(skipped))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.features} on {args.folder}: {len(query)} queries, {n_gallery} gallery images, "
              f"{len(class_names)} classes")
        print("  ".join(f"{key} {result[key]:.3f}" for key in
                        (f"precision@{args.k}", f"recall@{args.k}", "mAP", f"mAP@{args.k}")))
    return 0


def cmd_student(args) -> int:
    from helpers import runner
    from helpers.student import write_student_copies
    written = write_student_copies(args.out, runner.notebooks(args.notebooks))
    if args.json:
        print(json.dumps({"written": [str(p) for p in written]}, indent=1))
    else:
        print(f"wrote {len(written)} student notebooks to {args.out} (solutions replaced by NotImplementedError)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from helpers.env import DATA_DIR
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
        p.add_argument("--data-dir", default=str(DATA_DIR), help="where datasets and caches live (default: %(default)s)")
        p.set_defaults(func=func)
        return p

    add("doctor", cmd_doctor, "versions, threads, device, datasets and weights present, a speed check")
    p = add("datasets", cmd_datasets, "generate the embedded datasets (idempotent, verified by checksum)")
    p.add_argument("action", choices=["build"], help="what to do")
    p.add_argument("name", nargs="?", default="all", choices=["shapes", "catalogue", "all"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rebuild even if a verified copy exists")
    p = add("run", cmd_run, "execute notebooks headless; report time and key metrics per notebook")
    p.add_argument("notebooks", nargs="*", help="names or prefixes like 00 (default: all)")
    p.add_argument("--out", default="build", help="folder for executed copies (default: %(default)s)")
    p.add_argument("--in-place", action="store_true", help="overwrite the notebooks' saved outputs (make outputs)")
    p = add("student", cmd_student, "write student versions of the notebooks (solutions removed)")
    p.add_argument("--out", required=True, help="folder for the student notebooks, e.g. build/student")
    p.add_argument("notebooks", nargs="*", help="names or prefixes like 01 (default: all)")
    from helpers.features import FEATURES
    feature_help = "; ".join(f"{name}: {text}" for name, text in FEATURES.items())
    p = add("index", cmd_index, "compute features for every image under FOLDER (recursively) into an .npz index")
    p.add_argument("folder")
    p.add_argument("--features", required=True, choices=list(FEATURES), metavar="NAME", help=feature_help)
    p.add_argument("--out", required=True, help="the index file to write (.npz)")
    p = add("search", cmd_search, "the gallery images of an index nearest to IMAGE, with cosine scores")
    p.add_argument("index", help="an .npz file made by `index`")
    p.add_argument("image", help="the query image")
    p.add_argument("-k", type=_positive, default=10, help="how many results (default: %(default)s)")
    p.add_argument("--features", choices=list(FEATURES), metavar="NAME",
                   help="refuse the index unless it was made with these features")
    p = add("evaluate", cmd_evaluate, "retrieval quality on a labelled folder FOLDER/<class>/<image>")
    p.add_argument("folder")
    p.add_argument("--features", required=True, choices=list(FEATURES), metavar="NAME", help=feature_help)
    p.add_argument("-k", type=_positive, default=10, help="cut-off of precision@k, recall@k (default: %(default)s)")
    p.add_argument("--queries-per-class", type=_positive, default=None, metavar="N",
                   help="N queries per class against the rest (default: every image queries all others)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def main(argv=None) -> int:
    from helpers.images import ImageLoadError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError, ImageLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug of ours: still one line, and a way to report it
        print(f"error: unexpected {type(err).__name__}: {err} (please report this with the command you ran)",
              file=sys.stderr)
        return 1
