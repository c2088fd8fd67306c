"""The course leaderboard, ``data/results.json``: every notebook adds its methods' scores.

Notebook 04 reads it back and plots every method of the course side by side.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from helpers.env import KitError, data_dir


def record(method: str, dataset: str, metrics: dict, notebook: str,
           path: Path | str | None = None) -> dict:
    """Add or replace the row (method, dataset) with ``metrics`` (numbers only); returns the row.

    ``path`` defaults to ``results.json`` in the data folder (``helpers.env.data_dir``).
    Used in 00_start_here, section "6. A first search engine: raw pixels".
    """
    path = Path(path) if path is not None else data_dir() / "results.json"
    rows = load(path)
    row = {"method": method, "dataset": dataset, "notebook": notebook,
           **{key: round(float(value), 4) for key, value in metrics.items()}}
    rows = [r for r in rows if (r["method"], r["dataset"]) != (method, dataset)] + [row]
    _write(path, rows)
    return row


def _write(path: Path, rows: list[dict]) -> None:
    rows.sort(key=lambda r: (r["dataset"], r["notebook"], r["method"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # whole file, then renamed: never half written
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    os.replace(tmp, path)


def forget(notebook: str, path: Path | str | None = None) -> int:
    """Remove every row a notebook recorded (before it records its current methods); returns how many.

    A notebook that renames or drops a method calls this first, so no stale row stays on the leaderboard.
    Used in 02_cnn_features, section "5. The comparison on the shared protocol".
    """
    path = Path(path) if path is not None else data_dir() / "results.json"
    rows = load(path)
    kept = [r for r in rows if r.get("notebook") != notebook]
    if len(kept) != len(rows):
        _write(path, kept)
    return len(rows) - len(kept)


def load(path: Path | str | None = None) -> list[dict]:
    """All rows of the leaderboard (an empty list if no notebook has recorded anything).

    Used in 00_start_here, section "6. A first search engine: raw pixels".
    """
    path = Path(path) if path is not None else data_dir() / "results.json"
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise KitError(f"{path} is not valid JSON: delete it and re-run the notebooks") from None
