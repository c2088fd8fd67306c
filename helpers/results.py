"""The course leaderboard, ``data/results.json``: every notebook adds its methods' scores.

Notebook 04 reads it back and plots every method of the course side by side.
"""
from __future__ import annotations

import json
from pathlib import Path

from helpers.env import DATA_DIR


def record(method: str, dataset: str, metrics: dict, notebook: str,
           path: Path | str = DATA_DIR / "results.json") -> dict:
    """Add or replace the row (method, dataset) with ``metrics`` (numbers only); returns the row."""
    path = Path(path)
    rows = load(path)
    row = {"method": method, "dataset": dataset, "notebook": notebook,
           **{key: round(float(value), 4) for key, value in metrics.items()}}
    rows = [r for r in rows if (r["method"], r["dataset"]) != (method, dataset)] + [row]
    rows.sort(key=lambda r: (r["dataset"], r["notebook"], r["method"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")
    return row


def load(path: Path | str = DATA_DIR / "results.json") -> list[dict]:
    """All rows of the leaderboard (an empty list if no notebook has recorded anything)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON: delete it and re-run the notebooks") from None
