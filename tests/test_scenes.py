"""helpers.scenes: deterministic multi-object scenes, IoU and detection AP."""
import json

import numpy as np
import pytest

from helpers.env import KitError
from helpers.scenes import box_iou, build_scenes, detection_ap, load_scenes, make_scene
from helpers.synth import SHAPE_CLASSES


def test_a_scene_is_deterministic_with_2_to_4_non_overlapping_objects_inside_the_image():
    for i in range(12):
        image, objects = make_scene(i, seed=5)
        again, objects2 = make_scene(i, seed=5)
        assert np.array_equal(image, again) and objects == objects2
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and 2 <= len(objects) <= 4
        boxes = np.array([o["box"] for o in objects])
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        assert all(o["label"] in SHAPE_CLASSES for o in objects)
        iou = box_iou(boxes, boxes)
        assert np.allclose(np.diag(iou), 1) and (iou[~np.eye(len(boxes), dtype=bool)] == 0).all()


def test_build_is_idempotent_and_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("helpers.scenes").scenes.SPLITS, "validation", (101, 3))
    root = build_scenes("validation", tmp_path)
    first = {p.name: p.read_bytes() for p in root.iterdir()}
    assert json.loads((root / "manifest.json").read_text())["files"].keys() >= {"0000.png", "annotations.json"}
    (root / "0001.png").write_bytes(b"broken")                      # a damaged file is rebuilt
    build_scenes("validation", tmp_path)
    assert {p.name: p.read_bytes() for p in root.iterdir()} == first
    images, objects = load_scenes("validation", tmp_path)
    assert images.shape == (3, 128, 128, 3) and len(objects) == 3
    with pytest.raises(KitError, match="unknown scene split"):
        build_scenes("train", tmp_path)


def test_box_iou_by_hand_and_detection_ap():
    assert np.isclose(box_iou([0, 0, 10, 10], [5, 0, 15, 10])[0, 0], 50 / 150)
    assert box_iou([0, 0, 4, 4], [4, 4, 8, 8])[0, 0] == 0
    truths = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 30, 30], [40, 40, 50, 50]])]
    perfect = [[(0, 0, 10, 10, 0.9)], [(20, 20, 30, 30, 0.8), (40, 40, 50, 50, 0.7)]]
    assert detection_ap(perfect, truths) == pytest.approx(1.0)
    # a false positive ranked first: precision 1/2, 2/3, 3/4 at the hits
    worse = [[(60, 60, 70, 70, 0.95), (0, 0, 10, 10, 0.9)], [(20, 20, 30, 30, 0.8), (40, 40, 50, 50, 0.7)]]
    assert detection_ap(worse, truths) == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
    # a duplicate of a found box is a false positive, a missed box lowers recall
    dup = [[(0, 0, 10, 10, 0.9), (0, 0, 10, 10, 0.85)], []]
    assert detection_ap(dup, truths) == pytest.approx(1 / 3)
    with pytest.raises(KitError, match="one list per scene"):
        detection_ap([[]], truths)
