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
    return parser


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
