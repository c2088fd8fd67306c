"""Datasets: build the embedded ones, load any labelled folder, split query/gallery.

Embedded datasets are generated (no download) into ``data/<name>/<class>/<id>.png`` with
``metadata.csv`` (one row per image, every generator parameter) and ``manifest.json``
(a sha256 per file). Building twice gives byte-identical files.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from helpers.env import KitError, data_dir as data_dir_of
from helpers.images import list_images
from helpers.store import sha256_file

EMBEDDED = ("shapes", "catalogue")
GENERATOR_VERSION = 3
SIZES = {"shapes": dict(n_per_class=120, size=48), "catalogue": dict(n_per_photo=7, n_views=5, size=128)}


def _rows(name: str, seed: int, small: bool):
    """Yield (relative path, PIL image, metadata dict) for every image of a dataset."""
    from helpers import synth
    if name == "shapes":
        n = (6 if small else SIZES["shapes"]["n_per_class"]) * len(synth.SHAPE_CLASSES)
        for i in range(n):
            p = synth.sample_shape_params(i, seed)
            yield f"{p['label']}/{i:05d}.png", synth.render_shape(p, SIZES["shapes"]["size"]), p
    elif name == "catalogue":
        items = synth.catalogue_items(1 if small else SIZES["catalogue"]["n_per_photo"], seed)
        for i, item in enumerate(items):
            for view in range(SIZES["catalogue"]["n_views"]):
                v = synth.sample_view_params(view, i, seed)
                img = synth.render_view(item, v, SIZES["catalogue"]["size"])
                yield f"{item['item']}/view{view}.png", img, dict(label=item["item"], view=view, **item, **v)
    else:
        raise KitError(f"unknown dataset {name!r}: choose one of {', '.join(EMBEDDED)}")


def build(name: str, data_dir: Path | str | None = None, seed: int = 0, force: bool = False,
          small: bool = False) -> Path:
    """Generate dataset ``name`` under ``data_dir`` unless a verified copy is already there.

    ``small=True`` makes a tiny version (for tests). Returns the dataset folder.
    Plumbing: not taught in a notebook.
    """
    root = data_dir_of(data_dir) / name
    if not force and verify(name, data_dir, seed=seed, small=small):
        return root
    tmp = data_dir_of(data_dir) / f".{name}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    rows, files = [], {}
    for rel, img, meta in _rows(name, seed, small):
        out = tmp / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, format="PNG")
        files[rel] = sha256_file(out)
        rows.append({"path": rel, **meta})
    with open(tmp / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    manifest = {"name": name, "generator_version": GENERATOR_VERSION, "seed": seed, "small": small,
                "n_images": len(files), "metadata_sha256": sha256_file(tmp / "metadata.csv"), "files": files}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def verify(name: str, data_dir: Path | str | None = None, seed: int = 0, small: bool = False) -> bool:
    """True if ``data_dir/name`` holds exactly what the generator writes (checksums match).

    Plumbing: not taught in a notebook.
    """
    root = data_dir_of(data_dir) / name
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if (manifest.get("generator_version"), manifest.get("seed"), manifest.get("small")) != \
            (GENERATOR_VERSION, seed, small):
        return False
    if not (root / "metadata.csv").is_file() or sha256_file(root / "metadata.csv") != manifest["metadata_sha256"]:
        return False
    return all((root / rel).is_file() and sha256_file(root / rel) == digest for rel, digest in manifest["files"].items())


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_metadata(name: str, data_dir: Path | str | None = None) -> dict:
    """The rows of ``data/<name>/metadata.csv`` keyed by relative path, numbers converted.

    A row holds every generator parameter of its image, so ``synth.render_shape(row)`` (shapes) or
    ``synth.render_view(row, row)`` (catalogue) re-draws it, and changing one value changes one factor.
    Used in 00_start_here, section "3. The two datasets".
    """
    with open(data_dir_of(data_dir) / name / "metadata.csv", newline="") as f:
        return {row["path"]: {k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)}


def load_folder(root: Path | str):
    """Every image of a labelled folder ``root/<class>/<image>``.

    Returns (paths, labels, class_names): a list of Paths, an int array of shape (n_images,)
    and the sorted class names that ``labels`` index into.
    Plumbing: not taught in a notebook.
    """
    root = Path(root)
    if not root.is_dir():
        raise KitError(f"folder not found: {root} (expected {root}/<class>/<image>.jpg; "
                                f"for the embedded datasets run: python -m helpers datasets build all)")
    paths = [p for p in list_images(root) if p.parent != root]
    if not paths:
        raise KitError(f"no images found under {root}: expected {root}/<class>/<image>.jpg")
    names = [p.relative_to(root).parts[0] for p in paths]
    class_names = sorted(set(names))
    labels = np.array([class_names.index(n) for n in names])
    return paths, labels, class_names


def load_embedded(name: str, data_dir: Path | str | None = None, seed: int = 0):
    """Build dataset ``name`` if needed, then ``load_folder`` it.

    Used in 00_start_here, section "3. The two datasets".
    """
    return load_folder(build(name, data_dir, seed=seed))


def split_query_gallery(labels: np.ndarray, n_queries_per_class: int, seed: int = 0, eligible=None):
    """Seeded split: ``n_queries_per_class`` queries per class, the rest is the gallery.

    Every class keeps at least one image in the gallery, so each query has something
    relevant to find. ``eligible``: optional boolean mask (n_images,) of the images that may query
    (the catalogue's shopper photos; its clean product shots always stay in the gallery).
    Returns (query_idx, gallery_idx), sorted int arrays.
    Taught in 00_start_here, section "4. The protocol: queries and a gallery".
    """
    labels = np.asarray(labels)
    if n_queries_per_class < 1:
        raise KitError(f"n_queries_per_class must be at least 1, got {n_queries_per_class}")
    rng = np.random.default_rng(seed)
    query = []
    eligible = np.ones(len(labels), bool) if eligible is None else np.asarray(eligible, bool)
    if eligible.shape != labels.shape:
        raise KitError(f"eligible has shape {eligible.shape}, expected one flag per image {labels.shape}")
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue  # a lone image has nothing relevant to find
        allowed = members[eligible[members]]
        query.extend(rng.permutation(allowed)[:min(n_queries_per_class, len(members) - 1, len(allowed))])
    if not query:
        raise KitError("every class has a single image: need at least 2 images in some class to query")
    query = np.sort(np.array(query))
    return query, np.setdiff1d(np.arange(len(labels)), query)


PROTOCOL = {"shapes": 10, "catalogue": 1}  # queries per class; the rest is the gallery


def protocol(name: str, data_dir: Path | str | None = None, seed: int = 0) -> dict:
    """The course's evaluation protocol for an embedded dataset, the same in every notebook.

    shapes: 10 queries per class (100 queries, 1,100 gallery images, 110 relevant each);
    catalogue: one shopper photo per product (never the clean product shot ``view0``) queries the
    gallery of every other image (the product shot and 3 other shopper photos are relevant).
    Returns a dict with paths, labels, class_names, query_idx, gallery_idx, y_query, y_gallery.
    Taught in 00_start_here, section "4. The protocol: queries and a gallery".
    """
    paths, labels, class_names = load_embedded(name, data_dir, seed=seed)
    shopper = np.array([Path(p).stem != "view0" for p in paths]) if name == "catalogue" else None
    query_idx, gallery_idx = split_query_gallery(labels, PROTOCOL[name], seed=seed, eligible=shopper)
    return dict(paths=paths, labels=labels, class_names=class_names, query_idx=query_idx,
                gallery_idx=gallery_idx, y_query=labels[query_idx], y_gallery=labels[gallery_idx])


def load_torchvision(name: str, data_dir: Path | str | None = None, train: bool = False):
    """Opt-in online dataset: ``"cifar10"`` or ``"caltech101"``, downloaded once to
    ``data/downloads`` (torchvision verifies the archive's md5 checksum before use).
    Plumbing: not taught in a notebook.
    """
    import torchvision
    root = data_dir_of(data_dir) / "downloads"
    root.mkdir(parents=True, exist_ok=True)
    try:
        if name == "cifar10":
            return torchvision.datasets.CIFAR10(root, train=train, download=True)
        if name == "caltech101":
            return torchvision.datasets.Caltech101(root, download=True)
    except (OSError, RuntimeError) as err:
        raise KitError(f"could not download {name} into {root} (are you offline? {err}); "
                           f"connect to the internet or copy the archive there by hand") from None
    raise KitError(f"unknown online dataset {name!r}: choose cifar10 or caltech101")
