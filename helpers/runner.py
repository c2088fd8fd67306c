"""Execute notebooks headless, the way CI and ``make outputs`` do, and summarise them."""
from __future__ import annotations

import re
import time
from pathlib import Path

from helpers.env import KitError

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def notebooks(names=None) -> list[Path]:
    """The course notebooks in order, or the ones named (a path or a name like ``00``)."""
    from helpers.env import course_dir
    folder = course_dir() / "notebooks"
    every = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not every:
        raise KitError(f"no course notebooks found in {folder}: run this from the course folder")
    if not names:
        return every
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path)
            continue
        match = [p for p in every if p.stem.startswith(str(name)) or p.stem == Path(str(name)).stem]
        if not match:
            raise KitError(f"no notebook matches {name!r}: choose from {', '.join(p.stem for p in every)}")
        chosen.extend(match)
    return chosen


def strip_widget_state(nb) -> None:
    """Remove saved ipywidgets state (it bloats the file and breaks nbval comparisons)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)


def key_metrics(nb) -> list[str]:
    """Lines printed by the checked cells that mention mAP or recall, for the summary."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK_MARK in cell.source:
            for out in cell.get("outputs", []):
                text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
                lines += [ln.strip() for ln in text.splitlines() if re.search(r"mAP|recall", ln)]
    return lines


def execute(path: Path, out_path: Path, timeout: int = 900) -> dict:
    """Run one notebook from a fresh kernel in its own folder and save the executed copy."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1][:200]
    seconds = time.perf_counter() - start
    strip_widget_state(nb)
    try:
        from helpers.grade import tag_nbgrader
        tag_nbgrader(nb)          # nbgrader metadata follows the exercises (tests check it is saved)
    except KitError:
        pass                      # an exercise without a check cell: tests/test_grade.py reports it
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)
    return {"notebook": path.stem, "seconds": round(seconds, 1), "ok": error is None,
            "error": error, "metrics": key_metrics(nb)}


def run(names=None, out_dir: Path | None = None) -> list[dict]:
    """Execute notebooks; ``out_dir=None`` overwrites them in place (``make outputs``)."""
    results = []
    for path in notebooks(names):
        target = path if out_dir is None else Path(out_dir) / path.name
        results.append(execute(path, target))
    return results


def format_summary(results: list[dict]) -> str:
    lines = [f"{'notebook':<24} {'seconds':>8}  status  key metrics"]
    for r in results:
        status = "ok" if r["ok"] else "FAILED"
        lines.append(f"{r['notebook']:<24} {r['seconds']:>8.1f}  {status:<6}  {'; '.join(r['metrics'][:3])}")
        if r["error"]:
            lines.append(f"    error: {r['error']}")
    lines.append(f"{'total':<24} {sum(r['seconds'] for r in results):>8.1f}")
    return "\n".join(lines)
