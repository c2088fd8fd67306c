"""One store for what the kit hashes and what the notebooks train.

File hashes (datasets, weights, feature caches) and trained models live here. A trained model is
saved as its ``state_dict`` (tensors only, loaded with ``weights_only=True``) plus a JSON record: its
class and hyperparameters, the config it was trained with, its history and the notebook that made it.
The notebooks ask for "the model notebook 03 trains" by name: ``load_model("autoencoder")``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from helpers.env import KitError, data_dir as data_dir_of


def sha256_file(path: Path | str) -> str:
    """sha256 of one file's bytes, read in blocks (weights files are large).

    Plumbing: not taught in a notebook.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(paths) -> str:
    """sha256 over the names and bytes of files: changes whenever any image changes.

    Plumbing: not taught in a notebook.
    """
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def dataset_id(name: str, data_dir: Path | str | None = None) -> str:
    """The identity of an embedded dataset: the sha256 of its manifest (which holds every file's sha256).

    Used in 02_cnn_features, section "4. Training a small CNN with cross-entropy".
    """
    manifest = data_dir_of(data_dir) / name / "manifest.json"
    if not manifest.is_file():
        raise KitError(f"dataset {name!r} is not built: python -m helpers datasets build {name}")
    return sha256_file(manifest)


def _models(data_dir) -> Path:
    return data_dir_of(data_dir) / "models"


def model_path(name: str, config: dict, data_dir: Path | str | None = None) -> Path:
    """``data/models/<name>-<hash of config>.pt``: a model trained with other settings is never loaded.

    Plumbing: not taught in a notebook.
    """
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    return _models(data_dir) / f"{name}-{key}.pt"


def save_model(model, name: str, config: dict, history: dict | None = None, notebook: str = "",
               extra: dict | None = None, data_dir: Path | str | None = None) -> Path:
    """Save a trained model under ``name`` and make it the one ``load_model(name)`` returns.

    ``model`` needs ``hparams`` (the keyword arguments that rebuild it) and its class must live in a
    ``helpers`` module (``helpers.models``, ``helpers.crossmodal``, ...); ``extra`` holds what using it needs besides weights (e.g. input mean and std).
    Used in 02_cnn_features, section "4. Training a small CNN with cross-entropy".
    """
    import torch
    path = model_path(name, config, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    import importlib
    module = type(model).__module__
    if not module.startswith("helpers."):     # a class typed in a notebook: its twin in helpers.models rebuilds it
        module = "helpers.models"              # (a test keeps the classes 02 and 03 show identical to the helpers)
        if not hasattr(importlib.import_module(module), type(model).__name__):
            raise KitError(f"{type(model).__name__} is defined in {type(model).__module__}, not in a helpers module: "
                           "the store can only rebuild classes that live in helpers/ (move it there, as 06 and 07 do)")
    torch.save(model.state_dict(), path)
    record = {"name": name, "file": path.name, "module": module, "class": type(model).__name__, "hparams": model.hparams,
              "config": config, "history": history or {}, "notebook": notebook, "extra": extra or {}}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    (path.parent / f"{name}.json").write_text(json.dumps(record, indent=1))   # "the latest <name>"
    return path


def model_record(name: str, config: dict | None = None, data_dir: Path | str | None = None) -> dict | None:
    """The JSON record of a saved model (exactly ``config`` if given, else the latest), or None.

    Plumbing: not taught in a notebook.
    """
    meta = model_path(name, config, data_dir).with_suffix(".json") if config is not None \
        else _models(data_dir) / f"{name}.json"
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    record["path"] = meta.parent / record["file"]
    return record if record["path"].is_file() else None


def load_model(name: str, config: dict | None = None, data_dir: Path | str | None = None,
               notebook: str = "", missing_ok: bool = False):
    """(model, record) for a saved model: exactly ``config`` if given, else the latest saved ``name``.

    A missing model gives None with ``missing_ok``, else an error that names the notebook that trains it.
    Used in 02_cnn_features, section "4. Training a small CNN with cross-entropy".
    """
    import importlib
    import torch
    record = model_record(name, config, data_dir)
    if record is None:
        if missing_ok:
            return None
        where = f"notebook {notebook} trains it: run it first" if notebook else "train it first"
        raise KitError(f"no trained model {name!r} under {_models(data_dir)}: {where}")
    module = record.get("module", "helpers.models")
    if not module.startswith("helpers."):
        raise KitError(f"{record['path']} names a class outside helpers/ ({module}): delete it and re-run its notebook")
    model = getattr(importlib.import_module(module), record["class"])(**record["hparams"])
    try:
        model.load_state_dict(torch.load(record["path"], map_location="cpu", weights_only=True))
    except (OSError, RuntimeError) as err:
        raise KitError(f"{record['path']} is damaged or from another version ({str(err)[:80]}): "
                       f"delete it and re-run notebook {record['notebook'] or 'that trains it'}") from None
    return model.eval(), record
