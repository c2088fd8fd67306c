"""Command line of the kit: ``python -m helpers <command> --help``.

Every command exits non-zero with a one-line error on bad input; ``--json`` prints
machine-readable results on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def _emit(args, result, text: str) -> int:
    """The one way commands print: JSON on stdout with --json, else readable text."""
    print(json.dumps(result, indent=1) if args.json else text)
    return 0


def cmd_doctor(args) -> int:
    from helpers.env import doctor, format_doctor
    report = doctor(args.data_dir)
    return _emit(args, report, format_doctor(report))


def cmd_datasets(args) -> int:
    from helpers.workflows import build_datasets
    rows = build_datasets(args.name, args.data_dir, seed=args.seed, force=args.force)
    return _emit(args, rows, "\n".join(f"{r['name']:<10} {r['status']:<8} {r['n_images']:>5} images in {r['path']} "
                                       f"({r['seconds']} s)" for r in rows))


def cmd_run(args) -> int:
    from helpers import runner
    results = runner.run(args.notebooks, None if args.in_place else Path(args.out))
    _emit(args, results, runner.format_summary(results))
    return 0 if all(r["ok"] for r in results) else 1


def _report_skipped(skipped) -> None:
    for row in skipped:
        print(f"skipped {row['path']}: {row['reason']}", file=sys.stderr)


def cmd_index(args) -> int:
    from helpers.workflows import index_folder
    r = index_folder(args.folder, args.features, args.out, data_dir=args.data_dir, index=args.index)
    _report_skipped(r["skipped"])
    return _emit(args, r, f"indexed {r['n_images']} images ({r['feature']}, {r['dim']}-d) into {r['index']}; "
                          f"skipped {len(r['skipped'])}")


def cmd_search(args) -> int:
    from helpers.workflows import search_index
    r = search_index(args.index, args.image, args.k, args.features, data_dir=args.data_dir, nprobe=args.nprobe)
    return _emit(args, r, "\n".join(f"{row['rank']:>4}  {row['score']:.4f}  {row['path']}" for row in r["results"]))


def cmd_evaluate(args) -> int:
    from helpers.workflows import evaluate_folder
    r = evaluate_folder(args.folder, args.features, args.k, args.queries_per_class, args.seed, data_dir=args.data_dir)
    _report_skipped(r["skipped"])
    k = args.k
    return _emit(args, r, f"{r['feature']} on {r['folder']}: {r['n_queries']} queries, {r['n_gallery']} gallery "
                          f"images, {r['n_classes']} classes\n"
                 + "  ".join(f"{key} {r[key]:.3f}" for key in (f"precision@{k}", f"recall@{k}", "mAP", f"mAP@{k}")))


def cmd_search_text(args) -> int:
    from helpers.crossmodal import search_text
    found = search_text(args.query, args.k, data_dir=args.data_dir)
    rows = [{"rank": rank, "score": round(score, 4), "path": str(path)} for rank, (path, score) in enumerate(found, 1)]
    return _emit(args, {"query": args.query, "results": rows},
                 "\n".join(f"{row['rank']:>4}  {row['score']:.4f}  {row['path']}" for row in rows))


def cmd_student(args) -> int:
    from helpers import runner
    from helpers.student import write_student_copies
    written = write_student_copies(args.out, runner.notebooks(args.notebooks))
    return _emit(args, {"written": [str(p) for p in written]},
                 f"wrote {len(written)} student notebooks to {args.out} (solutions replaced by NotImplementedError)")


def cmd_grade(args) -> int:
    from helpers.grade import format_grade, grade
    result = grade(args.submission, reference=args.reference, timeout=args.timeout)
    return _emit(args, result, format_grade(result))


def build_parser() -> argparse.ArgumentParser:
    from helpers.env import data_dir
    from helpers.extractors import REGISTRY
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error (or set "
                        "CBIR_TRACEBACK=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
        p.add_argument("--data-dir", default=None, help=f"where datasets, caches and models live (default: "
                       f"$CBIR_DATA or {data_dir()})")
        p.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
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
    p = add("grade", cmd_grade, "run a submitted notebook headless and score its exercises")
    p.add_argument("submission", help="the student's notebook, e.g. 01_colour_histograms.ipynb")
    p.add_argument("--reference", help="the solution notebook (default: the course notebook of the same name)")
    p.add_argument("--timeout", type=_positive, default=600, metavar="S",
                   help="seconds each cell may run before it is stopped (default: %(default)s)")
    FEATURES = list(REGISTRY)
    feature_help = "; ".join(f"{e.name}: {e.description}" for e in REGISTRY.values())
    p = add("index", cmd_index, "compute features for every image under FOLDER (recursively) into an index file")
    p.add_argument("folder")
    p.add_argument("--features", required=True, choices=FEATURES, metavar="NAME", help=feature_help)
    p.add_argument("--out", required=True, help="the index to write: FILE.npz (exact search), FILE.faiss (FAISS), "
                   "milvus-lite:FILE.db (embedded Milvus Lite) or milvus://HOST:PORT/NAME (a Milvus server)")
    p.add_argument("--index", metavar="FACTORY", help="for FILE.faiss: a FAISS index_factory string such as "
                   "Flat (default), IVF256,Flat, IVF1024,PQ32 or HNSW32")
    p = add("search", cmd_search, "the gallery images of an index nearest to IMAGE, with cosine scores")
    p.add_argument("index", help="an .npz or .faiss file, or a milvus-lite:/milvus:// URI, made by `index`")
    p.add_argument("image", help="the query image")
    p.add_argument("-k", type=_positive, default=10, help="how many results (default: %(default)s)")
    p.add_argument("--features", choices=FEATURES, metavar="NAME",
                   help="refuse the index unless it was made with these features")
    p.add_argument("--nprobe", type=_positive, metavar="N", help="cells an IVF index visits (FAISS indexes)")
    p = add("search-text", cmd_search_text, "the shapes images that best match a text query such as \"a red star\" "
            "(the model notebook 07 trains)")
    p.add_argument("query", help="free text; words the model never saw are ignored")
    p.add_argument("-k", type=_positive, default=10, help="how many results (default: %(default)s)")
    p = add("evaluate", cmd_evaluate, "retrieval quality on a labelled folder FOLDER/<class>/<image>")
    p.add_argument("folder")
    p.add_argument("--features", required=True, choices=FEATURES, metavar="NAME", help=feature_help)
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
    """Run one command. Mistakes the user can fix (``KitError``) and OS errors (permission denied, disk full)
    are one line, exit 2; anything else is a bug of ours: one line, exit 1, and ``--traceback`` shows it."""
    import os
    from helpers.env import KitError
    args = build_parser().parse_args(argv)
    if args.traceback or os.environ.get("CBIR_TRACEBACK"):
        return args.func(args)
    try:
        return args.func(args)
    except KitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug of ours: still one line, and a way to see more
        print(f"error: unexpected {type(err).__name__}: {str(err)[:200]} (a bug in the kit; run again with "
              f"--traceback for details)", file=sys.stderr)
        return 1
