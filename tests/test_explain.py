"""helpers.explain (similarity maps), the retrieval grid's map overlay, and the exercise checks of 08."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers.env import KitError
from helpers.exercises import ExerciseError
from helpers.exercises import nb08_explain_and_detect as ex
from helpers.explain import rank_correlation, similarity_maps, upsample
from helpers.plotting import retrieval_grid


def cosine_of_pooled(Fq, Fr):
    fq, fr = Fq.mean(axis=(1, 2)), Fr.mean(axis=(1, 2))
    return fq @ fr / np.linalg.norm(fq) / np.linalg.norm(fr)


def test_maps_sum_to_the_cosine_of_pooled_features_for_any_sizes_and_signs():
    rng = np.random.default_rng(0)
    for shape_q, shape_r in [((7, 3, 3), (7, 5, 2)), ((32, 1, 1), (32, 4, 4)), ((5, 6, 6), (5, 6, 6))]:
        Fq, Fr = rng.standard_normal(shape_q), rng.standard_normal(shape_r)
        Mq, Mr = similarity_maps(Fq, Fr)
        assert Mq.shape == shape_q[1:] and Mr.shape == shape_r[1:]
        assert np.isclose(Mq.sum(), cosine_of_pooled(Fq, Fr)) and np.isclose(Mr.sum(), cosine_of_pooled(Fq, Fr))


def test_maps_accept_tensors_and_match_a_direct_per_position_computation():
    g = torch.Generator().manual_seed(0)
    Fq, Fr = torch.rand(6, 2, 3, generator=g), torch.rand(6, 4, 1, generator=g)
    Mq, Mr = similarity_maps(Fq, Fr)
    fq, fr = Fq.mean(dim=(1, 2)), Fr.mean(dim=(1, 2))
    norm = float(fq.norm() * fr.norm())
    direct = np.array([[float(Fq[:, i, j] @ fr) / (6 * norm) for j in range(3)] for i in range(2)])
    assert isinstance(Mq, np.ndarray) and np.allclose(Mq, direct)
    assert np.isclose(Mr.sum(), Mq.sum())


def test_the_pretrained_networks_real_maps_sum_to_the_cosine():
    from helpers.backbones import load_backbone
    from helpers.features import feature_maps
    model, _ = load_backbone("efficientnet_lite0")
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        maps = feature_maps(model, x)                                   # (2, 1280, 3, 3)
        pooled = model(x)                                               # the network's own GAP output
    Mq, Mr = similarity_maps(maps[0], maps[1])
    cos = float(torch.nn.functional.cosine_similarity(pooled[0], pooled[1], dim=0))
    assert abs(Mq.sum() - cos) < 1e-5 and abs(Mr.sum() - cos) < 1e-5


def test_bad_inputs_raise_one_sentence_errors():
    with pytest.raises(KitError, match="channels"):
        similarity_maps(np.ones((3, 2, 2)), np.ones((4, 2, 2)))
    with pytest.raises(KitError, match=r"\(C, H, W\)"):
        similarity_maps(np.ones((1, 3, 2, 2)), np.ones((3, 2, 2)))
    with pytest.raises(KitError, match="all zeros"):
        similarity_maps(np.zeros((3, 2, 2)), np.ones((3, 2, 2)))
    with pytest.raises(KitError, match="different sizes"):
        rank_correlation(np.ones(4), np.ones(5))


def test_upsample_keeps_the_mass_and_rank_correlation_of_a_map_with_itself_is_one():
    heat = np.arange(9.0).reshape(3, 3)
    assert upsample(heat, (30, 30)).shape == (30, 30) and np.isclose(upsample(heat, (30, 30)).sum(), heat.sum())
    assert np.isclose(rank_correlation(heat, heat), 1.0) and np.isclose(rank_correlation(heat, -heat), -1.0)


def test_retrieval_grid_overlays_maps_and_keeps_its_old_behaviour():
    img = np.zeros((8, 8, 3), np.uint8)
    plain = retrieval_grid(img, [img, img], [0.9, 0.5], [True, False])
    assert all(len(ax.images) == 1 for ax in plain)
    with_maps = retrieval_grid(img, [img, img], [0.9, 0.5], [True, False],
                               maps=(np.ones((2, 2)), [np.ones((2, 2)), np.eye(2)]))
    assert all(len(ax.images) == 2 for ax in with_maps)
    with pytest.raises(ValueError, match="one per result"):
        retrieval_grid(img, [img, img], [0.9, 0.5], [True, False], maps=(np.ones((2, 2)), [np.ones((2, 2))]))
    plt.close("all")


# ---- exercise checks: the solution passes, the stub is "not answered yet", typical mistakes get their message
def stub(*args):
    raise NotImplementedError()


def pairwise_ok(Fq, Fr):
    C = Fq.shape[0]
    A, B = Fq.reshape(C, -1), Fr.reshape(C, -1)
    return A.T @ B / (A.shape[1] * B.shape[1] * np.linalg.norm(A.mean(1)) * np.linalg.norm(B.mean(1)))


def pairwise_loop(Fq, Fr):                  # right values, but one Python loop over the query's positions
    C = Fq.shape[0]
    A, B = Fq.reshape(C, -1), Fr.reshape(C, -1)
    P = np.zeros((A.shape[1], B.shape[1]))
    for i in range(A.shape[1]):
        P[i] = A[:, i] @ B
    return P / (A.shape[1] * B.shape[1] * np.linalg.norm(A.mean(1)) * np.linalg.norm(B.mean(1)))


def test_check_pairwise(capsys):
    ex.check_pairwise(pairwise_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_pairwise(stub)
    with pytest.raises(ExerciseError, match="divide the dot products"):      # unnormalised
        ex.check_pairwise(lambda Fq, Fr: Fq.reshape(6, -1).T @ Fr.reshape(6, -1))
    with pytest.raises(ExerciseError, match="multiple of the cosine"):        # summed instead of averaged
        ex.check_pairwise(lambda Fq, Fr: pairwise_ok(Fq, Fr) * Fq[0].size * Fr[0].size)
    with pytest.raises(ExerciseError, match="swapped"):
        ex.check_pairwise(lambda Fq, Fr: pairwise_ok(Fq, Fr).T)
    with pytest.raises(ExerciseError, match="scrambled"):                     # column-major flattening
        ex.check_pairwise(lambda Fq, Fr: pairwise_ok(Fq.transpose(0, 2, 1), Fr.transpose(0, 2, 1)))
    with pytest.raises(ExerciseError, match="no Python loop"):
        ex.check_pairwise(pairwise_loop)


def iou1(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def nms_ok(boxes, scores, t):
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou1(boxes[i], boxes[j]) <= t for j in keep):
            keep.append(int(i))
    return np.array(keep)


def nms_against_all(boxes, scores, t):      # suppresses with boxes that were themselves suppressed
    order = np.argsort(-scores)
    return np.array([i for n, i in enumerate(order) if all(iou1(boxes[i], boxes[j]) <= t for j in order[:n])])


def test_check_nms(capsys):
    ex.check_nms(nms_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_nms(stub)
    with pytest.raises(ExerciseError, match="not in order"):
        ex.check_nms(lambda b, s, t: np.sort(nms_ok(b, s, t)))
    with pytest.raises(ExerciseError, match="already been suppressed"):
        ex.check_nms(nms_against_all)
    with pytest.raises(ExerciseError, match="nothing was suppressed"):
        ex.check_nms(lambda b, s, t: np.argsort(-s))


def test_check_localiser_grades_on_held_back_scenes(capsys):
    images, truths = ex.held_back_scenes(6)
    oracle = iter([[(*box, 1.0) for box in t] for t in truths])
    assert ex.check_localiser(lambda image: next(oracle), n=6) == pytest.approx(1.0)
    assert "excellent" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_localiser(stub, n=6)
    with pytest.raises(ExerciseError, match="below the pass mark"):          # one box around the whole scene
        ex.check_localiser(lambda image: [(0, 0, 128, 128, 1.0)], n=6)
    with pytest.raises(ExerciseError, match="in pixels"):                     # boxes as fractions of the image
        ex.check_localiser(lambda image: [(0.1, 0.1, 0.3, 0.3, 1.0)], n=6)
    with pytest.raises(ExerciseError, match="not width and height"):          # (x, y, w, h) with small w, h
        ex.check_localiser(lambda image: [(60, 60, 20, 20, 1.0)], n=6)
