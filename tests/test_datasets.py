import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.env import KitError
from helpers import datasets, synth


def test_small_build_is_byte_identical_and_verified(tmp_path):
    a = datasets.build("shapes", tmp_path / "a", small=True)
    b = datasets.build("shapes", tmp_path / "b", small=True)
    ma, mb = (json.loads((r / "manifest.json").read_text()) for r in (a, b))
    assert ma["files"] == mb["files"] and ma["n_images"] == 60
    assert all((a / rel).read_bytes() == (b / rel).read_bytes() for rel in ma["files"])
    assert datasets.verify("shapes", tmp_path / "a", small=True)


def test_tampered_dataset_fails_verification_and_is_rebuilt(tmp_path):
    root = datasets.build("catalogue", tmp_path, small=True)
    first = sorted(root.rglob("*.png"))[0]
    original = first.read_bytes()
    Image.new("RGB", (8, 8)).save(first)
    assert not datasets.verify("catalogue", tmp_path, small=True)
    datasets.build("catalogue", tmp_path, small=True)
    assert first.read_bytes() == original


def test_metadata_records_every_nuisance_factor_and_rerenders_exactly(tmp_path):
    root = datasets.build("shapes", tmp_path, small=True)
    rows = list(csv.DictReader(open(root / "metadata.csv")))
    assert {"label", "hue", "rotation", "scale", "brightness", "occlusion", "background"} <= set(rows[0])
    params = synth.sample_shape_params(0)
    assert np.array_equal(np.asarray(synth.render_shape(params)), np.asarray(Image.open(root / rows[0]["path"])))
    meta = datasets.read_metadata("shapes", tmp_path)
    row = meta[rows[5]["path"]]
    assert isinstance(row["rotation"], float) and isinstance(row["noise_seed"], int)
    assert np.array_equal(np.asarray(synth.render_shape(row)), np.asarray(Image.open(root / row["path"])))


def test_catalogue_rows_rerender_exactly(tmp_path):
    root = datasets.build("catalogue", tmp_path, small=True)
    for rel, row in list(datasets.read_metadata("catalogue", tmp_path).items())[:6]:
        assert np.array_equal(np.asarray(synth.render_view(row, row)), np.asarray(Image.open(root / rel)))


def test_protocol_is_the_same_split_everywhere(tmp_path):
    a = datasets.protocol("catalogue", tmp_path)
    b = datasets.protocol("catalogue", tmp_path)
    assert np.array_equal(a["query_idx"], b["query_idx"]) and len(a["query_idx"]) == 69
    assert len(a["gallery_idx"]) == 4 * 69 and np.array_equal(a["y_query"], a["labels"][a["query_idx"]])


def test_colour_is_partly_informative_of_class():
    hues = np.array([synth.sample_shape_params(i)["hue"] for i in range(400)])
    labels = np.arange(400) % 10
    near = np.abs(((hues - np.array([synth.PREFERRED_HUE[synth.SHAPE_CLASSES[c]] for c in labels])) + .5) % 1 - .5) < .1
    assert 0.6 < near.mean() < 0.95  # informative, yet one image in five or more has another colour


def test_catalogue_items_are_real_photo_crops_with_views(tmp_path):
    root = datasets.build("catalogue", tmp_path, small=True)
    paths, labels, names = datasets.load_folder(root)
    assert len(names) == len(synth.PHOTOS) and len(paths) == 5 * len(names)
    assert np.bincount(labels).tolist() == [5] * len(names)
    img = np.asarray(Image.open(paths[0]))
    assert img.shape == (128, 128, 3) and img.std() > 10


def test_catalogue_products_are_distinct_objects_and_enough_for_stable_numbers():
    items = synth.catalogue_items()
    assert len(items) >= 60 and len({i["item"] for i in items}) == len(items)
    worst = max(synth.crop_iou(a, b) for k, a in enumerate(items) for b in items[k + 1:])
    assert worst < 0.3, f"two products are crops of the same region (IoU {worst:.2f})"
    assert synth.crop_iou(dict(photo="a", x=0, y=0, side=10), dict(photo="a", x=5, y=0, side=10)) == 50 / 150


def test_catalogue_queries_are_shopper_photos_and_product_shots_stay_in_the_gallery(tmp_path):
    datasets.build("catalogue", tmp_path, small=True)
    _, labels, _ = datasets.load_embedded("catalogue", tmp_path)
    p = datasets.protocol("catalogue", tmp_path)
    assert len(p["query_idx"]) == len(set(labels.tolist()))             # one query per product
    assert all(Path(p["paths"][i]).stem != "view0" for i in p["query_idx"])
    assert {Path(p["paths"][i]).stem for i in p["gallery_idx"]} >= {"view0"}
    with pytest.raises(ValueError, match="eligible"):
        datasets.split_query_gallery(np.array([0, 0]), 1, eligible=[True])


def test_load_folder_errors_are_clear(tmp_path):
    with pytest.raises(KitError, match="folder not found"):
        datasets.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        datasets.load_folder(tmp_path / "empty")


def test_split_query_gallery_is_seeded_and_keeps_a_relevant_item():
    labels = np.array([0] * 5 + [1] * 2 + [2])
    q1, g1 = datasets.split_query_gallery(labels, 3, seed=0)
    q2, g2 = datasets.split_query_gallery(labels, 3, seed=0)
    assert np.array_equal(q1, q2) and np.array_equal(g1, g2)
    assert sorted(np.concatenate([q1, g1])) == list(range(8))
    for q in q1:
        assert (labels[g1] == labels[q]).any()
    assert 7 in g1  # the lone image of class 2 is never a query
    with pytest.raises(ValueError):
        datasets.split_query_gallery(np.array([0, 1, 2]), 1)


def test_unknown_dataset_and_offline_download_fail_clearly(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.build("mnist", tmp_path)
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(KitError, match="could not download cifar10"):
        datasets.load_torchvision("cifar10", tmp_path)
