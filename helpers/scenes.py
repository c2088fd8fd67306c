"""Multi-object scenes for detection and region-based retrieval: 2-4 shapes on a photo background.

Every scene is a pure function of (split seed, index): the generator draws the objects with the shapes
dataset's own drawing code (``helpers.synth``) and records each object's class and box. ``build_scenes``
writes a split once to ``data/scenes/<split>/`` (PNG files, ``annotations.json``, ``manifest.json`` with a
sha256 per file) and re-uses it while the checksums match, like the embedded datasets.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.env import KitError, data_dir as data_dir_of
from helpers.store import sha256_file
from helpers.synth import PHOTOS, PREFERRED_HUE, SHAPE_CLASSES, SUPER, _rgb, object_mask, photo

SCENE_VERSION = 1
SPLITS = {"validation": (101, 30), "test": (102, 60), "query": (103, 20)}   # split: (seed, n_scenes)


def make_scene(index: int, seed: int = 0, size: int = 128):
    """Draw scene ``index``: returns (image uint8 (size, size, 3), objects).

    ``objects``: a list of dicts with ``label`` (a shapes class) and ``box`` [x0, y0, x1, y1] in pixels
    (x1, y1 exclusive: width = x1 - x0). Objects do not overlap; colour follows the class's preferred hue
    80 % of the time, as in the shapes dataset.
    Used in 08_explain_and_detect, section "4. Where is the object? Detection from class activation maps".
    """
    rng = np.random.default_rng([seed, 5000, index])
    S = size * SUPER
    img = photo(PHOTOS[rng.integers(len(PHOTOS))])
    side = int(min(img.shape[:2]) * rng.uniform(0.4, 0.7))
    y0, x0 = rng.integers(0, img.shape[0] - side + 1), rng.integers(0, img.shape[1] - side + 1)
    arr = np.array(Image.fromarray(img[y0:y0 + side, x0:x0 + side]).resize((S, S), Image.BILINEAR), float)
    objects, taken = [], []
    n_objects = int(rng.integers(2, 5))
    for _ in range(200):
        if len(objects) == n_objects:
            break
        label = SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))]
        r = rng.uniform(0.11, 0.15) * S
        cx, cy = rng.uniform(r + 2, S - r - 2, size=2)
        if any(abs(cx - ox) < r + orr + 4 * SUPER and abs(cy - oy) < r + orr + 4 * SUPER for ox, oy, orr in taken):
            continue
        hue = PREFERRED_HUE[label] + rng.normal(0, 0.015) if rng.random() < 0.8 else rng.random()
        colour = _rgb(hue, rng.uniform(0.75, 1.0), rng.uniform(0.8, 1.0))
        w0, h0 = int(cx - r) - 2, int(cy - r) - 2                      # draw in a window around the object only
        w = int(2 * r) + 5
        alpha = np.asarray(object_mask(label, w, cx - w0, cy - h0, r, rng.uniform(0, 360)), float)[..., None] / 255
        win = arr[h0:h0 + w, w0:w0 + w]
        alpha = alpha[:win.shape[0], :win.shape[1]]
        arr[h0:h0 + w, w0:w0 + w] = win * (1 - alpha) + colour * alpha
        ys, xs = np.nonzero(alpha[..., 0] > 0.5)
        ys, xs = ys + h0, xs + w0
        objects.append({"label": label, "box": [int(xs.min()) // SUPER, int(ys.min()) // SUPER,
                                                 -(-(int(xs.max()) + 1) // SUPER), -(-(int(ys.max()) + 1) // SUPER)]})
        taken.append((cx, cy, r))
    small = np.asarray(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).resize((size, size), Image.BOX), float)
    small = small + rng.normal(0, 3, small.shape)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8), objects


def build_scenes(split: str, data_dir: Path | str | None = None, size: int = 128) -> Path:
    """Write scene split ``split`` ("validation", "test" or "query") to ``data/scenes/<split>/`` unless a
    verified copy is there; building twice gives byte-identical files. Returns the folder.
    Plumbing: not taught in a notebook.
    """
    if split not in SPLITS:
        raise KitError(f"unknown scene split {split!r}: choose one of {', '.join(SPLITS)}")
    root = data_dir_of(data_dir) / "scenes" / split
    seed, n = SPLITS[split]
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        if manifest["version"] == SCENE_VERSION and manifest["size"] == size and all(
                sha256_file(root / rel) == digest for rel, digest in manifest["files"].items()):
            return root
    except (OSError, ValueError, KeyError):
        pass
    tmp = root.with_name(f".{split}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    annotations = []
    for i in range(n):
        image, objects = make_scene(i, seed, size)
        Image.fromarray(image).save(tmp / f"{i:04d}.png", format="PNG")
        annotations.append({"file": f"{i:04d}.png", "objects": objects})
    (tmp / "annotations.json").write_text(json.dumps(annotations, indent=1) + "\n")
    files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    (tmp / "manifest.json").write_text(json.dumps({"version": SCENE_VERSION, "split": split, "seed": seed,
                                                   "size": size, "files": files}, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def load_scenes(split: str, data_dir: Path | str | None = None, size: int = 128):
    """Build split ``split`` if needed and load it: (images, objects).

    ``images``: uint8 array (n_scenes, size, size, 3); ``objects``: one list of {label, box} per scene.
    Used in 08_explain_and_detect, section "4. Where is the object? Detection from class activation maps".
    """
    root = build_scenes(split, data_dir, size)
    annotations = json.loads((root / "annotations.json").read_text())
    images = np.stack([np.asarray(Image.open(root / a["file"]).convert("RGB")) for a in annotations])
    return images, [a["objects"] for a in annotations]


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of boxes ``a`` (n, 4) and ``b`` (m, 4), [x0, y0, x1, y1] with x1, y1 exclusive.

    Returns an array of shape (n, m).
    Taught in 08_explain_and_detect, section "4. Where is the object? Detection from class activation maps".
    """
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy                                                   # (n, m)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def detection_ap(detections, truths, iou_threshold: float = 0.5) -> float:
    """Average precision of class-agnostic detections over a set of scenes (AP@0.5 by default).

    ``detections``: per scene a list of (x0, y0, x1, y1, score); ``truths``: per scene an array (n_objects, 4)
    of true boxes. Detections are taken by decreasing score over all scenes; one is a hit if it overlaps a
    not-yet-found true box by IoU >= ``iou_threshold``. AP = mean precision at each hit, over all true boxes.
    Used in 08_explain_and_detect, section "4. Where is the object? Detection from class activation maps".
    """
    if len(detections) != len(truths):
        raise KitError(f"got detections for {len(detections)} scenes but truths for {len(truths)}: one list per scene")
    rows = [(float(d[4]), s, np.asarray(d[:4], float)) for s, ds in enumerate(detections) for d in ds]
    rows.sort(key=lambda r: -r[0])
    found = [np.zeros(len(t), bool) for t in truths]
    hits = np.zeros(len(rows), bool)
    for i, (_, s, box) in enumerate(rows):
        if len(truths[s]) == 0:
            continue
        iou = box_iou(box, truths[s])[0]
        iou[found[s]] = -1
        j = int(np.argmax(iou))
        if iou[j] >= iou_threshold:
            found[s][j] = hits[i] = True
    n_true = sum(len(t) for t in truths)
    if n_true == 0:
        raise KitError("no true boxes to find: AP is undefined")
    precision = np.cumsum(hits) / np.arange(1, len(rows) + 1)
    return float(precision[hits].sum() / n_true)
