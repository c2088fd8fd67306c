"""Exercise checks of 08_explain_and_detect."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call, _has_loop, report_level

HELD_BACK_SEED = 9008      # scenes the notebook never shows: the open task is scored on them
THRESHOLDS = {"pass": 0.25, "good": 0.5, "excellent": 0.7}   # AP@0.5 on the held-back scenes



def check_pairwise(func) -> None:
    """Exercise of 08_explain_and_detect: the (H*W, H'*W') matrix of position-to-position contributions."""
    from helpers.explain import similarity_maps
    rng = np.random.default_rng(8)
    Fq, Fr = rng.random((6, 3, 4)) * 2, rng.random((6, 5, 2))
    P = np.asarray(_call(func, Fq.copy(), Fr.copy()), dtype=float)
    if P.shape != (12, 10):
        if P.shape == (10, 12):
            raise ExerciseError("rows should be the query's positions, columns the result's: you swapped them")
        raise ExerciseError(f"expected shape (H*W, H'*W') = (12, 10) for maps of 3x4 and 5x2 positions, got {P.shape}")
    fq, fr = Fq.mean(axis=(1, 2)), Fr.mean(axis=(1, 2))
    cos = fq @ fr / np.linalg.norm(fq) / np.linalg.norm(fr)
    raw = Fq.reshape(6, -1).T @ Fr.reshape(6, -1)
    if np.allclose(P, raw) or np.allclose(P, raw / raw.sum()):
        raise ExerciseError("the entries must sum to the cosine similarity: divide the dot products by the number "
                            "of positions of both maps and by the norms of the two pooled vectors")
    if np.isclose(P.sum(), cos * 12 * 10) or np.isclose(P.sum(), cos * 12) or np.isclose(P.sum(), cos * 10):
        raise ExerciseError("the sum is a multiple of the cosine: average over positions (divide by H*W and by "
                            "H'*W'), do not just sum")
    if not np.isclose(P.sum(), cos):
        raise ExerciseError(f"the entries sum to {P.sum():.4f}, not to the cosine similarity of the pooled features")
    Mq, Mr = similarity_maps(Fq, Fr)
    if not (np.allclose(P.sum(axis=1), Mq.ravel()) and np.allclose(P.sum(axis=0), Mr.ravel())):
        raise ExerciseError("the sum is right but the positions are scrambled: flatten each map as "
                            "maps.reshape(C, -1) so that row-major position order is kept")
    if _has_loop(func):
        raise ExerciseError("the values are right, but use no Python loop or comprehension: with both maps "
                            "flattened to (C, positions), one matrix product gives every pair at once")
    print("Correct: the pairwise contributions sum to the cosine, and their row and column sums are the two maps.")


def check_nms(func) -> None:
    """Exercise of 08_explain_and_detect: greedy non-maximum suppression, like torchvision.ops.nms."""
    import torch
    from torchvision.ops import nms as reference
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [5, 5, 15, 15], [20, 20, 30, 30],
                      [0, 0, 10, 9], [21, 20, 31, 30], [2, 0, 12, 10]], float)
    scores = np.array([0.9, 0.8, 0.95, 0.3, 0.6, 0.5, 0.7])
    out = np.asarray(_call(func, boxes.copy(), scores.copy(), 0.5)).astype(int).ravel()
    want = reference(torch.tensor(boxes), torch.tensor(scores), 0.5).numpy()
    if np.array_equal(np.sort(out), np.sort(want)) and not np.array_equal(out, want):
        raise ExerciseError("the right boxes are kept but not in order: return them by decreasing score")
    if np.array_equal(out, np.argsort(-scores)):
        raise ExerciseError("nothing was suppressed: drop every box whose IoU with a kept, higher-scoring box "
                            "exceeds the threshold")
    # a chain: A overlaps B, B overlaps C, A does not overlap C -> C survives because B was suppressed
    chain = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], float)
    got = np.asarray(_call(func, chain, np.array([0.9, 0.8, 0.7]), 0.3)).astype(int).ravel()
    if list(got) == [0]:
        raise ExerciseError("a box was suppressed by a box that had already been suppressed: compare each box "
                            "only with the boxes you kept")
    if not np.array_equal(out, want) or list(got) != [0, 2]:
        raise ExerciseError("wrong boxes kept: take boxes by decreasing score; keep one unless its IoU with a kept "
                            "box is above the threshold (areas are (x1 - x0) * (y1 - y0), no + 1)")
    print("Correct: your non-maximum suppression agrees with torchvision.ops.nms.")


def held_back_scenes(n: int = 40, size: int = 128):
    """The scenes the open task is scored on: (images (n, size, size, 3), true boxes per scene)."""
    from helpers.scenes import make_scene
    scenes = [make_scene(i, HELD_BACK_SEED, size) for i in range(n)]
    return np.stack([s[0] for s in scenes]), [np.array([o["box"] for o in s[1]]) for s in scenes]


def check_localiser(func, n: int = 40) -> float:
    """Open task of 08_explain_and_detect: AP@0.5 of a localiser on held-back scenes; returns the AP."""
    from helpers.scenes import detection_ap
    images, truths = held_back_scenes(n)
    detections = []
    for image in images:
        dets = _call(func, image.copy())
        try:
            dets = [tuple(float(v) for v in d) for d in dets]
        except (TypeError, ValueError):
            raise ExerciseError("return a list of (x0, y0, x1, y1, score) tuples, one per object found") from None
        if any(len(d) != 5 for d in dets):
            raise ExerciseError("each detection needs 5 numbers: x0, y0, x1, y1, score")
        if any(d[2] <= d[0] or d[3] <= d[1] for d in dets):
            raise ExerciseError("a box has x1 <= x0 or y1 <= y0: boxes are corners [x0, y0, x1, y1], not width and height")
        detections.append(dets)
    boxes = np.array([d[:4] for ds in detections for d in ds]).reshape(-1, 4)
    if len(boxes) and boxes.max() <= 1.0:
        raise ExerciseError("boxes must be in pixels of the 128 x 128 image, not fractions of it")
    ap = detection_ap(detections, truths)
    return report_level(ap, THRESHOLDS, f"AP@0.5 on {n} held-back scenes you never saw",
                        "look at your boxes on the validation scenes (too big? too many? scores meaningless?)")
